"""The AIVM node: chain adapter over py-evm, on-disk store, JSON-RPC server, CLI."""
