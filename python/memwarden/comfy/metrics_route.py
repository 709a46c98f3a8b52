"""``GET /memwarden/metrics`` on ComfyUI's own server: Prometheus text of ComfyUI's
machine, container and GPUs, with ComfyUI itself as the inspected process
(``memwarden_process_*``). The same series as ``memwarden serve`` (docs/metrics.md).

Added to ``PromptServer.instance.routes`` when the node pack loads (ComfyUI also
serves it under ``/api``). GET only (other methods get 405 from aiohttp); read-only:
a scrape takes one snapshot on a worker thread and changes nothing. The format is
the classic text 0.0.4, or OpenMetrics when the ``Accept`` header asks for it, as
Prometheus does.

Cleanup and leak series (``memwarden_cleanups_total``,
``memwarden_cleanup_reclaimed_bytes_total``, ``memwarden_leak_slope_bytes_per_prompt``)
come from whatever part of the pack keeps that history: it hands a function to
:func:`set_activity_provider` returning the dict ``memwarden.metrics_text`` takes
(``{"cleanups": [{"action", "trigger", "count", "reclaimed_bytes"}, ...],
"leak_slope_bytes_per_prompt": float | None}``). Without one those series are
left out, never written as zeros.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Callable, Optional

from .. import _native
from . import host

if TYPE_CHECKING:
    from aiohttp import web

ROUTE = "/memwarden/metrics"

ActivityProvider = Callable[[], Optional[Mapping[str, Any]]]

_state: dict[str, Any] = {"provider": None, "registered": False}


def set_activity_provider(provider: ActivityProvider | None) -> None:
    """Set (or with None, remove) the function giving the cleanup and leak figures."""
    _state["provider"] = provider


def metrics(accept: str | None = None) -> tuple[str, str]:
    """The text of one scrape and its content type, for an ``Accept`` header."""
    provider: ActivityProvider | None = _state["provider"]
    activity = provider() if provider is not None else None
    text = _native.metrics_text(None, activity, accept=accept)
    return text, _native.metrics_content_type(accept)


async def handle(request: web.Request) -> web.Response:
    """The route's handler: the snapshot is taken off the event loop."""
    from aiohttp import web

    loop = asyncio.get_running_loop()
    text, content_type = await loop.run_in_executor(None, metrics, request.headers.get("Accept"))
    return web.Response(body=text.encode(), headers={"Content-Type": content_type})


def register(server: Any | None = None) -> bool:
    """Add the route to ComfyUI's server (``PromptServer.instance`` by default) once.
    False outside ComfyUI, where there is no server to add it to."""
    if _state["registered"]:
        return True
    if server is None:
        server = host.server()
        if server is None:
            return False
    # route("GET") adds GET alone (get() would add HEAD too), and with no keyword
    # arguments, which ComfyUI copies to its /api twin of every route.
    server.routes.route("GET", ROUTE)(handle)
    _state["registered"] = True
    return True
