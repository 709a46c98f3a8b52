"""The one adapter between memwarden and ComfyUI's internals.

Written against both ComfyUI generations users run (0.3.6x: classic cache,
synchronous cache lookups; 0.28: async executor, RAM-pressure cache on by default,
pinned host memory, comfy-aimdo), so nothing else in the package reaches into
ComfyUI. It gives:

- what ComfyUI is and where its state goes: :func:`model_management`,
  :func:`prompt_queue`, :func:`server`, :func:`user_directory`,
  :func:`use_comfy_state_directory`, :func:`settings_text`;
- **safe points**: work that may touch ComfyUI's caches runs between prompts
  (holding the prompt gate, so no prompt starts meanwhile) or, during a prompt, on
  its worker thread at the next node's end (:class:`SafePoints`);
- **cached models**: the models held by ComfyUI's output cache, with their sizes,
  and giving them back, largest first, only those the running prompt does not use
  (:class:`ComfyHost`, the headroom guard's host);
- **loads**: ``comfy.utils.load_torch_file`` wrapped to announce each model file
  (a vetoable ``model_load`` event: the headroom guard may refuse it before a byte
  is allocated), and the dtype ComfyUI loads each model part at in RAM;
- **RAM figures**: ComfyUI judges RAM by psutil's host figures (its RAM-pressure
  cache, the CPU device's free memory, the pinned-memory budget); inside a
  container :func:`install_ram_figures` lets those modules see the limit that binds
  instead (opt-out), logged once.
"""

from __future__ import annotations

import gc
import logging
import os
import sys
import threading
import time
import types
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import _native, _paths, guard
from ..guard import Released
from . import hooks

log = logging.getLogger("memwarden.host")

#: How refusals name the reserve for a ComfyUI user.
RESERVE_NAME = "the setting 'memwarden > Headroom guard > Reserve (MB)' (memwarden.Guard.ReserveMB)"

#: Loader nodes whose single-part files hold that part (a checkpoint's parts are
#: told apart by their tensor names).
LOADER_PARTS = {
    "VAELoader": "vae",
    "UNETLoader": "diffusion",
    "CLIPLoader": "text_encoder",
    "DualCLIPLoader": "text_encoder",
    "TripleCLIPLoader": "text_encoder",
    "QuadrupleCLIPLoader": "text_encoder",
}


# ---------------------------------------------------------------------------
# What ComfyUI is
# ---------------------------------------------------------------------------


def model_management() -> Any | None:
    """``comfy.model_management`` inside ComfyUI, else None."""
    return sys.modules.get("comfy.model_management")


def server() -> Any | None:
    """ComfyUI's PromptServer instance, else None."""
    mod = sys.modules.get("server")
    return getattr(getattr(mod, "PromptServer", None), "instance", None)


def prompt_queue() -> Any | None:
    """ComfyUI's prompt queue, else None."""
    return getattr(server(), "prompt_queue", None)


def version() -> str:
    """ComfyUI's version (``comfyui_version.__version__``), or ``unknown``."""
    mod = sys.modules.get("comfyui_version")
    return str(getattr(mod, "__version__", "unknown"))


def user_directory() -> Path | None:
    """ComfyUI's user directory (``--user-directory``), else None."""
    fp = sys.modules.get("folder_paths")
    get = getattr(fp, "get_user_directory", None)
    return Path(get()) if callable(get) else None


def use_comfy_state_directory() -> Path | None:
    """Make ``<user directory>/memwarden`` memwarden's folder (history files) for
    this process; returns it (None outside ComfyUI)."""
    user = user_directory()
    if user is None:
        return None
    _paths.set_state_directory(user / "memwarden")
    return user / "memwarden"


def settings_text() -> str | None:
    """The default user's ``comfy.settings.json`` as text (the core reads
    memwarden's settings from it); None outside ComfyUI or when there is none yet
    (the frontend writes the file once the user changes a setting)."""
    user = user_directory()
    if user is None:
        return None
    try:
        return (user / "default" / "comfy.settings.json").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


# ---------------------------------------------------------------------------
# Safe points: work run on ComfyUI's prompt worker
# ---------------------------------------------------------------------------


@dataclass
class _Call:
    fn: Callable[[], Any]
    done: threading.Event
    result: Any = None
    error: BaseException | None = None


class SafePoints:
    """Where work that touches ComfyUI's caches may run: between prompts, on any
    thread, holding the prompt gate (no prompt starts meanwhile; see
    :func:`hooks.between_prompts`); during a prompt, on its worker thread at the
    next node's end, where the executor is between nodes."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pending: deque[_Call] = deque()
        self.installed = False
        self.reason = "not installed"

    def install(self) -> bool:
        if not hooks.install():
            self.reason = f"not installed: {hooks.install_reason()}"
            return False
        if not self.installed:
            hooks.subscribe(self._on_event)
        self.installed = True
        self.reason = "between prompts, and at each node's end during one"
        return True

    def _on_event(self, ev: hooks.ExecutionEvent) -> None:
        if ev.kind in ("node_end", "prompt_end"):
            self.run_pending()

    def run_pending(self) -> None:
        while True:
            with self.lock:
                if not self.pending:
                    return
                call = self.pending.popleft()
            try:
                call.result = call.fn()
            except BaseException as e:  # noqa: BLE001 - handed back to the caller
                call.error = e
            finally:
                call.done.set()

    def call(self, fn: Callable[[], Any], timeout_s: float) -> tuple[bool, Any]:
        """Run ``fn`` at a safe point and wait up to ``timeout_s``: (done, result).
        Not done in time: it still runs at the next node's end."""
        if not self.installed or hooks.on_worker_thread():
            # No executor to keep out of the way, or this is its own thread (inside a
            # node: the caller keeps to what a running prompt allows).
            return True, fn()
        with hooks.between_prompts() as idle:
            if idle:
                return True, fn()
        c = _Call(fn, threading.Event())
        with self.lock:
            self.pending.append(c)
        if not c.done.wait(timeout_s):
            return False, None
        if c.error is not None:
            raise c.error
        return True, c.result


# ---------------------------------------------------------------------------
# Cached models
# ---------------------------------------------------------------------------


def _patchers(value: Any, depth: int = 0) -> Iterator[Any]:
    """The model patchers in a cached output: a ModelPatcher itself, or a CLIP /
    VAE holding one (``.patcher``), in nested lists and tuples."""
    if depth > 4 or value is None:
        return
    if isinstance(value, (list, tuple)):
        for v in value:
            yield from _patchers(v, depth + 1)
        return
    if callable(getattr(value, "model_size", None)) and hasattr(value, "model"):
        yield value
        return
    inner = getattr(value, "patcher", None)
    if inner is not None and callable(getattr(inner, "model_size", None)):
        yield inner


def _ram_bytes(patcher: Any) -> int:
    """RAM a patcher's model takes: its size, less what is loaded on a GPU."""
    try:
        size = int(patcher.model_size())
    except Exception:  # noqa: BLE001 - an exotic patcher: counted as nothing
        return 0
    device = getattr(getattr(patcher, "load_device", None), "type", "cpu")
    if device != "cpu":
        try:
            size -= int(patcher.loaded_size())
        except Exception:  # noqa: BLE001
            pass
    return max(0, size)


def _caches(cache: Any, depth: int = 0) -> Iterator[Any]:
    """A cache and its subcaches (subgraph expansions)."""
    if depth > 8 or cache is None:
        return
    yield cache
    for sub in list(getattr(cache, "subcaches", {}).values()):
        yield from _caches(sub, depth + 1)


@dataclass(frozen=True)
class CachedModel:
    cache: Any
    key: Any
    bytes: int
    active: bool


def cached_models(executor: Any) -> list[CachedModel]:
    """Every output-cache entry holding a model, with the RAM its models take and
    whether the prompt running (or last run) uses it, largest first. 0.28 keeps
    entries of earlier prompts (used generation older than the cache's); 0.3.6x
    drops them at the next prompt's start."""
    outputs = getattr(getattr(executor, "caches", None), "outputs", None)
    found = []
    seen: set[int] = set()
    for cache in _caches(outputs):
        generation = getattr(cache, "generation", None)
        used = getattr(cache, "used_generation", {})
        for key, entry in list(getattr(cache, "cache", {}).items()):
            value = getattr(entry, "outputs", entry)  # 0.28: CacheEntry(ui, outputs)
            size = 0
            for p in _patchers(value):
                if id(p) not in seen:
                    seen.add(id(p))
                    size += _ram_bytes(p)
            if size:
                active = generation is None or used.get(key) == generation
                found.append(CachedModel(cache, key, size, active))
    found.sort(key=lambda m: m.bytes, reverse=True)
    return found


def _drop(m: CachedModel) -> None:
    for name in ("cache", "used_generation", "children", "timestamps"):
        d = getattr(m.cache, name, None)
        if isinstance(d, dict):
            d.pop(m.key, None)


class ComfyHost:
    """The headroom guard's host inside ComfyUI."""

    reserve_name = RESERVE_NAME

    def __init__(self, calls: SafePoints) -> None:
        self.calls = calls

    def prompt_running(self) -> bool:
        return hooks.running_prompt() is not None

    def releasable(self, prompt_running: bool) -> int:
        """Bytes of cached models that may be given back: every one between prompts;
        during a prompt only those of earlier prompts (0.28 keeps them)."""
        executor = hooks.current_executor()
        if executor is None:
            return 0
        try:
            models = cached_models(executor)
        except Exception:  # noqa: BLE001 - the cache changed shape under us: nothing
            return 0
        return _native.releasable_bytes([(m.bytes, m.active) for m in models], prompt_running)

    def release(self, need: int, drop_outputs: bool, timeout_s: float) -> Released:
        def work() -> Released:
            return self._release_now(need, drop_outputs)

        done, r = self.calls.call(work, timeout_s)
        if not done or not isinstance(r, Released):
            return Released(0, _native.worker_busy(timeout_s))
        return r

    def _release_now(self, need: int, drop_outputs: bool) -> Released:
        """On the prompt worker: drop cached models, largest first, until ``need``
        bytes; with ``drop_outputs`` and still short, between prompts, every cached
        output (ComfyUI's own reset, as POST /free does)."""
        executor = hooks.current_executor()
        if executor is None:
            return Released(0, _native.comfy_released(0, False))
        models = cached_models(executor)
        running = hooks.running_prompt() is not None
        held = [(m.bytes, m.active) for m in models]
        release, freed, reset = _native.release_plan(held, need, running, drop_outputs)
        for i in release:
            _drop(models[i])
        if reset:
            executor.reset()
        if release or reset:
            # Weights held in reference cycles; ComfyUI drops the dead entries of its
            # loaded-model list itself at the next prompt's start.
            gc.collect()
        return Released(freed, _native.comfy_released(freed, reset))

    def notes(self) -> list[str]:
        return [
            f"ComfyUI {version()}; safe points: {self.calls.reason}",
            f"loads: {_Installed.load_events}; RAM figures: {_Installed.ram_figures}",
            ComfyReleases.text(),
        ]

    def load_itemsize(self, params: dict[str, int] | None = None) -> dict[str, int]:
        """Bytes per parameter ComfyUI loads each part at in RAM, as its own model
        management decides for the load device (0: the part goes to VRAM). With
        ``params`` (per part), the device decisions that depend on the size too."""
        mm = model_management()
        if mm is None:
            return {}
        torch = sys.modules.get("torch")
        out: dict[str, int] = {}
        try:
            unet = mm.unet_dtype(model_params=(params or {}).get("diffusion", 0))
            te = mm.text_encoder_dtype(mm.text_encoder_device())
            vae = mm.vae_dtype(mm.vae_device())
            out = {
                "diffusion": int(mm.dtype_size(unet)),
                "text_encoder": int(mm.dtype_size(te)),
                "vae": int(mm.dtype_size(vae)),
            }
            mem = sys.modules.get("comfy.memory_management")
            if getattr(mem, "aimdo_enabled", False):
                out["diffusion"] = 0  # mapped from the file, not copied (0.28, NVIDIA)
            elif params and torch is not None:
                p = params.get("diffusion", 0)
                if p and getattr(mm.unet_inital_load_device(p, unet), "type", "cpu") != "cpu":
                    out["diffusion"] = 0
                p = params.get("text_encoder", 0)
                if p:
                    dev = mm.text_encoder_initial_device(
                        mm.text_encoder_device(), mm.text_encoder_offload_device(), p * out["text_encoder"]
                    )
                    if getattr(dev, "type", "cpu") != "cpu":
                        out["text_encoder"] = 0
        except Exception as e:  # noqa: BLE001 - an unknown ComfyUI: the files' own dtypes
            log.debug("[memwarden] load dtypes not known: %s", e)
        return out


# ---------------------------------------------------------------------------
# Loads
# ---------------------------------------------------------------------------


def install_load_events() -> str:
    """Wrap ``comfy.utils.load_torch_file`` (every model file ComfyUI loads goes
    through it, in both generations) to emit a vetoable ``model_load`` event first."""
    utils = sys.modules.get("comfy.utils")
    original = getattr(utils, "load_torch_file", None)
    if not callable(original):
        return "not installed: comfy.utils.load_torch_file not found"
    if getattr(original, "__memwarden__", False):
        return "installed"

    def load_torch_file(ckpt: Any, *args: Any, **kwargs: Any) -> Any:
        node = hooks.running_node()
        hooks.emit(
            hooks.ExecutionEvent(
                "model_load",
                hooks.running_prompt() or "",
                time.monotonic(),
                node_id=node[0] if node else None,
                node_type=node[1] if node else None,
                path=str(ckpt),
            ),
            veto=True,
        )
        return original(ckpt, *args, **kwargs)

    load_torch_file.__memwarden__ = True  # type: ignore[attr-defined]
    load_torch_file.__wrapped__ = original  # type: ignore[attr-defined]
    utils.load_torch_file = load_torch_file  # type: ignore[union-attr]
    return "installed: comfy.utils.load_torch_file"


def loader_part(node_type: str | None) -> str:
    """What a file loaded by ``node_type`` holds when its tensors do not say."""
    return LOADER_PARTS.get(node_type or "", "other")


# ---------------------------------------------------------------------------
# RAM figures
# ---------------------------------------------------------------------------


class _PsutilView(types.ModuleType):
    """psutil, with ``virtual_memory()`` judged by the limit that binds."""

    def __init__(self, real: Any, reading: Callable[[], Any]) -> None:
        super().__init__("psutil")
        self._real = real
        self._reading = reading

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def virtual_memory(self) -> Any:
        vm = self._real.virtual_memory()
        try:
            r = self._reading()
        except Exception:  # noqa: BLE001 - the host's figures rather than none
            return vm
        figures = None if r is None else _native.ram_figures(r, vm.total, vm.available, vm.free)
        if figures is None:
            return vm
        total, available, used, free, percent = figures
        return vm._replace(total=total, available=available, used=used, free=free, percent=percent)


def install_ram_figures(reading: Callable[[], Any]) -> str:
    """Let ComfyUI's RAM decisions see the limit that binds: ``psutil`` as seen by
    ``comfy.model_management`` (the CPU device's free and total memory), 0.28's
    ``comfy_execution.caching`` (the RAM-pressure cache) and ``execution`` (its
    shortfall), and the totals those modules computed at import. Other modules and
    other node packs keep psutil's host figures. Returns what it did, in words."""
    psutil = sys.modules.get("psutil")  # imported by ComfyUI's model management
    if psutil is None:
        return "not installed: psutil is not loaded"
    r = reading()
    vm = psutil.virtual_memory()
    if r is None or _native.ram_figures(r, vm.total, vm.available, vm.free) is None:
        return f"not needed: no limit tighter than host RAM ({r.line if r is not None else 'not read'})"
    view = _PsutilView(psutil, reading)
    patched = []
    for name in ("comfy.model_management", "comfy_execution.caching", "execution"):
        mod = sys.modules.get(name)
        if mod is not None and getattr(mod, "psutil", None) is psutil:
            mod.psutil = view  # type: ignore[attr-defined]
            patched.append(name)
    mm = model_management()
    if mm is not None and hasattr(mm, "total_ram"):
        mm.total_ram = r.limit_bytes / (1024 * 1024)
        patched.append("comfy.model_management.total_ram")
        pinned = getattr(mm, "MAX_PINNED_MEMORY", -1)
        cap = _native.pinned_cap(pinned, r.limit_bytes) if isinstance(pinned, (int, float)) else None
        if cap is not None:
            mm.MAX_PINNED_MEMORY = cap
            patched.append("comfy.model_management.MAX_PINNED_MEMORY")
    if not patched:
        return "not installed: none of ComfyUI's RAM-deciding modules is loaded"
    return f"{r.line}: {', '.join(patched)}"


class ComfyReleases:
    """What ComfyUI 0.28's own RAM-pressure cache gave back (its ``ram_release``,
    counted): where ComfyUI already does the job, the guard finds the headroom back
    and does nothing more."""

    lock = threading.Lock()
    calls = 0
    released = 0
    estimated_bytes = 0

    @classmethod
    def text(cls) -> str:
        with cls.lock:
            return _native.comfy_cache_releases(cls.calls, cls.released, cls.estimated_bytes)


def watch_comfy_releases() -> str:
    """Count what ComfyUI's RAM-pressure cache (0.28) releases, by wrapping its
    ``ram_release``; the guard reports it. Nothing on a ComfyUI without one."""
    caching = sys.modules.get("comfy_execution.caching")
    cls = getattr(caching, "RAMPressureCache", None)
    original = getattr(cls, "ram_release", None)
    if cls is None or not callable(original):
        return "this ComfyUI has no RAM-pressure cache"
    if getattr(original, "__memwarden__", False):
        return "counted"

    def ram_release(self: Any, *args: Any, **kwargs: Any) -> Any:
        freed = original(self, *args, **kwargs)
        with ComfyReleases.lock:
            ComfyReleases.calls += 1
            if isinstance(freed, (int, float)) and freed > 0:
                ComfyReleases.released += 1
                ComfyReleases.estimated_bytes += int(freed)
        return freed

    ram_release.__memwarden__ = True  # type: ignore[attr-defined]
    cls.ram_release = ram_release
    return "counted"


# ---------------------------------------------------------------------------
# The guard inside ComfyUI
# ---------------------------------------------------------------------------


class _Installed:
    calls = SafePoints()
    unsubscribe: Callable[[], None] | None = None
    ram_figures = "not installed"
    load_events = "not installed"


class _NodeLoads:
    """What the running node loaded, and this process's anonymous RSS when it
    started: a node that loaded one file took what its RSS grew by (the measured
    history the next prediction of that file uses)."""

    anon0: int | None = None
    files: list[str] = []  # noqa: RUF012 - one per process, reset per node


def _anon() -> int | None:
    try:
        return int(_native.process_memory().rss_anon_bytes)
    except _native.MemwardenError:
        return None


def _on_load(ev: hooks.ExecutionEvent) -> None:
    if ev.kind == "node_start":
        _NodeLoads.anon0, _NodeLoads.files = None, []
        return
    g = guard.current()
    if ev.kind == "node_end":
        files, anon0 = _NodeLoads.files, _NodeLoads.anon0
        _NodeLoads.files, _NodeLoads.anon0 = [], None
        now = _anon()
        if g is not None and ev.success and len(files) == 1 and anon0 is not None and now is not None:
            g.loaded(files[0], now - anon0)
        return
    if ev.kind != "model_load" or ev.path is None or g is None:
        return
    if not _NodeLoads.files:
        _NodeLoads.anon0 = _anon()
    _NodeLoads.files.append(ev.path)
    name = os.path.basename(ev.path)
    what = f"loading {name}" + (f" ({ev.node_type})" if ev.node_type else "")
    g.check_load(ev.path, what, loader_part(ev.node_type))


def start_pack() -> None:
    """What the node pack does when ComfyUI loads it: memwarden's files go to
    ComfyUI's user directory, and the headroom guard starts (logged, never raised:
    a guard that cannot start must not keep the pack's nodes out)."""
    use_comfy_state_directory()
    try:
        log.info("[memwarden] %s", start_guard())
    except Exception as e:  # noqa: BLE001 - the nodes work without the guard
        log.error("[memwarden] headroom guard not started: %s: %s", type(e).__name__, e)


def start_guard(reserve_mb: int | None = None, asked: bool = False) -> str:
    """Start the headroom guard for this ComfyUI (the pack calls this when it
    loads): on unless the setting memwarden.Guard.Enabled is off or
    MEMWARDEN_GUARD=0, or ``asked`` (the settings dialog switched it on just now);
    ``reserve_mb`` (else the setting; 0 or none: the default). Returns what it did,
    in words (logged)."""
    on, reserve, ram_figures, problem = _native.guard_start(settings_text(), asked, reserve_mb)
    if not on:
        return _native.guard_off()
    _Installed.calls.install()
    host = ComfyHost(_Installed.calls)
    use_comfy_state_directory()
    status = guard.start(reserve=reserve, host=host)
    g = guard.current()
    if _Installed.unsubscribe is None:
        _Installed.unsubscribe = hooks.subscribe(_on_load)
    _Installed.load_events = install_load_events()
    watch_comfy_releases()
    if g is not None and ram_figures:
        _Installed.ram_figures = install_ram_figures(g.reader.read)
        log.info("[memwarden] %s", _native.ram_figures_note(_Installed.ram_figures))
    return _native.guard_started(status.watching, _Installed.load_events, _Installed.calls.reason, problem)
