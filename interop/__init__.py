"""The cross-chain message core, with no node behind it: the message and its digest (`message.py`), guardian
sets weighted by stake (`guardians.py`), certificate and delivery checks (`verify.py`), and the lanes' config
schema (`config.py`).

The bridge precompile (precompiles/bridge.py), the node's config and the bridge services (`bridge/`) all read
it, so it sits below all three.
"""
