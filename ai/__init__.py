"""The AI layer: the distributed inference scheduler, the AI service a node runs, the validator process.

The model code it runs is the `models` package, below it (tests/test_layering.py)."""
