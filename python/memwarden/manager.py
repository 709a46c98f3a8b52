"""The background memory manager: one per process, whatever the number of nodes.

It wakes on events, not only on a clock: ComfyUI's prompt boundaries (through
:mod:`memwarden.events`, fed by ComfyUI's hooks; it acts once ComfyUI's own post-prompt cleanup has
run), memory pressure (a PSI trigger polled by the core with the GIL released, or
1 Hz sampling where no trigger can be registered) and a periodic check of the RAM
(container limit) and per-GPU VRAM thresholds. What to do each time is the core's
decision (:class:`memwarden._native.ManagerPolicy`: warning and critical levels
with a hysteresis, cooldown, escalation Conservative → Balanced → Aggressive while
pressure persists, back-off after actions that freed nothing, only a heap trim
during a running node and only when critical); this module carries it out through
the cleanup pipeline and records every action, and every fault, in a history file.

    import memwarden.manager as mm
    mm.start(mode="balanced", ram_warning=80, ram_critical=92)
    print(mm.status().text)
    print(mm.stats().freed_total_bytes)
    mm.stop()

A fault in a step (an exception, NVML lost) is recorded and the manager keeps
running; if its worker thread dies anyway, a supervisor restarts it (logged and
counted in the status).
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import memwarden._native as _native  # noqa: PLR0402 - the extension module itself, not the package namespace

from . import _paths, events
from ._native import ManagerAction, ManagerDecision, ManagerPolicy, ManagerStats, PressureWatch, Snapshot
from .cleanup import (
    CleanupContext,
    CleanupReport,
    _validated,
    comfy_model_management,
    own_rss,
    planned_steps,
    prompt_queue,
    raised,
    run_steps,
    vram_used,
)
from .torch_memory import loaded_torch

log = logging.getLogger("memwarden.manager")

__all__ = [
    "ManagerSettings",
    "ManagerStatus",
    "default_history_path",
    "history",
    "running",
    "start",
    "stats",
    "status",
    "stop",
    "wake",
]


#: The core's defaults of the manager's policy (``policy::escalation``'s
#: ``ManagerConfig::default()``): the settings below take them, never a copy.
_CORE: dict[str, Any] = _native.default_manager_config()
#: ... and of how its threads run (``ManagerRunner::default()``).
_RUN: dict[str, Any] = _native.default_manager_runner()


@dataclass(frozen=True)
class ManagerSettings:
    """What the manager does (every field checked by the core before it starts).

    ``mode``: the cleanup mode it starts from (monitor never acts). ``ram_*``:
    percent of effective (container) RAM; ``vram_*``: percent of any one GPU.
    ``cooldown_s`` between cleanups; ``escalate``: raise the mode while pressure
    persists; ``trim_between_prompts``: return freed heap after each prompt;
    ``allow_cache_drop``: at the critical level during a running node, drop the page
    cache too (root). ``check_s``: the threshold check's period while a PSI trigger
    watches pressure (without one, ``sample_s``). ``settle_s``: how long to let
    ComfyUI's own post-prompt cleanup run before acting. ``history_keep``: actions
    kept in memory and in the file; ``history_file``: None = the default place
    (:func:`default_history_path`)."""

    mode: str = _CORE["mode"]
    ram_warning: float = _CORE["ram_warning"]
    ram_critical: float = _CORE["ram_critical"]
    vram_warning: float = _CORE["vram_warning"]
    vram_critical: float = _CORE["vram_critical"]
    hysteresis: float = _CORE["hysteresis"]
    cooldown_s: float = _CORE["cooldown_s"]
    escalate: bool = _CORE["escalate"]
    trim_between_prompts: bool = _CORE["trim_between_prompts"]
    allow_cache_drop: bool = _CORE["allow_cache_drop"]
    min_freed_bytes: int = _CORE["min_freed_bytes"]
    max_backoff_s: float = _CORE["max_backoff_s"]
    use_psi: bool = _RUN["use_psi"]
    check_s: float = _RUN["check_s"]
    sample_s: float = _RUN["sample_s"]
    settle_s: float = _RUN["settle_s"]
    history_keep: int = _RUN["history_keep"]
    history_file: str | None = _RUN["history_file"]

    def runner(self) -> dict[str, Any]:
        """The core's ManagerRunner fields of these settings (how the threads run)."""
        return {k: getattr(self, k) for k in _RUN}

    def policy_config(self) -> dict[str, Any]:
        """The core's ManagerConfig fields of these settings."""
        keys = _native.default_manager_config().keys()
        d = {k: v for k, v in asdict(self).items() if k in keys}
        d["mode"] = _native.normalize_mode(self.mode)
        return d


_SETTING_NAMES = {f.name for f in fields(ManagerSettings)}


def default_history_path() -> Path:
    """Inside ComfyUI: ``<user directory>/memwarden/history.jsonl``; else
    ``$XDG_STATE_HOME/memwarden/history.jsonl`` (``~/.local/state`` by default;
    ``%LOCALAPPDATA%`` on Windows), the file ``memwarden history`` reads."""
    return _paths.history_path()


@dataclass
class ManagerStatus:
    """The manager now: running or not, how it watches pressure, its level and
    escalation, the counters, and the last action."""

    running: bool
    watch: str
    settings: dict[str, Any]
    policy_state: dict[str, Any]
    history_file: str
    wakes: dict[str, int] = field(default_factory=dict)
    #: Prompt ends ComfyUI reported, and those handled together with a later one.
    prompt_ends: int = 0
    coalesced: int = 0
    thread_ids: dict[str, int] = field(default_factory=dict)
    actions: int = 0
    faults: int = 0
    restarts: int = 0
    last_action: ManagerAction | None = None
    last_fault: str | None = None

    @property
    def text(self) -> str:
        """The status in words, one figure a line (rendered by the core)."""
        st = self.policy_state
        return _native.manager_status_text(
            {
                "running": self.running,
                "mode": str(self.settings.get("mode")),
                "watch": self.watch,
                "level": st.get("level", "normal"),
                "escalation": st.get("escalation", 0),
                "fruitless": st.get("fruitless", 0),
                "history_file": self.history_file,
                "wakes": list(self.wakes.items()),
                "prompt_ends": self.prompt_ends,
                "coalesced": self.coalesced,
                "threads": list(self.thread_ids.items()),
                "actions": self.actions,
                "faults": self.faults,
                "restarts": self.restarts,
                "last_action": None if self.last_action is None else self.last_action.to_dict(),
                "last_fault": self.last_fault,
            }
        )


def _now_ms() -> int:
    return int(time.time() * 1000)


def heap_trim_steps(drop_cache: bool) -> list[dict[str, Any]]:
    """The non-disruptive action (and, if asked, the page cache dropped): the core's
    plan (``_native.heap_trim_steps``: no gc pass, as ComfyUI's post-prompt cleanup
    runs one and a full collection of its heap holds the GIL for hundreds of
    milliseconds), each step run and measured by the cleanup's one runner."""
    opts = _validated("monitor", {"purge_cache": drop_cache})
    report = CleanupReport(mode="trim")
    run_steps(_native.heap_trim_steps(drop_cache), CleanupContext(opts, report, lambda _line: None))
    return [s.record() for s in report.steps]


def cleanup_steps(mode: str, say: Callable[[str], None]) -> tuple[list[dict[str, Any]], int]:
    """The cleanup pipeline in ``mode`` (memwarden.cleanup's steps, as the core plans
    them, run and measured by its one runner); returns the steps and the VRAM it
    freed in total (VRAM is measured once around the whole pipeline)."""
    opts = _validated(mode, {"log": say})
    torch = loaded_torch()
    vram0 = vram_used(_native.snapshot(top=0), torch)
    report = CleanupReport(mode=opts.mode)
    ctx = CleanupContext(opts, report, say, torch, comfy_model_management(), prompt_queue())
    run_steps(planned_steps(ctx), ctx)
    vram1 = vram_used(_native.snapshot(top=0), torch)
    vram_freed = (vram0 - vram1) if vram0 is not None and vram1 is not None else 0
    return [s.record() for s in report.steps], vram_freed


class Manager:
    """One background manager (use the module functions: one per process).

    ``clock``: the policy's monotonic clock (tests pass a fake one);
    ``snapshot``: how the figures are read (tests inject faults there)."""

    def __init__(
        self,
        settings: ManagerSettings,
        clock: Callable[[], float] = time.monotonic,
        snapshot: Callable[[], Snapshot] | None = None,
    ) -> None:
        self.settings = settings
        self.policy = ManagerPolicy(settings.policy_config())
        self.clock = clock
        self.snapshot = snapshot or (lambda: _native.snapshot(top=0))
        self.events: queue.SimpleQueue[tuple[str, str]] = queue.SimpleQueue()
        self.stop_event = threading.Event()
        self.died = threading.Event()
        self.lock = threading.Lock()
        self.path = Path(settings.history_file) if settings.history_file else default_history_path()
        self.file: _native.HistoryFile | None = None
        self.actions: deque[ManagerAction] = deque(maxlen=settings.history_keep)
        self.wakes: dict[str, int] = {}
        self.prompt_ends = 0
        self.coalesced = 0
        #: The OS thread id of each of the manager's threads (to measure their CPU).
        self.tids: dict[str, int] = {}
        self.counts = {"actions": 0, "faults": 0, "restarts": 0}
        self.last_fault: str | None = None
        self.watch: PressureWatch | None = None
        self.watch_text = "not started"
        self.worker: threading.Thread | None = None
        self.threads: list[threading.Thread] = []
        self.unsubscribe: Callable[[], None] | None = None
        self.say: Callable[[str], None] = log.info

    # -- life cycle -------------------------------------------------------------

    def start(self) -> None:
        self._open_history()
        self._open_watch()
        self.unsubscribe = events.subscribe(self._on_event)
        self._spawn_worker()
        self._spawn(self._supervise, "memwarden-manager-supervisor")
        if self.watch is not None and self.watch.is_trigger:
            self._spawn(self._watch_pressure, "memwarden-manager-psi")
        log.info("[memwarden] manager started (%s); %s", self.settings.mode, self.watch_text)

    def stop(self, timeout_s: float = 5.0) -> None:
        self.stop_event.set()
        self.died.set()  # wakes the supervisor, which sees the stop
        if self.unsubscribe is not None:
            self.unsubscribe()
        self.events.put(("stop", ""))
        for t in [*self.threads, self.worker]:
            if t is not None and t is not threading.current_thread():
                t.join(timeout_s)
        log.info("[memwarden] manager stopped")

    def alive(self) -> bool:
        return self.worker is not None and self.worker.is_alive() and not self.stop_event.is_set()

    def _spawn(self, target: Callable[[], None], name: str) -> threading.Thread:
        t = threading.Thread(target=target, name=name, daemon=True)
        t.start()
        self.threads.append(t)
        return t

    def _spawn_worker(self) -> None:
        self.died.clear()
        self.worker = threading.Thread(target=self._run_worker, name="memwarden-manager", daemon=True)
        self.worker.start()

    def _open_history(self) -> None:
        try:
            held, skipped = _native.read_history(self.path)
            self.actions.extend(held[-self.settings.history_keep :])
            if skipped:
                log.warning("[memwarden] %s: %d malformed line(s) skipped", self.path, skipped)
            self.file = _native.HistoryFile(self.path, self.settings.history_keep)
        except _native.MemwardenError as e:
            self.file = None
            self._fault({"fault": "history_unusable", "path": str(self.path), "error": raised(e)})

    def _open_watch(self) -> None:
        s = self.settings
        if s.use_psi:
            self.watch = PressureWatch(sample_s=s.sample_s)
        else:
            self.watch = PressureWatch(sample_s=s.sample_s, sampling=True)
        self.watch_text = self.watch.description
        if self.watch.is_trigger:
            self.watch_text += f"; thresholds checked every {s.check_s:g} s"

    # -- threads ----------------------------------------------------------------

    def _run_worker(self) -> None:
        self.tids["worker"] = threading.get_native_id()
        try:
            self._loop()
        except BaseException as e:  # noqa: BLE001 - the supervisor restarts us
            self._fault({"fault": "thread_died", "error": raised(e)})
            log.error("[memwarden] manager thread died:\n%s", traceback.format_exc())
        finally:
            if not self.stop_event.is_set():
                self.died.set()

    def _supervise(self) -> None:
        """Restart the worker whenever it dies (1 s, then doubling up to 60 s, so a
        fault that kills it at once does not spin)."""
        self.tids["supervisor"] = threading.get_native_id()
        while not self.stop_event.is_set():
            if not self.died.wait(timeout=3600.0) or self.stop_event.is_set():
                continue
            if self.stop_event.wait(_native.restart_delay_s(self.counts["restarts"])):
                return
            with self.lock:
                self.counts["restarts"] += 1
            self._record_fault("supervisor", {"fault": "thread_restarted"})
            log.warning("[memwarden] manager thread restarted (%d so far)", self.counts["restarts"])
            self._spawn_worker()

    def _watch_pressure(self) -> None:
        """Block on the PSI trigger (the GIL released) and queue a wake when it fires."""
        assert self.watch is not None
        self.tids["psi"] = threading.get_native_id()
        while not self.stop_event.is_set():
            try:
                if self.watch.wait(1.0):
                    self.events.put(("pressure", ""))
            except _native.MemwardenError as e:
                self._record_fault("pressure", {"fault": "psi_lost", "error": raised(e)})
                self.watch = PressureWatch(sample_s=self.settings.sample_s, sampling=True)
                self.watch_text = self.watch.description
                return

    def _on_event(self, ev: Any) -> None:
        """hooks callback (ComfyUI's executor thread): only count and queue it."""
        if ev.kind == "prompt_end":
            self.prompt_ends += 1
            self.events.put(("prompt_end", ev.prompt_id))

    def _coalesce_prompt_ends(self) -> None:
        """Prompt ends queued while we waited for ComfyUI's reset are this same
        boundary, or older ones: one decision covers them (others go back)."""
        others = []
        while True:
            try:
                item = self.events.get_nowait()
            except queue.Empty:
                break
            if item[0] == "prompt_end":
                with self.lock:
                    self.coalesced += 1
            else:
                others.append(item)
        for item in others:
            self.events.put(item)

    def _period(self) -> float:
        w = self.watch
        return self.settings.check_s if w is not None and w.is_trigger else self.settings.sample_s

    def _loop(self) -> None:
        while not self.stop_event.is_set():
            try:
                kind, _ = self.events.get(timeout=self._period())
            except queue.Empty:
                kind = "sample"
            if kind == "stop":
                return
            self.handle(kind)

    # -- one wake -----------------------------------------------------------------

    def handle(self, kind: str) -> ManagerAction | None:
        """Decide and act for one wake; a fault is recorded, never raised."""
        with self.lock:
            self.wakes[kind] = self.wakes.get(kind, 0) + 1
        try:
            if kind == "prompt_end":
                self._wait_for_comfy_reset()
                self._coalesce_prompt_ends()
            running = events.running_prompt() is not None
            decision = self.policy.wake(self.snapshot(), kind, running, self.clock())
        except Exception as e:  # noqa: BLE001 - NVML lost, /proc unreadable...
            return self._record_fault(kind, {"fault": "read_failed", "error": raised(e)})
        if decision.act == "nothing":
            return None
        return self._act(kind, decision)

    def _wait_for_comfy_reset(self, timeout_s: float = 60.0) -> None:
        """ComfyUI's prompt worker, once the executor returns, reads its flags
        (free_memory: unload and reset the caches) and runs gc + soft_empty_cache;
        wait for the flag to be consumed, then ``settle_s``."""
        q = prompt_queue()
        deadline = time.monotonic() + timeout_s
        while q is not None and "free_memory" in getattr(q, "flags", {}) and time.monotonic() < deadline:
            if self.stop_event.wait(0.05):
                return
        self.stop_event.wait(self.settings.settle_s)

    def _act(self, kind: str, d: ManagerDecision) -> ManagerAction:
        t0 = time.perf_counter()
        at = _now_ms()
        rss0 = own_rss()
        error = None
        vram_freed = 0
        try:
            if d.act == "heap_trim":
                steps = heap_trim_steps(d.drop_cache)
            else:
                steps, vram_freed = cleanup_steps(d.mode, self.say)
        except Exception as e:  # noqa: BLE001 - recorded as a failed action
            steps, error = [], raised(e)
        run = {
            "at_unix_ms": at,
            "trigger": kind,
            "steps": steps,
            "freed_bytes": rss0 - own_rss() + vram_freed,
            "duration_ms": (time.perf_counter() - t0) * 1e3,
            "raised": error,
        }
        action = self.policy.record_action(d, run, self.clock())
        self._keep(action)
        if action.error is not None:
            self._fault({"fault": "action_failed", "trigger": kind, "error": action.error})
        return action

    # -- history ----------------------------------------------------------------

    def _keep(self, a: ManagerAction) -> None:
        with self.lock:
            self.actions.append(a)
            self.counts["actions"] += 1
        if self.file is not None:
            try:
                self.file.append(a)
            except _native.MemwardenError as e:
                self.file = None
                self._fault({"fault": "history_unwritable", "path": str(self.path), "error": raised(e)})

    def _fault(self, fault: dict[str, Any]) -> str:
        """Count and log a fault (a dict of the core's Fault); its words."""
        text = _native.fault_text(fault)
        with self.lock:
            self.counts["faults"] += 1
            self.last_fault = text
        log.warning("[memwarden] manager: %s", text)
        return text

    def _record_fault(self, trigger: str, fault: dict[str, Any]) -> ManagerAction:
        """A fault outside any action, as a failed entry of the history."""
        a = self.policy.fault(_now_ms(), trigger, self._fault(fault))
        self._keep(a)
        return a

    def status(self) -> ManagerStatus:
        with self.lock:
            return ManagerStatus(
                running=self.alive(),
                watch=self.watch_text,
                settings=asdict(self.settings),
                policy_state=dict(self.policy.state),
                history_file=str(self.path) if self.file is not None else f"{self.path} (not writable)",
                wakes=dict(self.wakes),
                prompt_ends=self.prompt_ends,
                coalesced=self.coalesced,
                thread_ids=dict(self.tids),
                actions=self.counts["actions"],
                faults=self.counts["faults"],
                restarts=self.counts["restarts"],
                last_action=self.actions[-1] if self.actions else None,
                last_fault=self.last_fault,
            )


# ---------------------------------------------------------------------------
# The one manager of this process
# ---------------------------------------------------------------------------


class _One:
    """The manager of this process (at most one), under ``lock``."""

    lock = threading.Lock()
    manager: Manager | None = None


def _settings(base: ManagerSettings | None, options: dict[str, Any]) -> ManagerSettings:
    unknown = sorted(set(options) - _SETTING_NAMES)
    if unknown:
        raise _native.invalid_input(
            f"unknown manager setting(s) {', '.join(map(repr, unknown))}; known: {', '.join(sorted(_SETTING_NAMES))}"
        )
    s = replace(base or ManagerSettings(), **options)
    ManagerPolicy(s.policy_config())  # checks every policy field (InvalidInput)
    _native.check_manager_runner(s.runner())
    return s


def start(settings: ManagerSettings | None = None, **options: Any) -> ManagerStatus:
    """Start this process's manager, or reconfigure the one already running (its
    memory is kept; a change of pressure watch or history file restarts it).
    Settings are checked first: a bad one raises InvalidInput and nothing changes."""
    with _One.lock:
        current = _One.manager if _One.manager is not None and _One.manager.alive() else None
        s = _settings(settings or (current.settings if current else None), options)
        if current is not None:
            if not _native.manager_restarts(current.settings.runner(), s.runner()):
                current.policy.configure(s.policy_config())
                current.settings = s
                return current.status()
            current.stop()
        _One.manager = Manager(s)
        _One.manager.start()
        return _One.manager.status()


def _start_with(m: Manager) -> Manager:
    """Make ``m`` (built with its own clock or snapshot, for tests) the manager."""
    with _One.lock:
        if _One.manager is not None:
            _One.manager.stop()
        _One.manager = m
        m.start()
        return m


def stop() -> bool:
    """Stop the manager; False when none was running."""
    with _One.lock:
        m, _One.manager = _One.manager, None
    if m is None:
        return False
    m.stop()
    return True


def running() -> bool:
    m = _One.manager
    return m is not None and m.alive()


def current() -> Manager | None:
    return _One.manager


def status() -> ManagerStatus:
    """The manager's status (a stopped one's settings are the defaults)."""
    m = _One.manager
    if m is not None:
        return m.status()
    return ManagerStatus(
        running=False,
        watch="not started",
        settings=asdict(ManagerSettings()),
        policy_state={},
        history_file=str(default_history_path()),
    )


def history(last: int | None = None, path: str | os.PathLike[str] | None = None) -> list[ManagerAction]:
    """The last ``last`` actions (all kept when None), oldest first: the running
    manager's, else those in the history file (``path``, default
    :func:`default_history_path`)."""
    if last is not None:
        _native.check_int("last", last, 1, 10_000_000)
    m = _One.manager
    if m is not None and path is None:
        with m.lock:
            items = list(m.actions)
    else:
        items = _native.read_history(Path(path) if path is not None else default_history_path())[0]
    return items[-last:] if last else items


def stats(path: str | os.PathLike[str] | None = None) -> ManagerStats:
    """Count, freed total, mean duration, per trigger and per step, over
    :func:`history`."""
    return _native.manager_stats(history(path=path))


def wake(kind: str = "manual") -> ManagerAction | None:
    """Wake the manager now, on this thread (``manual`` ignores the cooldown);
    returns the action it took, if any. InvalidInput when none is running."""
    m = _One.manager
    if m is None:
        raise _native.invalid_input("the memwarden manager is not running: call memwarden.manager.start() first")
    return m.handle(kind)
