"""What the aiohttp application holds, as typed keys (aiohttp warns on string keys): set by the server,
read by its handlers and by the routes mounted beside JSON-RPC (the chat API)."""
from aiohttp import web

NODE = web.AppKey("node", object)  # the Node
API = web.AppKey("api", object)  # the NodeApi every JSON-RPC handler receives (vm/api.py)
WEBSOCKETS = web.AppKey("websockets", set)  # open sockets, closed on shutdown
