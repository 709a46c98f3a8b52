"""The cleanup pipeline the nodes run, in-process: the seed's seven steps, each
timed and logged (``[5/7] ...``), ending in a ``CLEANUP RESULTS`` block.

0. unload models through ComfyUI's own model management (inside ComfyUI only);
   in aggressive mode also drop ComfyUI's cached node outputs
1-3. garbage collection passes, with counts
4. torch caches: empty_cache, ipc_collect, peak stats, pinned host cache
5. OS-level trim: return the heap to the OS (malloc_trim; HeapCompact on Windows); in aggressive mode also
   page this process's idle memory out (behind the swap check); if the kernel
   refuses that in-process, fall back to the external helper: the memwarden binary
   named by ``MEMWARDEN_HELPER`` (granted CAP_SYS_NICE with
   ``sudo setcap cap_sys_nice+ep /path/to/memwarden``), else
   ``python -m memwarden trim --pid <self>``, which has only this process's privileges
6. synchronize the GPU
7. final garbage collection; then, optionally, purge the page cache (root)

The core plans the steps (``_native.cleanup_steps``: which run, in what order,
and why the others do not) and words every line; here each action the plan names
is one function of a :class:`CleanupContext` returning an :class:`Outcome`
(:data:`ACTIONS`), and :func:`run_steps` times, logs and records each step.
"""

from __future__ import annotations

import gc
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from functools import partial
from typing import Any, Callable, NamedTuple, Optional

import memwarden._native as _native  # noqa: PLR0402 - the extension module itself, not the package namespace

from ._native import GpuDevice, PageoutReport, Snapshot, Step, SwapVerdict, normalize_mode
from .torch_memory import loaded_torch

log = logging.getLogger("memwarden")

GB = float(1 << 30)


def freed_phrase(gb: float) -> str:
    """``freed 1.234 GB`` for a measured change in GB (positive = freed), worded by
    the core: growth reads ``freed 0.000 GB (grew 0.012 GB)``, never ``-0.000``."""
    return _native.freed_phrase(round(gb * GB))


def round_gb(gb: float) -> float:
    """``gb`` rounded to 3 decimals, with ``-0.0`` made ``0.0`` (the sign stays for a
    real negative: memory that grew)."""
    return round(gb, 3) + 0.0


@dataclass
class CleanupStep:
    index: int
    name: str
    ok: bool
    detail: str
    duration_ms: float
    skipped: bool = False
    #: What the step freed: its own figure (models released, moved to swap), else
    #: this process's resident memory across it (negative: it grew); None for a
    #: skipped step.
    freed_bytes: int | None = None

    def record(self) -> dict[str, Any]:
        """The step as the manager's history records it (a ``ManagerStep``)."""
        return {
            "name": self.name,
            "ok": self.ok,
            "skipped": self.skipped,
            "detail": self.detail,
            "freed_bytes": self.freed_bytes,
            "duration_ms": self.duration_ms,
        }


@dataclass
class CleanupReport:
    """What a cleanup did, with the figures measured before and after."""

    mode: str
    steps: list[CleanupStep] = field(default_factory=list)
    process_rss_before_bytes: int = 0
    process_rss_after_bytes: int = 0
    ram_used_before_bytes: int = 0
    ram_used_after_bytes: int = 0
    ram_total_bytes: int = 0
    ram_source: str = "host"
    vram_used_before_bytes: int | None = None
    vram_used_after_bytes: int | None = None
    duration_s: float = 0.0
    deferred_trim_scheduled: bool = False
    #: Windows: each drive holding a page file and its free space in bytes (None
    #: when unreadable), as the trim must page out onto it. Empty on Linux.
    page_file_drives: list[tuple[str, int | None]] = field(default_factory=list)
    #: Windows: the privileges the trim asked for, each granted or not
    #: ("SeIncreaseQuotaPrivilege=YES, ..."); None when no trim ran (and on Linux).
    privileges: str | None = None

    @property
    def freed(self) -> tuple[int, int, int, int]:
        """What it freed, as the core counts it: (process RSS, RAM used under the
        binding limit, VRAM (0 without a GPU figure), process RSS plus VRAM), bytes,
        as measured: negative where it grew (e.g. weights moved from VRAM to RAM)."""
        return _native.cleanup_freed(self._fields())

    @property
    def process_freed_bytes(self) -> int:
        return self.freed[0]

    @property
    def ram_freed_bytes(self) -> int:
        return self.freed[1]

    @property
    def vram_freed_bytes(self) -> int:
        return self.freed[2]

    @property
    def freed_gb(self) -> float:
        """Process RAM freed plus VRAM freed, in GB (2^30)."""
        return self.freed[3] / GB

    @property
    def text(self) -> str:
        """The report in words (rendered by the core: its steps, then CLEANUP
        RESULTS)."""
        return _native.cleanup_text(self._fields())

    def _fields(self) -> dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items() if k != "steps"}
        d["steps"] = [s.__dict__.copy() for s in self.steps]
        return d

    def to_dict(self) -> dict[str, Any]:
        d = self._fields()
        process, ram, vram, total = _native.cleanup_freed(d)
        d.update(process_freed_bytes=process, ram_freed_bytes=ram, vram_freed_bytes=vram, freed_gb=total / GB)
        return d


@dataclass
class CleanupOptions:
    """Which steps run. ``None`` means "as the mode says"."""

    mode: str = "balanced"
    unload_models: bool | None = None
    drop_node_cache: bool | None = None
    gc_passes: int | None = None
    torch_cache: bool = True
    reset_peak_stats: bool | None = None
    os_trim: bool = True
    pageout_self: bool | None = None
    external_helper: bool = True
    swap_check: bool = True
    min_swap_free: int | str = _native.DEFAULT_MIN_SWAP_FREE
    sync_gpu: bool = True
    purge_cache: bool = False
    log: Callable[[str], None] | None = None
    #: How a swap check's refusal names the override and the margin: by default this
    #: API's ``swap_check=False`` and ``min_swap_free``; a node passes its own inputs.
    swap_force_hint: str = "pass swap_check=False"
    swap_margin_hint: str = "min_swap_free"


_FLAGS = ("torch_cache", "os_trim", "external_helper", "swap_check", "sync_gpu", "purge_cache")
_AUTO_FLAGS = ("unload_models", "drop_node_cache", "reset_peak_stats", "pageout_self")


def _validated(mode: Any, options: dict[str, Any]) -> CleanupOptions:
    """The options of one cleanup, every one checked before any step runs: a bad
    value raises InvalidInput and nothing has changed."""
    known = [f.name for f in fields(CleanupOptions) if f.name != "mode"]
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise _native.invalid_input(
            f"unknown cleanup option(s) {', '.join(map(repr, unknown))}; known: {', '.join(known)}"
        )
    o = CleanupOptions(mode=normalize_mode(mode), **options)
    for name in _FLAGS:
        _native.check_flag(name, getattr(o, name))
    for name in _AUTO_FLAGS:
        if getattr(o, name) is not None:
            _native.check_flag(name, getattr(o, name))
    if o.gc_passes is not None:
        o.gc_passes = _native.check_int("gc_passes", o.gc_passes, 0, 3)
    o.min_swap_free = _native.check_size("min_swap_free", o.min_swap_free)
    if o.log is not None and not callable(o.log):
        raise _native.invalid_input(f"log must be a callable taking one string, or None, got {o.log!r}")
    for name in ("swap_force_hint", "swap_margin_hint"):
        value = getattr(o, name)
        if not isinstance(value, str) or not value.strip():
            raise _native.invalid_input(f"{name} must be a non-empty string, got {value!r}")
    return o


def cuda_devices(torch: Any | None) -> tuple[list[int], str]:
    """The CUDA devices ``torch`` sees, and, when it sees none, why (torch not
    loaded, a build without CUDA, no driver or GPU visible, a broken CUDA setup;
    worded by the core): never a silent empty list."""
    absence: dict[str, Any] = {"torch_loaded": torch is not None}
    if torch is not None:
        try:
            if torch.cuda.is_available() and int(torch.cuda.device_count()) > 0:
                return list(range(int(torch.cuda.device_count()))), ""
        except Exception as e:  # noqa: BLE001 - a broken CUDA setup is reported, never raised
            absence["error"] = raised(e)
        version = getattr(torch, "version", None)
        absence["torch_version"] = str(getattr(torch, "__version__", "?"))
        absence["built_cuda"] = getattr(version, "cuda", None)
        absence["built_hip"] = getattr(version, "hip", None)
        absence["visible_devices"] = os.environ.get("CUDA_VISIBLE_DEVICES")
    return [], _native.no_cuda_reason(absence)


@dataclass
class TorchCacheReport:
    """What :func:`empty_torch_caches` did, per CUDA device (bytes)."""

    devices: list[int] = field(default_factory=list)
    reserved_before: list[int] = field(default_factory=list)
    reserved_after: list[int] = field(default_factory=list)
    free_total: list[tuple[int, int]] = field(default_factory=list)
    #: The calls made: empty_cache, ipc_collect, synchronize.
    calls: list[str] = field(default_factory=list)
    peak_stats_reset: bool = False
    #: What happened to the pinned host cache, if it was asked for.
    host_note: str = ""
    #: Why there was no CUDA device ("" when there was one).
    no_cuda: str = ""

    @property
    def freed_bytes(self) -> int:
        """Reserved (cached) VRAM released, over the devices it ran on."""
        return sum(self.reserved_before) - sum(self.reserved_after)

    @property
    def detail(self) -> str:
        """One line: what ran, and reserved VRAM before -> after (cleanup step 4),
        worded by the core."""
        return _native.torch_cache_detail(asdict(self))

    def device_lines(self, gpus: Sequence[GpuDevice] = ()) -> list[str]:
        """Per device: reserved before -> after (and the driver's free/total when
        asked for); or, with no CUDA device, why (the VRAM Optimizer's report).
        ``gpus`` (a snapshot's) name each CUDA device by its NVML index and UUID."""
        return _native.torch_cache_lines(asdict(self), list(gpus))


@dataclass(frozen=True)
class TorchCalls:
    """Which calls the torch step makes besides ``empty_cache``: the cleanup's
    defaults, or the VRAM Optimizer's choice per mode."""

    ipc_collect: bool = True
    synchronize: bool = False
    reset_peak_stats: bool = True
    #: The pinned host cache (``torch._C._host_emptyCache``).
    host_cache: bool = True
    #: Also read the driver's free/total (opens a CUDA context on an unused device).
    driver_free: bool = False


def empty_torch_caches(
    torch: Any | None, devices: list[int] | None = None, calls: TorchCalls | None = None
) -> TorchCacheReport:
    """The torch step, shared by the cleanup (step 4) and the VRAM Optimizer node.

    ``empty_cache`` (which releases the caching allocator's free blocks on every
    device), then what ``calls`` asks for: ``ipc_collect``, ``synchronize`` of each
    device in ``devices`` (default: every one torch sees) and the reset of their
    peak statistics; reserved VRAM is measured on ``devices`` before and after, and
    with ``driver_free`` the driver's free/total too. With ``host_cache`` also the
    pinned host cache. With no CUDA device it does nothing on a device and the
    report says why (:func:`cuda_devices`)."""
    calls = calls or TorchCalls()
    visible, why = cuda_devices(torch)
    r = TorchCacheReport(no_cuda="" if visible else why)
    if torch is not None and visible:
        r.devices = list(visible if devices is None else devices)
        _empty_device_caches(torch, r, calls)
    if calls.host_cache and torch is not None:
        r.host_note = _empty_host_cache(torch, bool(visible))
    return r


def _empty_device_caches(torch: Any, r: TorchCacheReport, calls: TorchCalls) -> None:
    r.reserved_before = [int(torch.cuda.memory_reserved(d)) for d in r.devices]
    torch.cuda.empty_cache()
    r.calls.append("empty_cache")
    if calls.ipc_collect:
        torch.cuda.ipc_collect()
        r.calls.append("ipc_collect")
    if calls.synchronize:
        for d in r.devices:
            torch.cuda.synchronize(d)
        r.calls.append("synchronize")
    if calls.reset_peak_stats:
        for d in r.devices:
            torch.cuda.reset_peak_memory_stats(d)
        r.peak_stats_reset = True
    r.reserved_after = [int(torch.cuda.memory_reserved(d)) for d in r.devices]
    if calls.driver_free:
        for d in r.devices:
            free, total = torch.cuda.mem_get_info(d)
            r.free_total.append((int(free), int(total)))


def _empty_host_cache(torch: Any, cuda: bool) -> str:
    """Empty the pinned host cache (only where CUDA is there to have filled it)."""
    host_empty = getattr(torch._C, "_host_emptyCache", None)
    if host_empty is None:
        return "this torch has no pinned host cache API"
    if cuda:
        host_empty()
        return "pinned host cache emptied"
    return ""


# ---------------------------------------------------------------------------
# ComfyUI and the measurements
# ---------------------------------------------------------------------------


def comfy_model_management() -> Any | None:
    """ComfyUI's ``comfy.model_management`` when running inside ComfyUI, else None."""
    return sys.modules.get("comfy.model_management")


def prompt_queue() -> Any | None:
    """ComfyUI's prompt queue when running inside its server, else None."""
    server = sys.modules.get("server")
    inst = getattr(getattr(server, "PromptServer", None), "instance", None)
    return getattr(inst, "prompt_queue", None)


def page_file_drives(snap: Snapshot) -> list[tuple[str, int | None]]:
    """Each drive holding a page file, once, with its free space (Windows; empty
    on Linux, where the snapshot lists no page files)."""
    drives: dict[str, int | None] = {}
    for f in snap.system.page_files:
        drives.setdefault(f.drive, f.drive_free_bytes)
    return list(drives.items())


def granted_privileges(steps: list[Step]) -> str | None:
    """What the trim's privileges step says of each Windows privilege
    ("SeIncreaseQuotaPrivilege=YES, SeDebugPrivilege=NO"); None when it names none
    (Linux's step speaks of capabilities)."""
    for step in steps:
        if step.name == "privileges" and "Privilege=" in step.detail:
            return step.detail.split(";")[0].strip()
    return None


def _measure() -> tuple[int, Snapshot]:
    """This process's RSS and the machine, from one snapshot (it includes the caller)."""
    snap = _native.snapshot(top=0)
    return (snap.process.rss_bytes if snap.process else 0), snap


def vram_used(snap: Snapshot, torch: Any | None) -> int | None:
    """VRAM in use over every GPU: the core's figure from ``snap`` (NVML), else (no
    NVML) the driver's through torch; None when neither sees a GPU."""
    used = snap.status().vram_used_bytes
    if used is not None:
        return used
    devices = cuda_devices(torch)[0]
    if torch is None or not devices:
        return None
    total = 0
    for i in devices:  # NVML missing but torch sees a GPU
        free, tot = torch.cuda.mem_get_info(i)
        total += tot - free
    return int(total)


def collect_garbage() -> str:
    """One ``gc.collect()`` pass, in words."""
    return _native.step_done({"done": "collected", "objects": gc.collect()})


def unload_comfy_models(mm: Any) -> str:
    """Unload every model through ComfyUI's own model management ``mm``
    (``unload_all_models``, ``cleanup_models_gc`` where this ComfyUI has it,
    ``cleanup_models``, ``soft_empty_cache``) and say what happened, pinned host
    memory included where ComfyUI tracks it. Shared by the cleanup (step 0) and the
    VRAM nodes."""
    n = len(getattr(mm, "current_loaded_models", []))
    pinned0 = getattr(mm, "TOTAL_PINNED_MEMORY", None)
    mm.unload_all_models()
    if hasattr(mm, "cleanup_models_gc"):
        mm.cleanup_models_gc()
    mm.cleanup_models()
    mm.soft_empty_cache()
    pinned1 = None if pinned0 is None else getattr(mm, "TOTAL_PINNED_MEMORY", 0)
    return _native.step_done(
        {"done": "unloaded", "models": n, "pinned_before_bytes": pinned0, "pinned_after_bytes": pinned1}
    )


#: Return this process's free heap to the OS (malloc_trim on Linux, HeapCompact on
#: Windows) and say what it did.
trim_heap_detail = _native.trim_heap_detail


class _Deferred:
    """At most one deferred trim waits at a time; ``requests`` counts the cleanups
    that asked for one, so a request made while the waiter trims is not lost."""

    lock = threading.Lock()
    pending = False
    requests = 0


def _schedule_deferred_trim(
    queue: Any,
    say: Callable[[str], None],
    timeout_s: float = 3600.0,
    settle_s: float = 1.0,
) -> bool:
    """After ComfyUI consumes the ``free_memory`` flag (after the current prompt) and
    runs its own gc + soft_empty_cache, return the freed heap to the OS as well.

    A cleanup in the next queued prompt may ask again while the waiter is already
    past the first reset; the waiter then waits for that prompt's reset too and
    trims again, so every reset that a cleanup asked for is followed by a trim."""
    with _Deferred.lock:
        _Deferred.requests += 1
        if _Deferred.pending:
            return True
        _Deferred.pending = True

    def wait_for_reset() -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            flags = getattr(queue, "flags", {})
            if "free_memory" not in flags:
                return
            time.sleep(0.2)

    def wait_and_trim() -> None:
        while True:
            with _Deferred.lock:
                seen = _Deferred.requests
            try:
                wait_for_reset()
                # ComfyUI's prompt_worker runs gc.collect() + soft_empty_cache() right
                # after reading the flags; give it a moment, then trim.
                time.sleep(settle_s)
                gc.collect()
                r = _native.trim_heap()
                done = {"done": "deferred_trim", "rss_before_bytes": r.rss_before_bytes}
                say(_native.step_done({**done, "rss_after_bytes": r.rss_after_bytes}))
            except Exception as e:  # noqa: BLE001 - a background helper must never raise
                say(_native.step_done({"done": "deferred_trim_failed", "error": str(e)}))
            with _Deferred.lock:
                if _Deferred.requests == seen:
                    _Deferred.pending = False
                    return

    threading.Thread(target=wait_and_trim, name="memwarden-deferred-trim", daemon=True).start()
    return True


#: Names the external helper: a native ``memwarden`` binary granted CAP_SYS_NICE.
HELPER_ENV = "MEMWARDEN_HELPER"
#: How a user sets up the helper so that it can do what this process could not.
HELPER_SETUP = _native.HELPER_SETUP


class HelperUnusable(Exception):
    """MEMWARDEN_HELPER names nothing that can be run; nothing was run."""


@dataclass
class ExternalHelper:
    """The command the external-helper fallback runs (``argv`` + ``trim ...``)."""

    argv: list[str]
    #: How reports name it: the binary's path, or ``python -m memwarden``.
    name: str
    #: True for the default ``python -m memwarden``: this process's own credentials.
    own_privileges: bool


def external_helper() -> ExternalHelper:
    """The helper the fallback runs: the executable named by ``MEMWARDEN_HELPER``
    (a native memwarden binary granted CAP_SYS_NICE with
    ``sudo setcap cap_sys_nice+ep /path/to/memwarden``), or, when it is unset,
    ``python -m memwarden``, which runs with this process's own privileges.

    Raises HelperUnusable, saying why (the core checks the path), when
    ``MEMWARDEN_HELPER`` is set but is not an absolute path to an existing
    executable file."""
    path, problem = _native.helper_choice(os.environ.get(HELPER_ENV, ""))
    if problem is not None:
        raise HelperUnusable(problem)
    if path is None:
        return ExternalHelper([sys.executable, "-m", "memwarden"], "python -m memwarden", own_privileges=True)
    return ExternalHelper([path], path, own_privileges=False)


class HelperError(NamedTuple):
    """The external helper refused or failed: its ``--json`` error (``kind`` and
    ``exit_code`` as the memwarden command reports them, and for a refusal of the
    swap check its verdict, to be worded in the caller's terms), or why it gave none.
    A tuple, as the core's ``helper_answer`` returns it and ``helper_attempt`` takes it."""

    error: str
    kind: str = ""
    exit_code: int | None = None
    swap_check: SwapVerdict | None = None


def run_external_helper(
    pid: int, opts: CleanupOptions, helper: ExternalHelper | None = None
) -> PageoutReport | HelperError:
    """``<helper> trim --pid <pid> --json``: the seed's helper fallback. Returns the
    helper's pageout report, or what it said when it refused or failed; never
    raises for a helper that cannot run or answers nonsense."""
    helper = helper or external_helper()
    cmd = [*helper.argv, "trim", "--pid", str(pid), "--json"]
    cmd += ["--min-swap-free", str(opts.min_swap_free)]
    if not opts.swap_check:
        cmd.append("--force")
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    except (OSError, subprocess.SubprocessError) as e:
        return HelperError(f"could not run {helper.name}: {e}")
    answer = _native.helper_answer(helper.name, out.stdout, out.stderr, out.returncode)
    return answer if isinstance(answer, PageoutReport) else HelperError(*answer)


# ---------------------------------------------------------------------------
# The steps
# ---------------------------------------------------------------------------


@dataclass
class CleanupContext:
    """What the steps of one cleanup share."""

    opts: CleanupOptions
    report: CleanupReport
    say: Callable[[str], None]
    torch: Any | None = None
    #: ComfyUI's ``comfy.model_management`` (None outside ComfyUI).
    mm: Any | None = None
    #: ComfyUI's prompt queue (None outside its server).
    queue: Any | None = None


@dataclass(frozen=True)
class Outcome:
    """What one step did: ``ok`` and the line it logs; ``freed_bytes`` when the step
    measures what it freed itself (the models it released, what it moved to swap),
    else the runner measures this process's resident memory across it."""

    ok: bool
    detail: str
    skipped: bool = False
    freed_bytes: int | None = None


def done(detail: str) -> Outcome:
    return Outcome(True, detail)


# Each action of the core's plan (``_native.cleanup_steps``), by its kind: what must
# run in this process, worded by the core. Which steps run, and why the others do
# not, is the core's decision.


def act_unload_models(ctx: CleanupContext, _action: dict[str, Any]) -> Outcome:
    """0: unload every model through ComfyUI."""
    return done(unload_comfy_models(ctx.mm))


def act_drop_node_cache(ctx: CleanupContext, _action: dict[str, Any]) -> Outcome:
    """0: ask ComfyUI to drop its cached node outputs after the current prompt (as
    ``POST /free`` does) and trim the heap once it has."""
    assert ctx.queue is not None  # the core plans this step only with a prompt queue
    ctx.queue.set_flag("free_memory", True)
    ctx.report.deferred_trim_scheduled = _schedule_deferred_trim(ctx.queue, ctx.say)
    return done(_native.step_done({"done": "drop_requested"}))


def act_collect_garbage(_ctx: CleanupContext, _action: dict[str, Any]) -> Outcome:
    """1-3 and 7: a garbage collection pass."""
    return done(collect_garbage())


def act_torch_caches(ctx: CleanupContext, action: dict[str, Any]) -> Outcome:
    """4: the torch caches, with the function the VRAM Optimizer node runs."""
    calls = TorchCalls(reset_peak_stats=bool(action["reset_peak_stats"]))
    return done(empty_torch_caches(ctx.torch, calls=calls).detail)


def act_os_trim(ctx: CleanupContext, action: dict[str, Any]) -> Outcome:
    """5: return the heap to the OS; with ``pageout`` also page this process out."""
    parts = [trim_heap_detail()]
    ok = True
    if action["pageout"]:
        ok, more = pageout_self(ctx.opts, ctx.report)
        parts += more
    return Outcome(ok, "; ".join(parts))


def pageout_self(opts: CleanupOptions, report: CleanupReport | None = None) -> tuple[bool, list[str]]:
    """Page this process's idle memory out behind the swap check; when the kernel
    refuses it in-process, the external helper (if allowed). ``ok`` and what
    happened, in parts of the step's line (worded by the core); the privileges
    granted go to ``report``."""
    pid = os.getpid()
    try:
        r = _native.trim_process(
            pid,
            min_swap_free=opts.min_swap_free,
            force=not opts.swap_check,
            force_hint=opts.swap_force_hint,
            margin_hint=opts.swap_margin_hint,
        )
    except _native.SwapRefused as e:
        return _native.pageout_attempt({"outcome": "swap_refused", "said": str(e)})
    except (_native.Unsupported, _native.PermissionDenied) as e:
        if not opts.external_helper:
            return _native.pageout_attempt({"outcome": "failed", "error": str(e)})
        return pageout_with_helper(pid, opts, e)
    if report is not None:
        report.privileges = granted_privileges(r.steps)
    return _native.paged_out(r)


def pageout_with_helper(pid: int, opts: CleanupOptions, refused: Exception) -> tuple[bool, list[str]]:
    """The fallback after the in-process pageout was ``refused``: the external helper."""
    try:
        helper = external_helper()
    except HelperUnusable as bad:
        return _native.pageout_attempt({"outcome": "helper_unusable", "refused": str(refused), "why": str(bad)})
    result = run_external_helper(pid, opts, helper)
    answer = (
        result
        if isinstance(result, PageoutReport)
        else (result.error, result.kind, result.exit_code, result.swap_check)
    )
    refusal = str(refused)
    hints = (opts.swap_force_hint, opts.swap_margin_hint)
    return _native.helper_attempt(refusal, helper.name, helper.own_privileges, answer, *hints)


def act_gpu_sync(ctx: CleanupContext, _action: dict[str, Any]) -> Outcome:
    """6: wait for every CUDA device to finish its queued work."""
    devices = cuda_devices(ctx.torch)[0]
    for d in devices:  # none without torch: the core plans this step only with a device
        ctx.torch.cuda.synchronize(d)  # type: ignore[union-attr]
    return done(_native.step_done({"done": "synchronized", "devices": len(devices)}))


def act_purge_cache(_ctx: CleanupContext, _action: dict[str, Any]) -> Outcome:
    """7: drop the page cache (root)."""
    try:
        r = _native.purge_cache()
    except (_native.PermissionDenied, _native.Unsupported) as e:
        return Outcome(False, str(e))
    return done(_native.step_done({"done": "cache_dropped", "bytes": r.cache_dropped_bytes}))


ACTIONS: dict[str, Callable[[CleanupContext, dict[str, Any]], Outcome]] = {
    "unload_models": act_unload_models,
    "drop_node_cache": act_drop_node_cache,
    "collect_garbage": act_collect_garbage,
    "torch_caches": act_torch_caches,
    "os_trim": act_os_trim,
    "gpu_sync": act_gpu_sync,
    "purge_cache": act_purge_cache,
}

#: A step of the core's plan: (index, name, action or None, why it is skipped or None).
PlannedStep = tuple[int, str, Optional[dict[str, Any]], Optional[str]]

#: The options the core's plan reads (the rest are for the pageout's swap check).
_CHOICES = (
    "mode",
    "unload_models",
    "drop_node_cache",
    "gc_passes",
    "reset_peak_stats",
    "pageout_self",
    "torch_cache",
    "os_trim",
    "sync_gpu",
    "purge_cache",
)


def planned_steps(ctx: CleanupContext) -> list[PlannedStep]:
    """The steps of this cleanup in order, as the core plans them from the options
    and what this process holds."""
    devices, no_cuda = cuda_devices(ctx.torch)
    facts = {
        "in_comfyui": ctx.mm is not None,
        "prompt_queue": ctx.queue is not None,
        "torch_loaded": ctx.torch is not None,
        "cuda_devices": len(devices),
        "no_cuda": no_cuda,
    }
    return _native.cleanup_steps({name: getattr(ctx.opts, name) for name in _CHOICES}, facts)


def own_rss() -> int:
    """This process's resident memory (RSS; the working set on Windows)."""
    return int(_native.process_memory(os.getpid(), False).rss_bytes)


def raised(e: BaseException) -> str:
    """An exception as the reports quote it: ``TypeName: message``."""
    return f"{type(e).__name__}: {e}"


def measure_step(index: int, name: str, run: Callable[[], Outcome | None]) -> CleanupStep | None:
    """The one step runner (the cleanup's, the manager's and the headroom guard's):
    run one step, time it, and measure what it freed (its own figure, else this
    process's resident memory across it; nothing for a skipped step). A step that
    raises is recorded as FAILED, so that the rest still run; None when the step
    does not apply."""
    rss0 = own_rss()
    t0 = time.perf_counter()
    try:
        outcome = run()
    except Exception as e:  # noqa: BLE001 - one failing step must not stop the rest
        outcome = Outcome(False, _native.step_failed(raised(e)))
    if outcome is None:
        return None
    ms = (time.perf_counter() - t0) * 1e3
    freed = None if outcome.skipped else outcome.freed_bytes if outcome.freed_bytes is not None else rss0 - own_rss()
    return CleanupStep(index, name, outcome.ok, outcome.detail, ms, outcome.skipped, freed)


def run_steps(steps: list[PlannedStep], ctx: CleanupContext) -> None:
    """Each step of a plan through :func:`measure_step` (an action by its kind, a
    skipped step as the core words why): added to the report and logged as
    ``[i/7] name: detail``."""
    for index, name, action, skip in steps:
        if action is None:
            run: Callable[[], Outcome] = partial(Outcome, True, skip or "skipped", skipped=True)
        else:
            run = partial(ACTIONS[action["kind"]], ctx, action)
        s = measure_step(index, name, run)
        if s is not None:
            ctx.report.steps.append(s)
            ctx.say(_native.step_line(index, name, s.detail))


def cleanup(mode: str = "balanced", **options: Any) -> CleanupReport:
    """Run the cleanup pipeline in this process and return its report.

    ``mode``: monitor / conservative / balanced / aggressive (or the seeds' names:
    Monitor Only, Standard, Moderate). Keyword options override the mode's choice
    of steps (see :class:`CleanupOptions`). An unknown mode or option, or a value of
    the wrong kind, raises InvalidInput before any step runs.
    """
    opts = _validated(mode, options)
    say = opts.log or log.info
    torch = loaded_torch()
    t0 = time.perf_counter()
    rss0, snap0 = _measure()
    report = CleanupReport(
        mode=opts.mode,
        process_rss_before_bytes=rss0,
        ram_used_before_bytes=snap0.effective.used_bytes,
        ram_total_bytes=snap0.effective.total_bytes,
        ram_source=snap0.effective.source,
        vram_used_before_bytes=vram_used(snap0, torch),
        page_file_drives=page_file_drives(snap0),
    )
    ctx = CleanupContext(opts, report, say, torch, comfy_model_management(), prompt_queue())
    run_steps(planned_steps(ctx), ctx)
    rss1, snap1 = _measure()
    report.process_rss_after_bytes = rss1
    report.ram_used_after_bytes = snap1.effective.used_bytes
    report.vram_used_after_bytes = vram_used(snap1, torch)
    report.duration_s = time.perf_counter() - t0
    for line in report.text.splitlines()[len(report.steps) + 1 :]:
        if line:
            say(line)
    return report
