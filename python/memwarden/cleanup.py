"""The cleanup pipeline the nodes run, in-process: the seed's seven steps, each
timed and logged (``[5/7] ...``), ending in a ``CLEANUP RESULTS`` block.

0. unload models through ComfyUI's own model management (inside ComfyUI only)
1-3. garbage collection passes, with counts
4. torch caches: empty_cache, ipc_collect, peak stats, pinned host cache
5. OS-level trim: return the heap to the OS (malloc_trim); in aggressive mode also
   page this process's idle memory out (behind the swap guard), falling back to the
   external helper ``python -m memwarden trim --pid <self>`` if the call fails
6. synchronize the GPU
7. final garbage collection; then, optionally, purge the page cache (root)
"""

from __future__ import annotations

import gc
import json
import logging
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from . import _native
from ._records import loads

log = logging.getLogger("memwarden")

GB = float(1 << 30)

#: Canonical modes and every name the seeds used for them.
MODE_ALIASES = {
    "monitor only": "monitor",
    "monitor": "monitor",
    "conservative": "conservative",
    "standard": "balanced",
    "moderate": "balanced",
    "balanced": "balanced",
    "aggressive": "aggressive",
}


def normalize_mode(mode: str) -> str:
    """Map any seed mode name (case-insensitive) to monitor/conservative/balanced/aggressive."""
    key = str(mode).strip().lower()
    if key not in MODE_ALIASES:
        names = ", ".join(sorted({m.title() for m in MODE_ALIASES}))
        raise ValueError(f"unknown cleanup mode {mode!r}; use one of: {names}")
    return MODE_ALIASES[key]


@dataclass
class CleanupStep:
    index: int
    name: str
    ok: bool
    detail: str
    duration_ms: float
    skipped: bool = False


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

    @property
    def process_freed_bytes(self) -> int:
        return self.process_rss_before_bytes - self.process_rss_after_bytes

    @property
    def ram_freed_bytes(self) -> int:
        return self.ram_used_before_bytes - self.ram_used_after_bytes

    @property
    def vram_freed_bytes(self) -> int:
        if self.vram_used_before_bytes is None or self.vram_used_after_bytes is None:
            return 0
        return self.vram_used_before_bytes - self.vram_used_after_bytes

    @property
    def freed_gb(self) -> float:
        """Process RAM freed plus VRAM freed, in GB (2^30), never negative."""
        return max(0.0, (max(self.process_freed_bytes, 0) + max(self.vram_freed_bytes, 0)) / GB)

    @property
    def text(self) -> str:
        lines = [f"memwarden cleanup ({self.mode})"]
        for s in self.steps:
            lines.append(f"[{s.index}/7] {s.name}: {s.detail} ({s.duration_ms:.0f} ms)")
        lines.append("")
        lines.append("CLEANUP RESULTS:")
        lines.append(
            f"  Process RAM: {self.process_rss_before_bytes / GB:.3f} GB -> "
            f"{self.process_rss_after_bytes / GB:.3f} GB (freed {self.process_freed_bytes / GB:.3f} GB)"
        )
        where = "container limit" if self.ram_source == "cgroup" else "host"
        lines.append(
            f"  System RAM : {self.ram_used_before_bytes / GB:.3f} GB -> {self.ram_used_after_bytes / GB:.3f} GB"
            f" of {self.ram_total_bytes / GB:.2f} GB ({where})"
        )
        if self.vram_used_before_bytes is None:
            lines.append("  VRAM       : n/a (no GPU visible)")
        else:
            lines.append(
                f"  VRAM       : {self.vram_used_before_bytes / GB:.3f} GB -> "
                f"{(self.vram_used_after_bytes or 0) / GB:.3f} GB (freed {self.vram_freed_bytes / GB:.3f} GB)"
            )
        lines.append(f"  Time       : {self.duration_s:.2f} s")
        if self.deferred_trim_scheduled:
            lines.append("  Cached node outputs are dropped after the current prompt; the heap is trimmed then.")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items() if k != "steps"}
        d["steps"] = [s.__dict__.copy() for s in self.steps]
        d["process_freed_bytes"] = self.process_freed_bytes
        d["ram_freed_bytes"] = self.ram_freed_bytes
        d["vram_freed_bytes"] = self.vram_freed_bytes
        d["freed_gb"] = self.freed_gb
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
    guard_swap: bool = True
    min_swap_free: int = _native.DEFAULT_MIN_SWAP_FREE
    sync_gpu: bool = True
    purge_cache: bool = False
    log: Callable[[str], None] | None = None


def _mode_defaults(o: CleanupOptions) -> CleanupOptions:
    m = normalize_mode(o.mode)
    aggressive = m == "aggressive"
    o.mode = m
    if o.unload_models is None:
        o.unload_models = m in ("balanced", "aggressive")
    if o.drop_node_cache is None:
        o.drop_node_cache = aggressive
    if o.gc_passes is None:
        o.gc_passes = 1 if m == "conservative" else 3
    if o.reset_peak_stats is None:
        o.reset_peak_stats = m != "conservative"
    if o.pageout_self is None:
        o.pageout_self = aggressive
    return o


def _torch() -> Any | None:
    # Only a torch that is already imported: importing it here would cost seconds
    # and memory in processes that never use it.
    return sys.modules.get("torch")


def _cuda(torch: Any | None) -> bool:
    try:
        return bool(torch is not None and torch.cuda.is_available())
    except Exception:  # noqa: BLE001 - a broken CUDA setup must not break cleanup
        return False


def _comfy_mm() -> Any | None:
    return sys.modules.get("comfy.model_management")


def _prompt_queue() -> Any | None:
    server = sys.modules.get("server")
    inst = getattr(getattr(server, "PromptServer", None), "instance", None)
    return getattr(inst, "prompt_queue", None)


def _measure() -> tuple[int, Any]:
    """This process's RSS and the machine, from one snapshot (it includes the caller)."""
    snap = json.loads(_native.snapshot_json(None, False, 0, "visible", True))
    return int(snap["process"]["rss_bytes"]), snap


def _vram_used(snap: dict[str, Any], torch: Any | None) -> int | None:
    devices = snap["gpu"]["devices"]
    if devices:
        return int(sum(d["used_bytes"] for d in devices))
    if torch is not None and _cuda(torch):  # NVML missing but torch sees a GPU
        total = 0
        for i in range(torch.cuda.device_count()):
            free, tot = torch.cuda.mem_get_info(i)
            total += tot - free
        return int(total)
    return None


class _Deferred:
    """At most one deferred trim waits at a time."""

    lock = threading.Lock()
    pending = False


def _schedule_deferred_trim(queue: Any, say: Callable[[str], None], timeout_s: float = 3600.0) -> bool:
    """After ComfyUI consumes the ``free_memory`` flag (after the current prompt) and
    runs its own gc + soft_empty_cache, return the freed heap to the OS as well."""
    with _Deferred.lock:
        if _Deferred.pending:
            return True
        _Deferred.pending = True

    def wait_and_trim() -> None:
        try:
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                flags = getattr(queue, "flags", {})
                if "free_memory" not in flags:
                    break
                time.sleep(0.2)
            # ComfyUI's prompt_worker runs gc.collect() + soft_empty_cache() right
            # after reading the flags; give it a moment, then trim.
            time.sleep(1.0)
            gc.collect()
            r = json.loads(_native.trim_own_heap_json())
            say(
                f"[memwarden] deferred trim after ComfyUI freed cached outputs: "
                f"RSS {r['rss_before_bytes'] / GB:.3f} GB -> {r['rss_after_bytes'] / GB:.3f} GB"
            )
        except Exception as e:  # noqa: BLE001 - a background helper must never raise
            say(f"[memwarden] deferred trim failed: {e}")
        finally:
            with _Deferred.lock:
                _Deferred.pending = False

    threading.Thread(target=wait_and_trim, name="memwarden-deferred-trim", daemon=True).start()
    return True


def _external_helper(pid: int, opts: CleanupOptions) -> dict[str, Any]:
    """``python -m memwarden trim --pid <pid> --json``: the seed's helper fallback."""
    cmd = [sys.executable, "-m", "memwarden", "trim", "--pid", str(pid), "--json"]
    cmd += ["--min-swap-free", str(opts.min_swap_free)]
    if not opts.guard_swap:
        cmd.append("--force")
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    data = json.loads(out.stdout) if out.stdout.strip() else {"error": out.stderr.strip()}
    return dict(data)


def cleanup(mode: str = "balanced", **options: Any) -> CleanupReport:
    """Run the cleanup pipeline in this process and return its report.

    ``mode``: monitor / conservative / balanced / aggressive (or the seeds' names:
    Monitor Only, Standard, Moderate). Keyword options override the mode's choice
    of steps (see :class:`CleanupOptions`).
    """
    opts = _mode_defaults(CleanupOptions(mode=mode, **options))
    say = opts.log or log.info
    torch = _torch()
    t0 = time.perf_counter()
    rss0, snap0 = _measure()
    report = CleanupReport(
        mode=opts.mode,
        process_rss_before_bytes=rss0,
        ram_used_before_bytes=snap0["effective"]["used_bytes"],
        ram_total_bytes=snap0["effective"]["total_bytes"],
        ram_source=snap0["effective"]["source"],
        vram_used_before_bytes=_vram_used(snap0, torch),
    )

    def step(index: int, name: str, fn: Callable[[], tuple[bool, str]] | None, skip_reason: str = "") -> None:
        s0 = time.perf_counter()
        if fn is None:
            ok, detail, skipped = True, f"skipped ({skip_reason})", True
        else:
            try:
                ok, detail = fn()
            except Exception as e:  # noqa: BLE001 - one failing step must not stop the rest
                ok, detail = False, f"FAILED: {type(e).__name__}: {e}"
            skipped = False
        st = CleanupStep(index, name, ok, detail, (time.perf_counter() - s0) * 1e3, skipped)
        report.steps.append(st)
        say(f"[{index}/7] {name}: {detail}")

    if opts.mode == "monitor":
        step(0, "Monitor only", None, "mode Monitor Only changes nothing")
    else:
        _run_steps(opts, torch, step, report, say)

    rss1, snap1 = _measure()
    report.process_rss_after_bytes = rss1
    report.ram_used_after_bytes = snap1["effective"]["used_bytes"]
    report.vram_used_after_bytes = _vram_used(snap1, torch)
    report.duration_s = time.perf_counter() - t0
    for line in report.text.splitlines()[len(report.steps) + 1 :]:
        if line:
            say(line)
    return report


def _run_steps(
    opts: CleanupOptions,
    torch: Any | None,
    step: Callable[..., None],
    report: CleanupReport,
    say: Callable[[str], None],
) -> None:
    mm = _comfy_mm()

    # 0 -- models
    def unload() -> tuple[bool, str]:
        assert mm is not None
        n = len(getattr(mm, "current_loaded_models", []))
        pinned0 = getattr(mm, "TOTAL_PINNED_MEMORY", None)
        mm.unload_all_models()
        if hasattr(mm, "cleanup_models_gc"):
            mm.cleanup_models_gc()
        mm.cleanup_models()
        mm.soft_empty_cache()
        parts = [f"unloaded {n} model(s) from VRAM (weights move to RAM until their cached node outputs go)"]
        if pinned0 is None:
            parts.append("this ComfyUI has no pinned-memory accounting")
        else:
            pinned1 = getattr(mm, "TOTAL_PINNED_MEMORY", 0)
            parts.append(f"pinned host memory {pinned0 / GB:.3f} GB -> {pinned1 / GB:.3f} GB")
        return True, "; ".join(parts)

    if not opts.unload_models:
        step(0, "Unload models", None, f"not in {opts.mode} mode")
    elif mm is None:
        step(0, "Unload models", None, "not running inside ComfyUI")
    else:
        step(0, "Unload models", unload)

    if opts.drop_node_cache:
        queue = _prompt_queue()

        def drop() -> tuple[bool, str]:
            assert queue is not None
            queue.set_flag("free_memory", True)
            report.deferred_trim_scheduled = _schedule_deferred_trim(queue, say)
            return True, "asked ComfyUI to drop cached node outputs after the current prompt (as POST /free does)"

        if queue is None:
            step(0, "Drop cached outputs", None, "not running inside ComfyUI")
        else:
            step(0, "Drop cached outputs", drop)

    # 1-3 -- garbage collection
    passes = opts.gc_passes or 0
    for i in range(1, 4):
        if i <= passes:
            step(i, f"GC pass {i}", lambda: (True, f"collected {gc.collect()} objects"))
        else:
            step(i, f"GC pass {i}", None, f"{passes} pass(es) in {opts.mode} mode")

    # 4 -- torch caches
    def torch_caches() -> tuple[bool, str]:
        assert torch is not None
        done = []
        if _cuda(torch):
            before = sum(torch.cuda.memory_reserved(d) for d in range(torch.cuda.device_count()))
            torch.cuda.empty_cache()
            torch.cuda.ipc_collect()
            after = sum(torch.cuda.memory_reserved(d) for d in range(torch.cuda.device_count()))
            done.append(f"empty_cache + ipc_collect: reserved {before / GB:.3f} -> {after / GB:.3f} GB")
            if opts.reset_peak_stats:
                for d in range(torch.cuda.device_count()):
                    torch.cuda.reset_peak_memory_stats(d)
                done.append("peak stats reset")
        else:
            done.append("no CUDA device: device caches not applicable")
        host_empty = getattr(torch._C, "_host_emptyCache", None)
        if host_empty is not None and _cuda(torch):
            host_empty()
            done.append("pinned host cache emptied")
        elif host_empty is None:
            done.append("this torch has no pinned host cache API")
        return True, "; ".join(done)

    if not opts.torch_cache:
        step(4, "PyTorch cache", None, "disabled")
    elif torch is None:
        step(4, "PyTorch cache", None, "torch is not loaded in this process")
    else:
        step(4, "PyTorch cache", torch_caches)

    # 5 -- OS-level trim
    def os_trim() -> tuple[bool, str]:
        parts = []
        try:
            h = json.loads(_native.trim_own_heap_json())
            parts.append(f"malloc_trim: RSS {h['rss_before_bytes'] / GB:.3f} GB -> {h['rss_after_bytes'] / GB:.3f} GB")
        except _native.Unsupported as e:
            parts.append(f"heap trim not available on this platform ({e})")
        if not opts.pageout_self:
            return True, "; ".join(parts)
        pid = os.getpid()
        try:
            r = loads(_native.pageout_json(pid, False, opts.min_swap_free, not opts.guard_swap))
            parts.append(f"paged out {r.freed_bytes / GB:.3f} GB to swap ({r.guard.reason})")
        except _native.GuardRefused as e:
            parts.append(f"Skipping pageout: {e}")
        except (_native.Unsupported, _native.PermissionDenied) as e:
            if not opts.external_helper:
                return False, "; ".join([*parts, f"pageout failed: {e}"])
            parts.append(f"pageout failed in-process ({e}); using external helper")
            data = _external_helper(pid, opts)
            if "freed_bytes" in data:
                parts.append(f"external helper freed {data['freed_bytes'] / GB:.3f} GB")
            else:
                return False, "; ".join([*parts, f"external helper failed: {data.get('error', data)}"])
        return True, "; ".join(parts)

    if opts.os_trim:
        step(5, "OS-level trim", os_trim)
    else:
        step(5, "OS-level trim", None, "disabled (aggressive_trim off)")

    # 6 -- GPU sync
    def sync() -> tuple[bool, str]:
        assert torch is not None
        for d in range(torch.cuda.device_count()):
            torch.cuda.synchronize(d)
        return True, f"synchronized {torch.cuda.device_count()} device(s)"

    if opts.sync_gpu and _cuda(torch):
        step(6, "CUDA sync", sync)
    else:
        step(6, "CUDA sync", None, "no CUDA device" if opts.sync_gpu else "disabled")

    # 7 -- final collection, optional cache purge
    step(7, "Final GC", lambda: (True, f"collected {gc.collect()} objects"))
    if opts.purge_cache:

        def purge() -> tuple[bool, str]:
            try:
                r = json.loads(_native.purge_cache_json(False, False))
            except (_native.PermissionDenied, _native.Unsupported) as e:
                return False, str(e)
            return True, f"page cache dropped: {r['cache_dropped_bytes'] / GB:.3f} GB"

        step(7, "Purge page cache", purge)
