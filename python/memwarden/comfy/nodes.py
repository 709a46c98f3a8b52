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

import os
import time
from typing import Any, ClassVar

from .. import _native
from .._native import Snapshot
from ..automation import Optimization, Trigger, optimize, shared_optimizer
from ..cleanup import (
    GB,
    HELPER_ENV,
    TorchCalls,
    cleanup,
    collect_garbage,
    comfy_model_management,
    cuda_devices,
    empty_torch_caches,
    round_gb,
    unload_comfy_models,
    vram_used,
)
from ..torch_memory import loaded_torch
from .base import ANY, MemwardenNode, _choice, _emit, _flags, _int, _number, _out, _status

#: The Memory Cleaner's ``min_c_free_gb`` default, the core's per OS: the seed's
#: 20 GB of free space on the page-file drive on Windows; 1 GB of free *swap* on
#: Linux (the seed's 20 GB would refuse every pageout there), as ``memwarden trim``.
MIN_C_FREE_GB_DEFAULT = _native.NODE_DEFAULT_MARGIN_GB
#: The optimization trigger's defaults, the core's (``TriggerConfig::default()``).
_TRIGGER: dict[str, Any] = _native.default_trigger_config()


# ---------------------------------------------------------------------------
# Seed: memory-cleaner-usage-guide.md
# ---------------------------------------------------------------------------


class MemoryCleanerForce(MemwardenNode):
    """Memory Cleaner (Force): the seed's 7-step cleanup with OS-level trim.

    Linux mapping of the Windows inputs: ``aggressive_trim`` = return the heap to
    the OS and page idle memory out to swap; ``enable_privileges`` = no elevation
    exists or is needed to trim one's own process on Linux (the report says which
    capabilities are effective); ``external_helper`` = if the kernel refuses the
    in-process pageout, run the helper named by ``MEMWARDEN_HELPER`` (a native
    memwarden binary granted CAP_SYS_NICE with
    ``sudo setcap cap_sys_nice+ep /path/to/memwarden``), else
    ``python -m memwarden trim --pid <self>`` with this process's own privileges
    (the report says so); ``skip_trim_if_c_low`` /
    ``min_c_free_gb`` = the swap check and its margin (swap, not C:, is what fills);
    ``purge_standby`` = drop the page cache (root).
    """

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "aggressive_trim": ("BOOLEAN", {"default": True}),
                "enable_privileges": ("BOOLEAN", {"default": True}),
                "external_helper": (
                    "BOOLEAN",
                    {
                        "default": True,
                        "tooltip": "if the in-process pageout is refused, run the memwarden binary named by "
                        "MEMWARDEN_HELPER (granted cap_sys_nice with setcap)",
                    },
                ),
                "skip_trim_if_c_low": ("BOOLEAN", {"default": True}),
                "min_c_free_gb": (
                    "FLOAT",
                    {
                        "default": MIN_C_FREE_GB_DEFAULT,
                        "min": 0.0,
                        "max": 100000.0,
                        "step": 1.0,
                        "tooltip": "GB that must stay free beyond what is paged out: of the page-file "
                        "drive on Windows, of swap on Linux",
                    },
                ),
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
        _flags(
            aggressive_trim=aggressive_trim,
            enable_privileges=enable_privileges,
            external_helper=external_helper,
            skip_trim_if_c_low=skip_trim_if_c_low,
            purge_standby=purge_standby,
        )
        margin_gb = _number("min_c_free_gb", min_c_free_gb, 0.0, 100000.0)
        report = cleanup(
            **_native.memory_cleaner_choices(aggressive_trim, purge_standby),
            external_helper=external_helper,
            swap_check=skip_trim_if_c_low,
            min_swap_free=int(margin_gb * GB),
            # A guard refusal names this node's inputs, not the CLI's --force.
            swap_force_hint="turn skip_trim_if_c_low off",
            swap_margin_hint="min_c_free_gb",
        )
        if enable_privileges and report.privileges is None:  # Windows: those the trim enabled
            report.privileges = _native.privileges_note(os.environ.get(HELPER_ENV, ""))
        text = report.text
        _emit("Memory Cleaner (Force)", _native.status_line(), text)
        return _out(text, anything, text, round_gb(report.freed_gb))


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
        warning_threshold = _number("warning_threshold", warning_threshold, 0.0, 100.0)
        _flags(detailed_report=detailed_report)
        top = _int("top_processes", top_processes, 0, 100)
        snap = _native.snapshot(top=top)
        status, ram, vram = _status(snap)
        report, warning, pressure = _native.monitor_report(snap, warning_threshold, detailed_report)
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
        _choice("mode", mode, ["standard", "aggressive"])
        _flags(clear_vram=clear_vram)
        report = cleanup(mode, unload_models=clear_vram, torch_cache=clear_vram)
        _emit("Memory Cleanup", _native.status_line(), report.text)
        return _out(report.text, anything, report.text, round_gb(report.freed_gb))


def _unload_models() -> str:
    """The cleanup's unload (step 0), for the VRAM nodes."""
    mm = comfy_model_management()
    return _native.models_line(None if mm is None else unload_comfy_models(mm))


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
        _choice("mode", mode, self.LEVELS)
        gpu_index = _int("gpu_index", gpu_index, -1, 63)
        _flags(reset_peak_stats=reset_peak_stats)
        torch = loaded_torch()
        devices, no_cuda = cuda_devices(torch)
        if gpu_index != -1 and gpu_index not in devices:
            raise _native.invalid_input(
                f"gpu_index {gpu_index} does not exist here; visible CUDA devices: "
                f"{devices or f'none ({no_cuda})'} (-1 = all)"
            )
        lines = [_native.vram_optimizer_title(mode, None if gpu_index == -1 else gpu_index)]
        plan = _native.vram_plan(mode)
        if plan.unload_models:
            lines.append(_unload_models())
        if plan.collect_garbage:
            lines.append("gc: " + collect_garbage())
        # The cleanup's torch step (step 4), with the level's choice of calls.
        calls = TorchCalls(
            ipc_collect=plan.ipc_collect,
            synchronize=plan.synchronize,
            reset_peak_stats=reset_peak_stats,
            host_cache=False,
            driver_free=True,
        )
        r = empty_torch_caches(torch, None if gpu_index == -1 else [gpu_index], calls)
        lines.extend(r.device_lines(_native.snapshot(top=0).gpu.devices if r.devices else ()))
        report = "\n".join(lines)
        _emit("VRAM Optimizer", _native.status_line(), report)
        return _out(report, anything, report, round_gb(r.freed_bytes / GB))


class VRAMUnload(MemwardenNode):
    """VRAM Unload: force every model out of VRAM through ComfyUI."""

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {}, "optional": {"anything": (ANY, {})}}

    RETURN_TYPES = (ANY, "STRING", "FLOAT")
    RETURN_NAMES = ("anything", "report", "vram_freed_gb")

    def run(self, anything: Any = None) -> dict[str, Any]:
        torch = loaded_torch()
        before = vram_used(_native.snapshot(top=0), torch)
        line = _unload_models()
        snap = _native.snapshot(top=0)
        after = vram_used(snap, torch)
        nvml = snap.gpu.unavailable_reason or "no NVIDIA GPU visible"
        report = _native.vram_unload_report(line, before, after, nvml, cuda_devices(torch)[1])
        freed = 0 if before is None or after is None else before - after
        _emit("VRAM Unload", snap.status_line, report)
        return _out(report, anything, report, round_gb(freed / GB))


# ---------------------------------------------------------------------------
# Seed: unified-memory-manager-quickstart.md
# ---------------------------------------------------------------------------


class UnifiedMemoryManager(MemwardenNode):
    """Unified Memory Manager: monitoring, threshold-triggered optimization with a
    cooldown, and the last 10 optimizations, in one node.

    When it optimizes (``enable_optimization`` on, mode not Monitor Only):
    ``enable_auto_cleanup`` = every run; ``auto_optimize`` = when RAM or VRAM is at
    or above its threshold; neither = every run (a manual trigger). The cooldown
    applies to all of them. The decision, the cooldown and the history belong to
    the process's optimizer (:func:`memwarden.automation.shared_optimizer`), not to
    the node: ComfyUI makes new node objects when it resets its caches.
    """

    MODES: ClassVar[list[str]] = ["Monitor Only", "Conservative", "Balanced", "Aggressive"]

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        pct = {"min": 0.0, "max": 100.0, "step": 1.0}
        seconds = {"min": 0.0, "max": 86400.0, "step": 1.0}
        return {
            "required": {
                "enable_monitoring": ("BOOLEAN", {"default": True}),
                "enable_optimization": ("BOOLEAN", {"default": False}),
                "auto_optimize": ("BOOLEAN", {"default": False}),
                "enable_auto_cleanup": ("BOOLEAN", {"default": False}),
                "ram_threshold": ("FLOAT", {"default": _TRIGGER["ram_threshold"], **pct}),
                "vram_threshold": ("FLOAT", {"default": _TRIGGER["vram_threshold"], **pct}),
                "mode": (cls.MODES, {"default": "Balanced"}),
                "detailed_report": ("BOOLEAN", {"default": True}),
                "cooldown_seconds": ("FLOAT", {"default": _TRIGGER["cooldown_s"], **seconds}),
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
        _flags(
            enable_monitoring=enable_monitoring,
            enable_optimization=enable_optimization,
            auto_optimize=auto_optimize,
            enable_auto_cleanup=enable_auto_cleanup,
            detailed_report=detailed_report,
        )
        ram_threshold = _number("ram_threshold", ram_threshold, 0.0, 100.0)
        vram_threshold = _number("vram_threshold", vram_threshold, 0.0, 100.0)
        cooldown_seconds = _number("cooldown_seconds", cooldown_seconds, 0.0, 86400.0)
        _choice("mode", mode, self.MODES)
        snap = _native.snapshot(top=10)
        trigger = Trigger(
            mode=mode,
            enabled=enable_optimization,
            every_run=enable_auto_cleanup,
            on_threshold=auto_optimize,
            ram_threshold=ram_threshold,
            vram_threshold=vram_threshold,
            cooldown_s=cooldown_seconds,
        )
        done = optimize(snap, trigger)
        if done.report is not None:
            snap = _native.snapshot(top=10)
        status, ram, vram = _status(snap)
        report = _manager_report(snap, detailed_report, enable_monitoring, done)
        if enable_monitoring:
            _emit("Unified Memory Manager", status, report if detailed_report else status)
        freed = round_gb(done.report.freed_gb) if done.report else 0.0
        return _out(report, status, report, ram, vram, freed, done.report is not None, trigger_image)


def _manager_report(snap: Snapshot, detailed: bool, monitoring: bool, done: Optimization) -> str:
    """The Unified Memory Manager's report (worded by the core): the snapshot, GPU
    holders, what the optimizer decided and the last optimizations, in local time."""
    return _native.manager_node_report(
        snap,
        detailed,
        monitoring,
        done.report is not None,
        done.decision.reason,
        None if done.report is None else done.report.text,
        shared_optimizer().history,
        time.localtime().tm_gmtoff,
    )


#: The nodes of the three seed packs defined here (the manager's and the leak
#: detector's are in their own modules; ``memwarden.comfy`` assembles them all).
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
