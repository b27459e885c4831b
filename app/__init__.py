"""The application: the JSON-RPC server and its namespaces (`rpc/`), the `aivm` command (`cli.py`), the
OpenAI-compatible chat API and `aivm chat` (`chat/`), the web dashboard (`dashboard/`).

It composes the node (`vm`), the AI service (`ai`) and the bridge (`bridge`); nothing below it imports it
(tests/test_layering.py).
"""
