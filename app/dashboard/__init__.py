"""A live web dashboard of the chain and its AI network, served by the node on its own port.

Parts: `web` (the page and its static files under /dashboard), `rpc` (the
read-only `dashboard_*` methods and the `synergy_dashboard` WebSocket feed),
`chainview` (chain reads on the chain thread), `decode` (ABI decoding),
`monitor` (the sampling thread and its events), `history` (ring buffers),
`sources` (the interface a bridge status source implements).
"""
from __future__ import annotations

from typing import Any

from app.dashboard.monitor import Monitor


def get_monitor(node: Any) -> Monitor:
    m = node.dashboard_monitor  # declared on Node, read through the API's typed property too
    if m is None:
        m = node.dashboard_monitor = Monitor(node)
    return m


def install(app: Any, node: Any) -> None:
    """Add the dashboard's routes to the node's aiohttp app; its monitor runs while the app does."""
    from app.dashboard import rpc  # noqa: F401  (registers the dashboard_* methods)
    from app.dashboard.web import add_routes

    add_routes(app)
    m = get_monitor(node)

    async def start(app_) -> None:
        import asyncio

        m.start(asyncio.get_running_loop())

    async def stop(app_) -> None:
        m.stop()

    app.on_startup.append(start)
    app.on_cleanup.append(stop)
