"""The headroom guard: keeps a process from being the one the kernel kills.

One per process, on by default in ComfyUI (the node pack starts it; no node is
needed). A native watch (:class:`memwarden._native.HeadroomWatch`) waits, with the
GIL released, for headroom under the memory limit that binds (the container's
cgroup, the host's RAM, a Windows job or the commit limit) to fall through a
reserve, woken by kernel events where the process may have them and by reads paced
for the fastest allocation seen here. When it falls through, the core's plan
(:func:`memwarden._native.plan_giveback`) says what to give back, in order: cached
models the running node does not need, the cached outputs holding them, the heap,
then pages out where swap allows. Nothing is held back by a cooldown, and nothing
is given back while headroom is above the reserve.

Before a model loads (ComfyUI's loaders call :meth:`Guard.check_load` through the
host), the load is predicted from the file (the per-file history of what it took
here, else its tensors at the dtype each part is loaded at), room is made first
when it fits only that way, and a load that cannot fit even then is refused with
:class:`memwarden.HeadroomRefused` before it allocates: that prompt fails with the
figures, the server and the queue go on.

Everything the guard does goes to the history file (``memwarden history``) with its
trigger and latency. The host is what the guard acts through
(:class:`GuardHost`): ComfyUI's adapter (:mod:`memwarden.comfy.host`) or, in any
other process, :class:`PlainHost`, to which the program registers what it can give
back.

    import memwarden.guard as g
    g.start(reserve="1G")
    print(g.status().text)
"""

from __future__ import annotations

import functools
import json
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import memwarden._native as _native  # noqa: PLR0402 - the extension module itself, not the package namespace

from . import _paths
from ._native import GivebackPlan, Headroom, HeadroomWake, HeadroomWatch, LoadPrediction, ManagerAction
from .cleanup import Outcome, measure_step, raised

log = logging.getLogger("memwarden.guard")

__all__ = [
    "Guard",
    "GuardHost",
    "GuardSettings",
    "GuardStatus",
    "PlainHost",
    "Released",
    "current",
    "start",
    "status",
    "stop",
]


@dataclass(frozen=True)
class Released:
    """What a host gave back: an estimate of the bytes, and what it did in words."""

    bytes: int
    detail: str


class GuardHost(Protocol):
    """What the guard acts through."""

    #: How a refusal names the reserve for this host's users.
    reserve_name: str

    def releasable(self, prompt_running: bool) -> int:
        """Bytes of cached models that could be given back now."""

    def release(self, need: int, drop_outputs: bool, timeout_s: float) -> Released:
        """Give back about ``need`` bytes of cached models (and, with
        ``drop_outputs``, the cached outputs holding them), on whatever thread may do
        it; waits at most ``timeout_s`` for it to be done."""

    def prompt_running(self) -> bool:
        """Something the host must not disturb runs now (a ComfyUI prompt)."""

    def load_itemsize(self, params: dict[str, int] | None = None) -> dict[str, int]:
        """Bytes per parameter each model part is loaded at in RAM (0: to VRAM);
        with ``params`` (per part), the decisions that depend on the size too."""

    def notes(self) -> list[str]:
        """What the host says of itself for the guard's status."""


class PlainHost:
    """The host of a process that is not ComfyUI: it gives back what the program
    registered (``register(name, size_fn, release_fn)``), largest first."""

    reserve_name = "the reserve passed to memwarden.guard.start(reserve=...)"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[str, tuple[Callable[[], int], Callable[[], None]]] = {}

    def register(self, name: str, size: Callable[[], int], release: Callable[[], None]) -> None:
        """``release()`` gives back what ``size()`` says it holds (0 once released)."""
        with self._lock:
            self._items[name] = (size, release)

    def unregister(self, name: str) -> None:
        with self._lock:
            self._items.pop(name, None)

    def releasable(self, prompt_running: bool) -> int:
        with self._lock:
            items = list(self._items.values())
        return _native.releasable_bytes([(max(0, int(size())), False) for size, _ in items], prompt_running)

    def release(self, need: int, drop_outputs: bool, timeout_s: float) -> Released:
        with self._lock:
            items = [(n, int(s()), r) for n, (s, r) in sorted(self._items.items())]
        release, freed, _ = _native.release_plan([(max(0, size), False) for _, size, _ in items], need, False, False)
        for i in release:
            items[i][2]()
        return Released(freed, _native.registry_released([items[i][0] for i in release]))

    def prompt_running(self) -> bool:
        return False

    def load_itemsize(self, params: dict[str, int] | None = None) -> dict[str, int]:
        return {}

    def notes(self) -> list[str]:
        with self._lock:
            names = sorted(self._items)
        return [f"gives back: {', '.join(names) or 'nothing registered'}"]


@dataclass(frozen=True)
class GuardSettings:
    """``reserve``: bytes (or a size such as "1G") kept free under the binding
    limit; None for 10 % of the limit within 512 MiB..2 GiB. ``pageout``: page this
    process out where swap allows, as the last step. ``check_loads``: predict and
    check model loads. ``history_file``: None = the default place."""

    reserve: int | str | None = None
    pageout: bool = True
    check_loads: bool = True
    history_file: str | None = None


@dataclass
class GuardStatus:
    running: bool
    watching: str
    reserve_bytes: int
    reading: Headroom | None
    givebacks: int = 0
    refusals: int = 0
    loads_checked: int = 0
    faults: int = 0
    last_action: ManagerAction | None = None
    last_fault: str | None = None
    history_file: str = ""
    host: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        """The status in words, one figure a line (rendered by the core)."""
        return _native.guard_status_text(
            {
                "running": self.running,
                "watching": self.watching,
                "reserve_bytes": self.reserve_bytes,
                "reading": None if self.reading is None else self.reading.to_dict(),
                "givebacks": self.givebacks,
                "refusals": self.refusals,
                "loads_checked": self.loads_checked,
                "faults": self.faults,
                "last_action": None if self.last_action is None else self.last_action.to_dict(),
                "last_fault": self.last_fault,
                "history_file": self.history_file,
                "host": self.host,
            }
        )


def _now_ms() -> int:
    return int(time.time() * 1000)


class LoadHistory:
    """What each model file took in RAM when it was last loaded here, keyed by its
    path, size and modification time (a changed file is a new file)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.lock = threading.Lock()
        self.items: dict[str, int] = {}
        if path is not None:
            try:
                data = json.loads(path.read_text())
                self.items = {str(k): int(v) for k, v in data.items() if isinstance(v, int) and v >= 0}
            except (OSError, ValueError, AttributeError):
                self.items = {}

    @staticmethod
    def key(file: str) -> str | None:
        try:
            st = os.stat(file)
        except OSError:
            return None
        return f"{os.path.abspath(file)}|{st.st_size}|{int(st.st_mtime)}"

    def get(self, file: str) -> int | None:
        k = self.key(file)
        with self.lock:
            return None if k is None else self.items.get(k)

    def put(self, file: str, measured: int) -> None:
        k = self.key(file)
        if k is None or measured <= 0:
            return
        with self.lock:
            self.items[k] = int(measured)
            over = len(self.items) - _native.GUARD_KEEP_LOADS
            if over > 0:
                for old in list(self.items)[:over]:
                    del self.items[old]
            data = json.dumps(self.items)
        if self.path is None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(data)
            os.replace(tmp, self.path)
        except OSError as e:
            log.warning("[memwarden] load history %s not written: %s", self.path, e)


class Guard:
    """The headroom guard of one process (use the module functions: one per process)."""

    def __init__(self, settings: GuardSettings, host: GuardHost | None = None) -> None:
        _native.check_flag("pageout", settings.pageout)
        _native.check_flag("check_loads", settings.check_loads)
        self.reserve_arg = None if settings.reserve is None else _native.check_size("reserve", settings.reserve, 0)
        self.settings = settings
        self.host: GuardHost = host or PlainHost()
        self.watch = HeadroomWatch(reserve=self.reserve_arg)
        # A second gauge for reads from other threads (a load check, the panel)
        # while the guard's own thread waits on the first.
        self.reader = HeadroomWatch(reserve=self.reserve_arg)
        self.stop_event = threading.Event()
        self.thread: threading.Thread | None = None
        self.lock = threading.Lock()
        self.counts = {"givebacks": 0, "refusals": 0, "loads_checked": 0, "faults": 0}
        self.last_action: ManagerAction | None = None
        self.recent: deque[ManagerAction] = deque(maxlen=_native.GUARD_KEEP_ACTIONS)
        self.last_fault: str | None = None
        self.last_reading: Headroom | None = None
        self.history_path = Path(settings.history_file) if settings.history_file else _default_history_path()
        self.file = _history_file(self.history_path)
        self.loads = LoadHistory(self.history_path.with_name("load-history.json"))

    # -- life cycle ---------------------------------------------------------------

    def start(self) -> None:
        self.thread = threading.Thread(target=self._run, name="memwarden-guard", daemon=True)
        self.thread.start()
        log.info(
            "[memwarden] headroom guard on: %s kept free under %s; watching %s",
            _native.format_bytes(self.watch.reserve),
            self.reader.read().line,
            self.watch.description,
        )

    def stop(self, timeout_s: float = 5.0) -> None:
        self.stop_event.set()
        if self.thread is not None and self.thread is not threading.current_thread():
            self.thread.join(timeout_s)

    def alive(self) -> bool:
        return self.thread is not None and self.thread.is_alive() and not self.stop_event.is_set()

    def set_reserve(self, reserve: int | str | None) -> None:
        r = None if reserve is None else _native.check_size("reserve", reserve, 0)
        self.reserve_arg = r
        self.reader.set_reserve(r)
        self.watch.set_reserve(r)  # waits for the guard's current wait (at most 1 s)

    def _run(self) -> None:
        while not self.stop_event.is_set():
            try:
                wake = self.watch.wait(1.0)
            except _native.MemwardenError as e:
                self._fault({"fault": "watch_failed", "error": str(e)})
                self.stop_event.wait(1.0)
                continue
            self.last_reading = wake.reading
            if wake.reason == "limit_changed":
                log.info("[memwarden] headroom guard: the limit changed: %s", wake.line)
                continue
            if wake.reason != "crossed":
                continue
            try:
                self.give_back(wake)
            except Exception as e:  # noqa: BLE001 - the guard must keep watching
                self._fault({"fault": "giveback_failed", "error": raised(e)})

    # -- giving back --------------------------------------------------------------

    def give_back(self, wake: HeadroomWake) -> ManagerAction:
        """Carry out the core's plan for ``wake`` and record it."""
        t0 = time.perf_counter()
        start_ns = time.monotonic_ns()
        at = _now_ms()
        running = self.host.prompt_running()
        models = self.host.releasable(running)
        swap_free = self._swap_free() if self.settings.pageout else 0
        plan: GivebackPlan = _native.plan_giveback(
            wake.reading,
            wake.reserve_bytes,
            models_bytes=models,
            prompt_running=running,
            swap_free_bytes=swap_free,
        )
        steps = []
        for i, step, name in plan.runs:
            s = measure_step(i, name, functools.partial(self._give, step, plan.shortfall_bytes, plan.drops_outputs))
            if s is not None:
                steps.append(s.record())
        after = self.reader.read()
        action = _native.giveback_action(at, wake, plan, after, steps, start_ns, (time.perf_counter() - t0) * 1e3)
        with self.lock:
            self.counts["givebacks"] += 1
        self._keep(action)
        log.warning("[memwarden] %s", action.reason)
        return action

    def _give(self, step: str, need: int, drop_outputs: bool, timeout_s: float = 2.0) -> Outcome:
        """One step of a giveback, with what it freed by its own measure."""
        if step in ("release_models", "drop_outputs"):
            r = self.host.release(need, drop_outputs or step == "drop_outputs", timeout_s=timeout_s)
            return Outcome(True, r.detail, freed_bytes=r.bytes)
        if step == "trim_heap":
            h = _native.trim_heap()
            return Outcome(True, h.line, freed_bytes=int(h.freed_bytes))
        try:
            r2 = _native.trim_process(os.getpid(), min_swap_free=_native.DEFAULT_MIN_SWAP_FREE)
        except _native.SwapRefused as e:
            return Outcome(
                True, _native.pageout_attempt({"outcome": "swap_refused", "said": str(e)})[1][0], skipped=True
            )
        return Outcome(True, _native.paged_out(r2)[1][0], freed_bytes=r2.moved_to_swap_bytes)

    @staticmethod
    def _swap_free() -> int:
        try:
            m = _native.snapshot(top=0, gpu=False).system
        except _native.MemwardenError:
            return 0
        return int(m.swap_free_bytes)

    # -- loads ----------------------------------------------------------------------

    def predict(self, path: str, default: str = "other") -> LoadPrediction:
        """What loading ``path`` will take in RAM: the dtypes the host loads each part
        at, and, where the host's device choice depends on a part's size (a model that
        fits in VRAM goes there), those decisions made with the part's parameters."""
        measured = self.loads.get(path)
        first = self.host.load_itemsize()
        pred = _native.predict_load(path, default=default, itemsize=first, measured_bytes=measured)
        sized = self.host.load_itemsize({p.component: p.params for p in pred.parts})
        if sized != first:
            pred = _native.predict_load(path, default=default, itemsize=sized, measured_bytes=measured)
        return pred

    def loaded(self, path: str, took: int) -> None:
        """``path`` took ``took`` bytes of RAM to load here (measured by the host):
        the prediction of its next load."""
        self.loads.put(path, took)

    def check_load(self, path: str, what: str, default: str = "other") -> LoadPrediction | None:
        """Before ``path`` is loaded: predict it, make room when it fits only that
        way, refuse it (raise HeadroomRefused, nothing loaded) when it cannot fit.
        Runs on the thread that loads (ComfyUI's prompt worker). Returns the
        prediction, or None when the file could not be read (the load goes on)."""
        if not self.settings.check_loads:
            return None
        t0 = time.perf_counter()
        try:
            pred = self.predict(path, default)
        except _native.MemwardenError as e:
            log.info("[memwarden] %s", _native.load_not_predicted(what, str(e)))
            return None
        reading = self.reader.read()
        running = self.host.prompt_running()
        releasable = self.host.releasable(running)
        reserve = self.reader.reserve
        plan = _native.plan_load(what, pred.bytes, reading, reserve, releasable)
        with self.lock:
            self.counts["loads_checked"] += 1
        log.info("[memwarden] %s", _native.load_check_line(what, pred, reading, plan))
        if plan.decision == "proceed":
            return pred
        if plan.decision == "make_room":
            need = plan.make_room_bytes
            step = measure_step(0, _native.release_step_name(), lambda: self._give("release_models", need, False, 5.0))
            assert step is not None  # releasing models always applies
            after = self.reader.read()
            duration_ms = (time.perf_counter() - t0) * 1e3
            self._keep(_native.make_room_action(_now_ms(), what, pred, reading, after, step.record(), duration_ms))
            return pred
        assert plan.refusal is not None
        err = _native.headroom_refused(plan.refusal, self.host.reserve_name)
        with self.lock:
            self.counts["refusals"] += 1
        self._keep(_native.refusal_action(_now_ms(), str(err), pred, (time.perf_counter() - t0) * 1e3))
        log.error("[memwarden] %s", err)
        raise err

    # -- history ----------------------------------------------------------------------

    def actions(self) -> list[ManagerAction]:
        """What this guard did since it started (the last GUARD_KEEP_ACTIONS), oldest first."""
        with self.lock:
            return list(self.recent)

    def _keep(self, a: ManagerAction) -> None:
        with self.lock:
            self.last_action = a
            self.recent.append(a)
        if self.file is not None:
            try:
                self.file.append(a)
            except _native.MemwardenError as e:
                self.file = None
                self._fault({"fault": "history_unwritable", "path": str(self.history_path), "error": raised(e)})

    def _fault(self, fault: dict[str, Any]) -> None:
        """Count and log a fault (a dict of the core's Fault)."""
        text = _native.fault_text(fault)
        with self.lock:
            self.counts["faults"] += 1
            self.last_fault = text
        log.warning("[memwarden] headroom guard: %s", text)

    def status(self) -> GuardStatus:
        reading = self.reader.read()
        with self.lock:
            return GuardStatus(
                running=self.alive(),
                watching=self.watch.description,
                reserve_bytes=self.reader.reserve,
                reading=reading,
                givebacks=self.counts["givebacks"],
                refusals=self.counts["refusals"],
                loads_checked=self.counts["loads_checked"],
                faults=self.counts["faults"],
                last_action=self.last_action,
                last_fault=self.last_fault,
                history_file=str(self.history_path) if self.file is not None else f"{self.history_path} (not writable)",
                host=self.host.notes(),
            )


# ---------------------------------------------------------------------------
# History: one file object per path, shared with the background manager
# ---------------------------------------------------------------------------

_files_lock = threading.Lock()
_files: dict[str, Any] = {}


def _history_file(path: Path) -> Any | None:
    """The process's one writer of the history file at ``path`` (None, with a
    warning, when it cannot be opened)."""
    key = str(path)
    with _files_lock:
        f = _files.get(key)
        if f is None:
            try:
                f = _native.HistoryFile(path, _native.GUARD_KEEP_ACTIONS)
            except _native.MemwardenError as e:
                log.warning("[memwarden] history file %s not usable, kept in memory only: %s", path, e)
                return None
            _files[key] = f
        return f


def _default_history_path() -> Path:
    return _paths.history_path()


# ---------------------------------------------------------------------------
# The one guard of this process
# ---------------------------------------------------------------------------


class _One:
    lock = threading.Lock()
    guard: Guard | None = None


def start(settings: GuardSettings | None = None, host: GuardHost | None = None, **options: Any) -> GuardStatus:
    """Start this process's guard (or restart it with new settings). Settings are
    checked first: a bad one raises InvalidInput and nothing changes."""
    known = {f for f in GuardSettings.__dataclass_fields__}
    unknown = sorted(set(options) - known)
    if unknown:
        raise _native.invalid_input(
            f"unknown guard setting(s) {', '.join(map(repr, unknown))}; known: {', '.join(sorted(known))}"
        )
    s = GuardSettings(**{**(settings.__dict__ if settings else {}), **options})
    g = Guard(s, host)
    with _One.lock:
        old, _One.guard = _One.guard, g
    if old is not None:
        old.stop()
    g.start()
    return g.status()


def stop() -> bool:
    with _One.lock:
        g, _One.guard = _One.guard, None
    if g is None:
        return False
    g.stop()
    log.info("[memwarden] headroom guard off")
    return True


def current() -> Guard | None:
    return _One.guard


def status() -> GuardStatus:
    g = _One.guard
    if g is not None:
        return g.status()
    r = HeadroomWatch()
    return GuardStatus(running=False, watching="not started", reserve_bytes=r.reserve, reading=r.read())
