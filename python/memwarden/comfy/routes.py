"""memwarden's routes on ComfyUI's own server and the live feed of its panel.

Routes (added to ``PromptServer.instance.routes`` when the node pack loads, once;
ComfyUI also serves each under ``/api``):

- ``GET  /memwarden/snapshot``: a snapshot taken now, as ``memwarden check --json``
  without the process list and without the command lines of the processes holding
  GPU memory (``snapshot``), the status line's figures (``status``), the figures the
  panel shows (``figures``) and the feed's sections (``sections``).
- ``POST /memwarden/cleanup`` ``{"mode": "balanced"}``: the cleanup pipeline of the
  nodes (:func:`memwarden.cleanup.cleanup`: the mode table, the swap check), run on a
  worker thread, one at a time (409 while one runs); the report's text and dict.
- ``GET  /memwarden/feed/config``, ``POST /memwarden/feed/config``
  ``{"client_id": ..., "interval_s": 1.0, "enabled": true}``: a page subscribes its
  websocket client to the feed, at its rate.
- ``GET  /memwarden/chart``: memory over the current or last prompt, with node starts.

Who may call them: whoever may call ComfyUI's own routes (``/prompt``, ``/free``,
which unloads models too). ComfyUI listens where its user chose (``--listen``) and
guards browsers' cross-origin requests with its origin middleware; the pack adds no
other rule of its own.

The feed samples only while at least one subscribed page is connected to ComfyUI's
websocket: no page, no sampling. Each sample is sent as ``memwarden.status`` with
``send_sync`` to the subscribed clients.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from .. import _native, guard
from ..cleanup import cleanup, raised
from . import hooks, host

if TYPE_CHECKING:
    from aiohttp import web

log = logging.getLogger("memwarden")

FEED_EVENT = "memwarden.status"
MIN_INTERVAL_S = _native.FEED_MIN_INTERVAL_S
MAX_INTERVAL_S = _native.FEED_MAX_INTERVAL_S
DEFAULT_INTERVAL_S = _native.FEED_DEFAULT_INTERVAL_S
#: Sections the page knows; one without a provider shows "not running".
SECTIONS = ("cleanups", "guard", "leak")
MODES = ("monitor", "conservative", "balanced", "aggressive")
TRACE_SAMPLES = 3600
RECENT_SAMPLES = 300
RAM_KEYS = ("total_bytes", "used_bytes", "available_bytes", "percent_used", "source", "reason")


# --- feed sections -----------------------------------------------------------------

_providers: dict[str, Callable[[], Any]] = {}
_providers_lock = threading.Lock()


def register_feed_provider(name: str, fn: Callable[[], Any]) -> Callable[[], None]:
    """Fill the feed's section ``name`` with what ``fn()`` returns (JSON-able), at
    each sample; replaces an earlier provider of that name. Returns a function that
    removes it again."""
    if not isinstance(name, str) or not name.strip():
        raise _native.invalid_input(f"feed section name must be a non-empty string, got {name!r}")
    if not callable(fn):
        raise _native.invalid_input(f"feed provider for {name!r} must be callable, got {fn!r}")
    with _providers_lock:
        _providers[name] = fn

    def unregister() -> None:
        with _providers_lock:
            if _providers.get(name) is fn:
                del _providers[name]

    return unregister


def feed_sections() -> dict[str, dict[str, Any]]:
    """Every section: ``{"running": True, "data": ...}`` from its provider,
    ``{"running": True, "error": ...}`` when the provider failed, or
    ``{"running": False}`` when nothing provides it or its provider returns None
    (e.g. no leak detector attached yet)."""
    with _providers_lock:
        providers = dict(_providers)
    out: dict[str, dict[str, Any]] = {}
    for name in sorted({*SECTIONS, *providers}):
        fn = providers.get(name)
        if fn is None:
            out[name] = {"running": False}
            continue
        try:
            data = fn()
            out[name] = {"running": False} if data is None else {"running": True, "data": data}
        except Exception as e:  # noqa: BLE001 - a provider's bug must not stop the feed
            out[name] = {"running": True, "error": raised(e)}
    return out


class PanelCleanups:
    """The cleanups run from the panel since ComfyUI started (newest first): the
    ``cleanups`` section until a manager with a history provides it."""

    def __init__(self, size: int = 10) -> None:
        self._items: deque[dict[str, Any]] = deque(maxlen=size)
        self._lock = threading.Lock()

    def record(self, report: dict[str, Any]) -> None:
        """Keep a cleanup's report (``CleanupReport.to_dict()``: its freed figures as
        the core counts them)."""
        keys = ("mode", "freed_gb", "process_freed_bytes", "ram_freed_bytes", "vram_freed_bytes", "duration_s")
        item = {"at_unix_ms": int(time.time() * 1000), **{k: report[k] for k in keys}}
        with self._lock:
            self._items.appendleft(item)

    def section(self) -> dict[str, Any]:
        with self._lock:
            items = list(self._items)
        return {"source": "cleanups run from this panel since ComfyUI started", "items": items}


# --- figures -------------------------------------------------------------------------


def _gpu_figures(gpu: dict[str, Any]) -> dict[str, Any]:
    devices = []
    for d in gpu["devices"]:
        procs = [
            {"pid": p["pid"], "name": p["name"], "used_bytes": p["used_bytes"], "kind": p["kind"]}
            for p in gpu["processes"]
            if p["gpu_index"] == d["index"]
        ]
        devices.append(
            {
                "index": d["index"],
                "name": d["name"],
                "total_bytes": d["total_bytes"],
                "used_bytes": d["used_bytes"],
                "percent_used": d["percent_used"],
                "processes": procs,
            }
        )
    return {"available": gpu["available"], "reason": gpu["unavailable_reason"], "devices": devices}


def _psi(psi: dict[str, Any] | None) -> dict[str, Any] | None:
    if psi is None:
        return None
    full = psi.get("full")
    return {"some_avg10": psi["some"]["avg10"], "full_avg10": None if full is None else full["avg10"]}


def figures(snap: dict[str, Any]) -> dict[str, Any]:
    """The figures the panel shows, from a snapshot's ``to_dict()``: RAM against the
    effective limit, swap, pressure, the GPUs with the processes holding them, and
    ComfyUI's own resident memory."""
    eff, sysm, pres = snap["effective"], snap["system"], snap["pressure"]
    proc = snap.get("process")
    return {
        "taken_at_unix_ms": snap["taken_at_unix_ms"],
        "ram": {
            k: eff[k] for k in ("total_bytes", "used_bytes", "available_bytes", "percent_used", "source", "reason")
        },
        "mem_total_bytes": sysm["total_bytes"],
        "swap": {k: sysm[f"swap_{k}_bytes"] for k in ("total", "used", "free")},
        "pressure": {
            "level": pres["level"],
            "description": pres["description"],
            "system": _psi(pres["system"]),
            "cgroup": _psi(pres["cgroup"]),
        },
        "gpu": _gpu_figures(snap["gpu"]),
        "process": None if proc is None else {"pid": proc["pid"], "rss_bytes": proc["rss_bytes"]},
    }


def take_snapshot(top: int = 0) -> tuple[Any, dict[str, Any]]:
    snap = _native.snapshot(top=top)
    return snap, snap.to_dict()


# --- chart trace -----------------------------------------------------------------------


@dataclass
class Trace:
    """Memory over one prompt (or, before any, the recent samples) and its node starts."""

    prompt_id: str | None = None
    start: float = 0.0
    end: float | None = None
    success: bool | None = None
    seq: int = 0
    samples: deque[list[float | None]] = field(default_factory=lambda: deque(maxlen=RECENT_SAMPLES))
    markers: list[dict[str, Any]] = field(default_factory=list)

    def header(self) -> dict[str, Any]:
        return {
            "prompt_id": self.prompt_id,
            "start": self.start,
            "end": self.end,
            "success": self.success,
            "seq": self.seq,
            "markers": list(self.markers),
        }


class Tracer:
    """Keeps the trace; fed by the execution hooks when installed, else by polling
    ComfyUI's prompt queue and last executed node at each sample."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.trace = Trace(start=time.monotonic())
        self.lock = threading.Lock()
        self.hooks = "not installed"
        self.hooked = False
        self._last_node: str | None = None

    def prompt_start(self, prompt_id: str, t: float) -> None:
        with self.lock:
            self.trace = Trace(prompt_id=prompt_id, start=t, samples=deque(maxlen=TRACE_SAMPLES))
            self._last_node = None

    def prompt_end(self, prompt_id: str, t: float, success: bool | None) -> None:
        with self.lock:
            if self.trace.prompt_id == prompt_id and self.trace.end is None:
                self.trace.end, self.trace.success = t, success

    def node_start(self, prompt_id: str, t: float, node_id: str | None, node_type: str | None) -> None:
        with self.lock:
            if self.trace.prompt_id != prompt_id:
                return
            self.trace.markers.append({"t": t - self.trace.start, "node_id": node_id, "node_type": node_type})

    def on_event(self, ev: Any) -> None:
        if ev.kind == "prompt_start":
            self.prompt_start(ev.prompt_id, ev.time)
        elif ev.kind == "prompt_end":
            self.prompt_end(ev.prompt_id, ev.time, ev.success)
        elif ev.kind == "node_start":
            self.node_start(ev.prompt_id, ev.time, ev.node_id, ev.node_type)

    def poll_queue(self, now: float) -> None:
        """Without hooks: prompt and node changes seen at sampling resolution."""
        running, _ = self.server.prompt_queue.get_current_queue_volatile()
        if not running:
            if self.trace.prompt_id is not None:
                self.prompt_end(self.trace.prompt_id, now, None)
            return
        prompt_id, prompt = running[0][1], running[0][2]
        if prompt_id != self.trace.prompt_id:
            self.prompt_start(prompt_id, now)
        node = self.server.last_node_id
        if node is not None and node != self._last_node:
            self._last_node = node
            node_type = prompt.get(node, {}).get("class_type") if isinstance(prompt, dict) else None
            self.node_start(prompt_id, now, str(node), node_type)

    def add_sample(self, now: float, fig: dict[str, Any]) -> tuple[list[float | None], dict[str, Any]]:
        gpus = fig["gpu"]["devices"]
        vram = sum(d["used_bytes"] for d in gpus) if gpus else None
        rss = fig["process"]["rss_bytes"] if fig["process"] else None
        with self.lock:
            sample = [round(now - self.trace.start, 3), fig["ram"]["used_bytes"], vram, rss]
            if self.trace.end is None or now <= self.trace.end:
                self.trace.samples.append(sample)
                self.trace.seq += 1
            return sample, self.trace.header()

    def chart(self) -> dict[str, Any]:
        with self.lock:
            out = self.trace.header()
            out["samples"] = list(self.trace.samples)
        out["columns"] = ["t_s", "ram_used_bytes", "vram_used_bytes", "process_rss_bytes"]
        out["node_markers"] = self.hooks
        return out


def install_hooks(tracer: Tracer) -> None:
    """Subscribe to ComfyUI's execution events (installing the hooks)."""
    if hooks.install():
        hooks.subscribe(tracer.on_event)
        tracer.hooks = "execution hooks"
        tracer.hooked = True
    else:
        tracer.hooks = f"polled at each sample (execution hooks: {hooks.install_reason()})"


# --- the feed ---------------------------------------------------------------------------


class Feed:
    """Samples and sends ``memwarden.status`` while a subscribed page is connected: one
    sampler thread, started when a connected page subscribes, ending when none is left
    (``send_sync`` hands each message to ComfyUI's event loop)."""

    def __init__(self, server: Any, tracer: Tracer, cleanups: PanelCleanups) -> None:
        self.server = server
        self.tracer = tracer
        self.cleanups = cleanups
        self.clients: dict[str, float] = {}
        self.lock = threading.Lock()
        self.wake = threading.Event()
        self.thread: threading.Thread | None = None
        self.samples_sent = 0

    def _connected(self) -> list[str]:
        """Subscribed clients still connected to ComfyUI's websocket (others dropped);
        the caller holds the lock."""
        sockets = set(list(self.server.sockets))
        for sid in [s for s in self.clients if s not in sockets]:
            del self.clients[sid]
        return list(self.clients)

    def connected(self) -> list[str]:
        with self.lock:
            return self._connected()

    def interval(self) -> float:
        with self.lock:
            return min(self.clients.values(), default=DEFAULT_INTERVAL_S)

    def configure(self, client_id: str, interval_s: float, enabled: bool) -> None:
        with self.lock:
            if enabled:
                self.clients[client_id] = interval_s
            else:
                self.clients.pop(client_id, None)
            self.wake.set()
            if self._connected() and self.thread is None:
                self.thread = threading.Thread(target=self.run, name="memwarden-panel-feed", daemon=True)
                self.thread.start()

    def sampling(self) -> bool:
        with self.lock:
            return self.thread is not None

    def config(self) -> dict[str, Any]:
        return {
            "interval_s": self.interval(),
            "min_interval_s": MIN_INTERVAL_S,
            "max_interval_s": MAX_INTERVAL_S,
            "default_interval_s": DEFAULT_INTERVAL_S,
            "subscribers": len(self.connected()),
            "sampling": self.sampling(),
            "samples_sent": self.samples_sent,
            "node_markers": self.tracer.hooks,
            "modes": list(MODES),
            "event": FEED_EVENT,
        }

    def sample(self) -> dict[str, Any]:
        """One message: the figures, the new chart sample and the sections."""
        now = time.monotonic()
        if not self.tracer.hooked:
            self.tracer.poll_queue(now)
        _, snap = take_snapshot()
        fig = figures(snap)
        point, header = self.tracer.add_sample(now, fig)
        return {"figures": fig, "sample": point, "trace": header, "sections": feed_sections()}

    def run(self) -> None:
        while True:
            with self.lock:
                sids = self._connected()
                if not sids:
                    self.thread = None  # under the lock: configure() starts a new one
                    return
            try:
                payload = self.sample()
            except Exception as e:  # noqa: BLE001 - a failed probe ends nothing: say it and go on
                payload = {"error": raised(e)}
            for sid in sids:
                self.server.send_sync(FEED_EVENT, payload, sid)
            self.samples_sent += 1
            self.wake.clear()
            self.wake.wait(self.interval())


# --- routes -------------------------------------------------------------------------------


def json_response(body: Any, status: int = 200) -> web.Response:
    """A JSON answer. aiohttp is imported here, not with the module: ComfyUI's server
    always has it, and the pack must load without it (outside ComfyUI)."""
    from aiohttp import web

    return web.json_response(body, status=status)


def bad_request(message: str) -> web.Response:
    return json_response({"error": message}, status=400)


def guard_answer() -> dict[str, Any]:
    st = guard.status()
    return {"running": st.running, "reserve_bytes": st.reserve_bytes, "text": st.text}


class Panel:
    """The routes' state: the feed, the trace, the panel's cleanups, the busy lock."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.tracer = Tracer(server)
        self.cleanups = PanelCleanups()
        self.feed = Feed(server, self.tracer, self.cleanups)
        self.busy = threading.Lock()

    async def snapshot(self, _request: web.Request) -> web.Response:
        snap, d = await asyncio.to_thread(take_snapshot)
        for p in d["gpu"]["processes"]:
            p["cmdline"] = None  # other users' command lines stay off the network
        body = {"snapshot": d, "status": snap.status().to_dict(), "figures": figures(d), "sections": feed_sections()}
        return json_response(body)

    def running_prompt(self) -> str | None:
        """The prompt ComfyUI is executing now, if any."""
        running, _ = self.server.prompt_queue.get_current_queue_volatile()
        return str(running[0][1]) if running else None

    def run_cleanup(self, mode: str) -> dict[str, Any]:
        try:
            report = cleanup(mode)
        finally:
            self.busy.release()
        d = report.to_dict()
        self.cleanups.record(d)
        return {"text": report.text, "report": d}

    async def cleanup(self, request: web.Request) -> web.Response:
        try:
            mode = _native.cleanup_request(await request.text())
        except ValueError as e:
            return bad_request(str(e))
        refusal = _native.cleanup_refusal(mode, self.running_prompt(), self.busy.locked())
        if refusal is not None:
            return json_response({"error": refusal}, status=409)
        # free: only this handler takes it, on the event loop, with no await since locked()
        self.busy.acquire()
        try:
            result = await asyncio.to_thread(self.run_cleanup, mode)
        except _native.MemwardenError as e:
            return json_response({"error": raised(e)}, status=500)
        return json_response(result)

    async def feed_config(self, _request: web.Request) -> web.Response:
        return json_response(self.feed.config())

    async def set_feed_config(self, request: web.Request) -> web.Response:
        try:
            client_id, interval, enabled = _native.feed_request(await request.text())
        except ValueError as e:
            return bad_request(str(e))
        self.feed.configure(client_id, interval, enabled)
        return json_response(self.feed.config())

    async def chart(self, _request: web.Request) -> web.Response:
        return json_response(self.tracer.chart())

    async def guard(self, _request: web.Request) -> web.Response:
        return json_response(await asyncio.to_thread(guard_answer))

    async def set_guard(self, request: web.Request) -> web.Response:
        """The headroom guard's settings as the settings dialog changed them: on or
        off, and the reserve, applied now (ComfyUI stores them for the next start)."""
        try:
            enabled, mb = _native.guard_request(await request.text())
        except ValueError as e:
            return bad_request(str(e))

        def apply() -> dict[str, Any]:
            if enabled is False:
                guard.stop()
            elif enabled and guard.current() is None:
                host.start_guard(reserve_mb=mb, asked=True)
            g = guard.current()
            if g is not None and mb is not None:
                g.set_reserve(None if mb == 0 else mb << 20)
            return guard_answer()

        try:
            return json_response(await asyncio.to_thread(apply))
        except _native.MemwardenError as e:
            return json_response({"error": raised(e)}, status=500)

    def add_routes(self, routes: web.RouteTableDef) -> None:
        routes.get("/memwarden/snapshot")(self.snapshot)
        routes.post("/memwarden/cleanup")(self.cleanup)
        routes.get("/memwarden/feed/config")(self.feed_config)
        routes.post("/memwarden/feed/config")(self.set_feed_config)
        routes.get("/memwarden/chart")(self.chart)
        routes.get("/memwarden/guard")(self.guard)
        routes.post("/memwarden/guard")(self.set_guard)


_registered: dict[str, Panel] = {}


def current_panel() -> Panel | None:
    """The panel registered on ComfyUI's server, else None."""
    return _registered.get("panel")


def register(server: Any | None = None) -> Panel | None:
    """Add the routes to ComfyUI's server (``PromptServer.instance`` by default) once;
    None outside ComfyUI. The ``cleanups`` section shows the panel's own cleanups until
    another provider replaces it."""
    if "panel" in _registered:
        return _registered["panel"]
    if server is None:
        server = host.server()
        if server is None:
            return None
    panel = Panel(server)
    panel.add_routes(server.routes)
    install_hooks(panel.tracer)
    register_feed_provider("cleanups", panel.cleanups.section)
    _registered["panel"] = panel
    return panel
