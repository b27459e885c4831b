"""The page: GET /dashboard serves one HTML file, its script, styles and vendored Chart.js.

Everything comes from files under app/dashboard/static (no CDN, works offline).
The Content-Security-Policy lets the page load only from this node and talk
only to this node (HTTP JSON-RPC and its WebSocket), so nothing can be
pulled in from elsewhere even by mistake.
"""
from __future__ import annotations

from pathlib import Path

from aiohttp import web

STATIC = Path(__file__).resolve().parent / "static"
PATH = "/dashboard"


def _csp(request: web.Request) -> str:
    host = request.host
    return ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            f"connect-src 'self' ws://{host} wss://{host}; base-uri 'none'; form-action 'none'; "
            "frame-ancestors 'none'")


async def _index(request: web.Request) -> web.Response:
    return web.Response(body=(STATIC / "index.html").read_bytes(), content_type="text/html", charset="utf-8",
                        headers={"Content-Security-Policy": _csp(request), "Cache-Control": "no-cache",
                                 "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"})


async def _redirect(request: web.Request) -> web.Response:
    raise web.HTTPFound(PATH + "/")


def add_routes(app: web.Application) -> None:
    app.router.add_get(PATH, _redirect)
    app.router.add_get(PATH + "/", _index)
    app.router.add_static(PATH + "/static", STATIC, append_version=False)


def url(host: str, port: int) -> str:
    return f"http://{host}:{port}{PATH}/"
