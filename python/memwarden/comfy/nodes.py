"""The memwarden node pack: every node of the three seed packs, on the Rust core.

Conventions (ComfyUI's classic node API, which every ComfyUI version loads):
- nodes in a data flow take an optional ``anything`` input of any type and return
  the very same object first, so they can sit anywhere in a graph;
- ``IS_CHANGED`` returns NaN, which never equals itself, so ComfyUI re-executes the
  node every run instead of serving a cached result;
- every node returns a human-readable report (wire it into a "Show Text" node) and
  its numbers as FLOAT/BOOLEAN outputs, and logs its status line and report to the
  ComfyUI console.
"""

from __future__ import annotations

import collections
import json
import logging
import math
import sys
import time
from typing import Any, ClassVar

from .. import _native
from ..cleanup import GB, CleanupReport, cleanup
from ..pressure import check_memory_pressure

log = logging.getLogger("memwarden")

CATEGORY = "memwarden"


class AnyType(str):
    """ComfyUI type that matches every other type (the usual ``*`` wildcard)."""

    def __ne__(self, other: object) -> bool:
        return False

    __hash__ = str.__hash__


ANY = AnyType("*")


def _snapshot_json(top: int = 10) -> str:
    return _native.snapshot_json(None, False, top, "visible", True)


def _snapshot(top: int = 10) -> dict[str, Any]:
    return dict(json.loads(_snapshot_json(top)))


def _percents(snap: dict[str, Any]) -> tuple[float, float]:
    ram = float(snap["effective"]["percent_used"])
    devices = snap["gpu"]["devices"]
    vram = max((float(d["percent_used"]) for d in devices), default=0.0)
    return ram, vram


def _emit(node: str, status: str, report: str) -> None:
    log.info("[memwarden] %s: %s", node, status)
    for line in report.splitlines():
        log.info("[memwarden]   %s", line)


def _out(report: str, *result: Any) -> dict[str, Any]:
    """Outputs plus the report as UI text: shown on the node in the browser and
    recorded in ComfyUI's /history."""
    return {"ui": {"text": [report]}, "result": result}


def _check_range(name: str, value: float, lo: float, hi: float) -> None:
    if not isinstance(value, (int, float)) or math.isnan(value) or not lo <= value <= hi:
        raise ValueError(f"{name} must be a number between {lo} and {hi}, got {value!r}")


def _torch() -> Any | None:
    return sys.modules.get("torch")


def _cuda_devices(torch: Any | None) -> list[int]:
    try:
        if torch is not None and torch.cuda.is_available():
            return list(range(torch.cuda.device_count()))
    except Exception:  # noqa: BLE001 - a broken CUDA setup reads as "no GPU"
        pass
    return []


class MemwardenNode:
    """What every memwarden node shares: the entry point, the category, being an
    output node (so it runs even with nothing wired after it) and always
    re-executing (NaN never equals the cached value)."""

    FUNCTION = "run"
    CATEGORY = CATEGORY
    OUTPUT_NODE = True

    @classmethod
    def IS_CHANGED(cls, **_: Any) -> float:
        return float("nan")


# ---------------------------------------------------------------------------
# Seed: memory-cleaner-usage-guide.md
# ---------------------------------------------------------------------------


class MemoryCleanerForce(MemwardenNode):
    """Memory Cleaner (Force): the seed's 7-step cleanup with OS-level trim.

    Linux mapping of the Windows inputs: ``aggressive_trim`` = return the heap to
    the OS and page idle memory out to swap; ``enable_privileges`` = no elevation
    exists or is needed to trim one's own process on Linux (the report says which
    capabilities are effective); ``external_helper`` = fall back to
    ``python -m memwarden trim --pid <self>``; ``skip_trim_if_c_low`` /
    ``min_c_free_gb`` = the swap guard and its margin (swap, not C:, is what fills);
    ``purge_standby`` = drop the page cache (root).
    """

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "aggressive_trim": ("BOOLEAN", {"default": True}),
                "enable_privileges": ("BOOLEAN", {"default": True}),
                "external_helper": ("BOOLEAN", {"default": True}),
                "skip_trim_if_c_low": ("BOOLEAN", {"default": True}),
                "min_c_free_gb": ("FLOAT", {"default": 20.0, "min": 0.0, "max": 100000.0, "step": 1.0}),
                "purge_standby": ("BOOLEAN", {"default": False}),
            },
            "optional": {"anything": (ANY, {})},
        }

    RETURN_TYPES = (ANY, "STRING", "FLOAT")
    RETURN_NAMES = ("anything", "report", "freed_gb")
    DESCRIPTION = "Unload models, collect garbage, empty torch caches and return memory to the OS."

    def run(
        self,
        aggressive_trim: bool,
        enable_privileges: bool,
        external_helper: bool,
        skip_trim_if_c_low: bool,
        min_c_free_gb: float,
        purge_standby: bool,
        anything: Any = None,
    ) -> dict[str, Any]:
        _check_range("min_c_free_gb", min_c_free_gb, 0.0, 100000.0)
        report = cleanup(
            "aggressive" if aggressive_trim else "balanced",
            drop_node_cache=True,
            os_trim=True,
            pageout_self=aggressive_trim,
            external_helper=external_helper,
            guard_swap=skip_trim_if_c_low,
            min_swap_free=int(min_c_free_gb * GB),
            purge_cache=purge_standby,
        )
        text = report.text
        if enable_privileges:
            text += "\n  Privileges : none needed on Linux to trim this process (pageout of another needs CAP_SYS_NICE)"
        status = _native.render_status_line(_snapshot_json(0))
        _emit("Memory Cleaner (Force)", status, text)
        return _out(text, anything, text, round(report.freed_gb, 3))


# ---------------------------------------------------------------------------
# Seed: memory-management-package-structure.md
# ---------------------------------------------------------------------------


class MemoryMonitor(MemwardenNode):
    """Memory Monitor: status line, full report, percentages and pressure level."""

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "warning_threshold": ("FLOAT", {"default": 80.0, "min": 0.0, "max": 100.0, "step": 1.0}),
                "detailed_report": ("BOOLEAN", {"default": True}),
                "top_processes": ("INT", {"default": 5, "min": 0, "max": 100}),
            },
            "optional": {"anything": (ANY, {})},
        }

    RETURN_TYPES = (ANY, "STRING", "STRING", "FLOAT", "FLOAT", "STRING", "BOOLEAN")
    RETURN_NAMES = ("anything", "status", "report", "ram_percent", "vram_percent", "pressure_level", "warning")

    def run(
        self, warning_threshold: float, detailed_report: bool, top_processes: int, anything: Any = None
    ) -> dict[str, Any]:
        _check_range("warning_threshold", warning_threshold, 0.0, 100.0)
        _check_range("top_processes", top_processes, 0, 100)
        snap_json = _snapshot_json(int(top_processes))
        snap = json.loads(snap_json)
        status = _native.render_status_line(snap_json)
        ram, vram = _percents(snap)
        pressure = check_memory_pressure(snap)
        warning = ram >= warning_threshold or vram >= warning_threshold
        if detailed_report:
            report = _native.render_check(snap_json, False)
        else:
            report = status
        report += "\nPressure: " + pressure.description
        report += "\nRecommendations:\n" + "\n".join(f"  - {r}" for r in pressure.recommendations)
        if warning:
            report = f"WARNING: memory above {warning_threshold:.0f}%\n" + report
        _emit("Memory Monitor", status, report if detailed_report else status)
        return _out(report, anything, status, report, ram, vram, pressure.level, warning)


class MemoryCleanup(MemwardenNode):
    """Memory Cleanup: a manual cleanup, standard or aggressive."""

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "mode": (["standard", "aggressive"], {"default": "standard"}),
                "clear_vram": ("BOOLEAN", {"default": True}),
            },
            "optional": {"anything": (ANY, {})},
        }

    RETURN_TYPES = (ANY, "STRING", "FLOAT")
    RETURN_NAMES = ("anything", "report", "freed_gb")

    def run(self, mode: str, clear_vram: bool, anything: Any = None) -> dict[str, Any]:
        if mode not in ("standard", "aggressive"):
            raise ValueError(f"mode must be 'standard' or 'aggressive', got {mode!r}")
        report = cleanup(mode, unload_models=clear_vram, torch_cache=clear_vram)
        _emit("Memory Cleanup", _native.render_status_line(_snapshot_json(0)), report.text)
        return _out(report.text, anything, report.text, round(report.freed_gb, 3))


def _unload_models() -> str:
    mm = sys.modules.get("comfy.model_management")
    if mm is None:
        return "models: not running inside ComfyUI, nothing to unload"
    n = len(getattr(mm, "current_loaded_models", []))
    mm.unload_all_models()
    mm.cleanup_models()
    mm.soft_empty_cache()
    return f"models: unloaded {n} model(s) through ComfyUI's model management"


class VRAMOptimizer(MemwardenNode):
    """VRAM Optimizer: Conservative / Moderate / Aggressive, on all GPUs or one."""

    LEVELS: ClassVar[list[str]] = ["Conservative", "Moderate", "Aggressive"]

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "mode": (cls.LEVELS, {"default": "Moderate"}),
                "gpu_index": ("INT", {"default": -1, "min": -1, "max": 63, "tooltip": "-1 = all GPUs"}),
                "reset_peak_stats": ("BOOLEAN", {"default": True}),
            },
            "optional": {"anything": (ANY, {})},
        }

    RETURN_TYPES = (ANY, "STRING", "FLOAT")
    RETURN_NAMES = ("anything", "report", "vram_freed_gb")

    def run(self, mode: str, gpu_index: int, reset_peak_stats: bool, anything: Any = None) -> dict[str, Any]:
        if mode not in self.LEVELS:
            raise ValueError(f"mode must be one of {self.LEVELS}, got {mode!r}")
        torch = _torch()
        devices = _cuda_devices(torch)
        if gpu_index != -1 and gpu_index not in devices:
            raise ValueError(
                f"gpu_index {gpu_index} does not exist here; visible CUDA devices: {devices or 'none'} (-1 = all)"
            )
        targets = devices if gpu_index == -1 else [gpu_index]
        lines = [f"VRAM Optimizer ({mode}, {'all GPUs' if gpu_index == -1 else f'GPU {gpu_index}'})"]
        if not targets:
            lines.append("no CUDA device visible to torch: nothing to optimize")
            report = "\n".join(lines)
            _emit("VRAM Optimizer", _native.render_status_line(_snapshot_json(0)), report)
            return _out(report, anything, report, 0.0)
        assert torch is not None
        if mode == "Aggressive":
            lines.append(_unload_models())
        if mode != "Conservative":
            import gc

            lines.append(f"gc: collected {gc.collect()} objects")
        freed = 0
        for d in targets:
            before = torch.cuda.memory_reserved(d)
            with torch.cuda.device(d):
                torch.cuda.empty_cache()
                if mode != "Conservative":
                    torch.cuda.ipc_collect()
                if mode == "Aggressive":
                    torch.cuda.synchronize(d)
            if reset_peak_stats:
                torch.cuda.reset_peak_memory_stats(d)
            after = torch.cuda.memory_reserved(d)
            freed += before - after
            free, total = torch.cuda.mem_get_info(d)
            lines.append(
                f"GPU {d}: reserved {before / GB:.3f} -> {after / GB:.3f} GB; "
                f"free {free / GB:.2f} of {total / GB:.2f} GB"
            )
        report = "\n".join(lines)
        _emit("VRAM Optimizer", _native.render_status_line(_snapshot_json(0)), report)
        return _out(report, anything, report, round(max(freed, 0) / GB, 3))


class VRAMUnload(MemwardenNode):
    """VRAM Unload: force every model out of VRAM through ComfyUI."""

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {}, "optional": {"anything": (ANY, {})}}

    RETURN_TYPES = (ANY, "STRING", "FLOAT")
    RETURN_NAMES = ("anything", "report", "vram_freed_gb")

    def run(self, anything: Any = None) -> dict[str, Any]:
        before = _snapshot(0)
        line = _unload_models()
        after = _snapshot(0)
        used = [sum(d["used_bytes"] for d in s["gpu"]["devices"]) for s in (before, after)]
        report = line
        if before["gpu"]["devices"]:
            report += f"\nVRAM used: {used[0] / GB:.3f} GB -> {used[1] / GB:.3f} GB"
        else:
            report += "\nVRAM: " + (before["gpu"]["unavailable_reason"] or "no GPU visible")
        _emit("VRAM Unload", _native.render_status_line(_snapshot_json(0)), report)
        return _out(report, anything, report, round(max(used[0] - used[1], 0) / GB, 3))


# ---------------------------------------------------------------------------
# Seed: unified-memory-manager-quickstart.md
# ---------------------------------------------------------------------------


class UnifiedMemoryManager(MemwardenNode):
    """Unified Memory Manager: monitoring, threshold-triggered optimization with a
    cooldown, and the last 10 optimizations, in one node.

    When it optimizes (``enable_optimization`` on, mode not Monitor Only):
    ``enable_auto_cleanup`` = every run; ``auto_optimize`` = when RAM or VRAM is at
    or above its threshold; neither = every run (a manual trigger). The cooldown
    applies to all of them.
    """

    MODES: ClassVar[list[str]] = ["Monitor Only", "Conservative", "Balanced", "Aggressive"]
    history: ClassVar[collections.deque[dict[str, Any]]] = collections.deque(maxlen=10)
    last_optimization: ClassVar[float] = 0.0

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "enable_monitoring": ("BOOLEAN", {"default": True}),
                "enable_optimization": ("BOOLEAN", {"default": False}),
                "auto_optimize": ("BOOLEAN", {"default": False}),
                "enable_auto_cleanup": ("BOOLEAN", {"default": False}),
                "ram_threshold": ("FLOAT", {"default": 80.0, "min": 0.0, "max": 100.0, "step": 1.0}),
                "vram_threshold": ("FLOAT", {"default": 85.0, "min": 0.0, "max": 100.0, "step": 1.0}),
                "mode": (cls.MODES, {"default": "Balanced"}),
                "detailed_report": ("BOOLEAN", {"default": True}),
                "cooldown_seconds": ("FLOAT", {"default": 30.0, "min": 0.0, "max": 86400.0, "step": 1.0}),
            },
            "optional": {"trigger_image": ("IMAGE",)},
        }

    RETURN_TYPES = ("STRING", "STRING", "FLOAT", "FLOAT", "FLOAT", "BOOLEAN", "IMAGE")
    RETURN_NAMES = (
        "status_summary",
        "detailed_report",
        "ram_usage_percent",
        "vram_usage_percent",
        "memory_freed_gb",
        "optimization_performed",
        "trigger_image",
    )

    def run(
        self,
        enable_monitoring: bool,
        enable_optimization: bool,
        auto_optimize: bool,
        enable_auto_cleanup: bool,
        ram_threshold: float,
        vram_threshold: float,
        mode: str,
        detailed_report: bool,
        cooldown_seconds: float,
        trigger_image: Any = None,
    ) -> dict[str, Any]:
        _check_range("ram_threshold", ram_threshold, 0.0, 100.0)
        _check_range("vram_threshold", vram_threshold, 0.0, 100.0)
        _check_range("cooldown_seconds", cooldown_seconds, 0.0, 86400.0)
        if mode not in self.MODES:
            raise ValueError(f"mode must be one of {self.MODES}, got {mode!r}")
        snap_json = _snapshot_json(10)
        snap = json.loads(snap_json)
        ram, vram = _percents(snap)
        decision, trigger = self._decide(
            enable_optimization,
            auto_optimize,
            enable_auto_cleanup,
            ram,
            vram,
            ram_threshold,
            vram_threshold,
            mode,
            cooldown_seconds,
        )
        result: CleanupReport | None = None
        if decision:
            result = cleanup(mode)
            cls = type(self)
            cls.last_optimization = time.monotonic()
            cls.history.append(
                {
                    "time": time.strftime("%Y-%m-%d %H:%M:%S"),
                    "mode": mode,
                    "trigger": trigger,
                    "freed_gb": round(result.freed_gb, 3),
                }
            )
            snap_json = _snapshot_json(10)
            snap = json.loads(snap_json)
            ram, vram = _percents(snap)
        status = _native.render_status_line(snap_json)
        report = self._report(snap_json, snap, detailed_report, enable_monitoring, trigger, result)
        if enable_monitoring:
            _emit("Unified Memory Manager", status, report if detailed_report else status)
        freed = round(result.freed_gb, 3) if result else 0.0
        return _out(report, status, report, ram, vram, freed, result is not None, trigger_image)

    def _decide(
        self,
        enable_optimization: bool,
        auto_optimize: bool,
        enable_auto_cleanup: bool,
        ram: float,
        vram: float,
        ram_threshold: float,
        vram_threshold: float,
        mode: str,
        cooldown: float,
    ) -> tuple[bool, str]:
        if not enable_optimization:
            return False, "optimization disabled"
        if mode == "Monitor Only":
            return False, "mode Monitor Only"
        if enable_auto_cleanup:
            trigger = "auto cleanup (every run)"
        elif auto_optimize:
            over = []
            if ram >= ram_threshold:
                over.append(f"RAM {ram:.1f}% >= {ram_threshold:.0f}%")
            if vram >= vram_threshold:
                over.append(f"VRAM {vram:.1f}% >= {vram_threshold:.0f}%")
            if not over:
                return False, f"below thresholds (RAM {ram:.1f}% < {ram_threshold:.0f}%, VRAM {vram:.1f}%)"
            trigger = ", ".join(over)
        else:
            trigger = "manual (optimization enabled)"
        since = time.monotonic() - type(self).last_optimization
        if type(self).last_optimization and since < cooldown:
            return False, f"cooldown: {cooldown - since:.0f} s left of {cooldown:.0f} s (wanted: {trigger})"
        return True, trigger

    def _report(
        self,
        snap_json: str,
        snap: dict[str, Any],
        detailed: bool,
        monitoring: bool,
        trigger: str,
        result: CleanupReport | None,
    ) -> str:
        parts = []
        if monitoring and detailed:
            parts.append(_native.render_check(snap_json, False))
        elif not monitoring:
            parts.append("Monitoring disabled.")
        gpu_procs = snap["gpu"]["processes"]
        if gpu_procs:
            parts.append("Processes holding GPU memory:")
            for p in gpu_procs:
                used = "n/a" if p["used_bytes"] is None else f"{p['used_bytes'] / GB:.2f} GB"
                parts.append(f"  GPU {p['gpu_index']} PID {p['pid']} {p['name'] or '(not visible)'} {used}")
        parts.append(f"Optimization: {'performed' if result else 'not performed'} ({trigger})")
        if result is not None:
            parts.append(result.text)
        parts.append(f"Last {len(self.history)} optimization(s):")
        parts.extend(
            f"  {h['time']}  {h['mode']:<12} freed {h['freed_gb']:.3f} GB  ({h['trigger']})" for h in self.history
        )
        return "\n".join(parts)


NODE_CLASS_MAPPINGS = {
    "MemoryCleanerForce": MemoryCleanerForce,
    "MemoryMonitor": MemoryMonitor,
    "MemoryCleanup": MemoryCleanup,
    "VRAMOptimizer": VRAMOptimizer,
    "VRAMUnload": VRAMUnload,
    "UnifiedMemoryManager": UnifiedMemoryManager,
}

NODE_DISPLAY_NAME_MAPPINGS = {
    "MemoryCleanerForce": "Memory Cleaner (Force)",
    "MemoryMonitor": "Memory Monitor",
    "MemoryCleanup": "Memory Cleanup",
    "VRAMOptimizer": "VRAM Optimizer",
    "VRAMUnload": "VRAM Unload",
    "UnifiedMemoryManager": "Unified Memory Manager",
}
