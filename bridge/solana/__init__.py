"""The Solana end of the bridge: a local LiteSVM chain (server.py) and the SPL multisig mints (client.py)."""
