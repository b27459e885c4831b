"""AI chat on the chain: an OpenAI-compatible API answered by the validator quorum, and `aivm chat`.

- ``api``: the aiohttp routes under ``/v1/`` on the node's port (``[aivm] enable_ai_chat``).
- ``request``: an OpenAI request body -> ``ChatParams`` (a text request plus API options).
- ``jobs``: one quorum computation per distinct request (idempotency keys, in-flight dedupe,
  who pays), and the text agreed so far.
- ``errors``: errors in OpenAI's shape, mapped in one place.
- ``cli``, ``tools``: the terminal chat and the chain operations it offers.
"""
