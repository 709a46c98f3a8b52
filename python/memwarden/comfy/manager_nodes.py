"""The nodes that configure the process's one background manager
(:mod:`memwarden.manager`), from the Memory Management seed: **Auto Memory
Cleanup** (automatic cleanup configuration) and **Smart Memory Manager** (modes
Conservative / Balanced / Aggressive, warning and critical levels, real-time
pressure response, automatic escalation, performance statistics).

However many of these nodes a workflow holds, and however often they run, there is
one manager per ComfyUI process: each run (re)configures it, the last run's
settings win, and its memory (level, escalation, back-off, history) is kept. The
nodes keep no state of their own."""

from __future__ import annotations

from typing import Any

from .. import _native
from .. import manager as mgr
from ..cleanup import round_gb
from . import hooks
from .base import ANY, MemwardenNode, _choice, _emit, _flags, _int, _number, _out

GB = float(1 << 30)
#: The manager's defaults, the core's (``ManagerConfig::default()``): the nodes'
#: input defaults take them, never a copy.
_CORE: dict[str, Any] = _native.default_manager_config()


def _configure(enabled: bool, settings: dict[str, Any]) -> tuple[mgr.ManagerStatus, str]:
    """Start/reconfigure the one manager (or stop it when not ``enabled``); what it
    did, in words (the core's). Prompt boundaries reach the manager only through the
    hooks: the words say if not."""
    if not enabled:
        was = mgr.stop()
        return mgr.status(), _native.manager_switch_note(False, was, None)
    missing = None if hooks.install() else hooks.install_reason()
    return mgr.start(**settings), _native.manager_switch_note(True, True, missing)


class AutoMemoryCleanup(MemwardenNode):
    """Auto Memory Cleanup: turns on the background manager with automatic cleanup
    thresholds; it trims after every prompt and cleans up (standard = Balanced,
    aggressive = Aggressive) when RAM or a GPU crosses the threshold. The critical
    level is the threshold + 10 points (at most 100)."""

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "enabled": ("BOOLEAN", {"default": True}),
                "memory_threshold": ("FLOAT", {"default": _CORE["ram_warning"], "min": 1.0, "max": 100.0, "step": 1.0}),
                "vram_threshold": ("FLOAT", {"default": _CORE["vram_warning"], "min": 1.0, "max": 100.0, "step": 1.0}),
                "cleanup_mode": (["standard", "aggressive"], {"default": "standard"}),
                "cooldown_seconds": ("FLOAT", {"default": _CORE["cooldown_s"], "min": 0.0, "max": 3600.0, "step": 1.0}),
                "trim_after_each_prompt": ("BOOLEAN", {"default": True}),
            },
            "optional": {"anything": (ANY, {})},
        }

    RETURN_TYPES = (ANY, "STRING", "STRING", "BOOLEAN")
    RETURN_NAMES = ("anything", "status", "statistics", "running")

    def run(
        self,
        enabled: bool,
        memory_threshold: float,
        vram_threshold: float,
        cleanup_mode: str,
        cooldown_seconds: float,
        trim_after_each_prompt: bool,
        anything: Any = None,
    ) -> dict[str, Any]:
        _flags(enabled=enabled, trim_after_each_prompt=trim_after_each_prompt)
        ram = _number("memory_threshold", memory_threshold, 1.0, 100.0)
        vram = _number("vram_threshold", vram_threshold, 1.0, 100.0)
        mode = _choice("cleanup_mode", cleanup_mode, ["standard", "aggressive"])
        settings = {
            "mode": mode,
            "ram_warning": ram,
            "ram_critical": _native.critical_above(ram),
            "vram_warning": vram,
            "vram_critical": _native.critical_above(vram),
            "cooldown_s": _number("cooldown_seconds", cooldown_seconds, 0.0, 3600.0),
            "trim_between_prompts": trim_after_each_prompt,
            "escalate": False,
        }
        st, note = _configure(enabled, settings)
        stats = mgr.stats().text().rstrip("\n")
        report = f"{st.text}\n{note}\n\n{stats}"
        _emit("Auto Memory Cleanup", note.splitlines()[0], report)
        return _out(report, anything, st.text, stats, st.running)


MODES = ["Conservative", "Balanced", "Aggressive", "Monitor Only"]


class SmartMemoryManager(MemwardenNode):
    """Smart Memory Manager: the background manager with its modes, warning and
    critical levels, escalation while pressure persists, and its statistics and
    recent history as outputs."""

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        pct = {"min": 1.0, "max": 100.0, "step": 1.0}
        return {
            "required": {
                "enabled": ("BOOLEAN", {"default": True}),
                "management_mode": (MODES, {"default": "Balanced"}),
                "warning_threshold": ("FLOAT", {"default": _CORE["ram_warning"], **pct}),
                "critical_threshold": ("FLOAT", {"default": _CORE["ram_critical"], **pct}),
                "vram_warning_threshold": ("FLOAT", {"default": _CORE["vram_warning"], **pct}),
                "vram_critical_threshold": ("FLOAT", {"default": _CORE["vram_critical"], **pct}),
                "auto_escalate": ("BOOLEAN", {"default": _CORE["escalate"]}),
                "cooldown_seconds": ("FLOAT", {"default": _CORE["cooldown_s"], "min": 0.0, "max": 3600.0, "step": 1.0}),
                "allow_cache_drop": ("BOOLEAN", {"default": _CORE["allow_cache_drop"]}),
                "history_entries": ("INT", {"default": 10, "min": 1, "max": 500}),
            },
            "optional": {"anything": (ANY, {})},
        }

    RETURN_TYPES = (ANY, "STRING", "STRING", "STRING", "STRING", "INT", "FLOAT")
    RETURN_NAMES = (
        "anything",
        "status",
        "statistics",
        "history",
        "pressure_level",
        "actions_taken",
        "memory_freed_gb",
    )

    def run(
        self,
        enabled: bool,
        management_mode: str,
        warning_threshold: float,
        critical_threshold: float,
        vram_warning_threshold: float,
        vram_critical_threshold: float,
        auto_escalate: bool,
        cooldown_seconds: float,
        allow_cache_drop: bool,
        history_entries: int,
        anything: Any = None,
    ) -> dict[str, Any]:
        _flags(enabled=enabled, auto_escalate=auto_escalate, allow_cache_drop=allow_cache_drop)
        settings = {
            "mode": _choice("management_mode", management_mode, MODES),
            "ram_warning": _number("warning_threshold", warning_threshold, 1.0, 100.0),
            "ram_critical": _number("critical_threshold", critical_threshold, 1.0, 100.0),
            "vram_warning": _number("vram_warning_threshold", vram_warning_threshold, 1.0, 100.0),
            "vram_critical": _number("vram_critical_threshold", vram_critical_threshold, 1.0, 100.0),
            "escalate": auto_escalate,
            "cooldown_s": _number("cooldown_seconds", cooldown_seconds, 0.0, 3600.0),
            "allow_cache_drop": allow_cache_drop,
        }
        n = _int("history_entries", history_entries, 1, 500)
        st, note = _configure(enabled, settings)
        stats = mgr.stats()
        stats_text = stats.text().rstrip("\n")
        hist = _native.history_text(mgr.history(last=n)).rstrip("\n")
        level = str(st.policy_state.get("level", "normal"))
        report = f"{st.text}\n{note}\n\n{stats_text}\n\nlast {n} action(s):\n{hist}"
        _emit("Smart Memory Manager", note.splitlines()[0], report)
        freed = round_gb(stats.freed_total_bytes / GB)
        return _out(report, anything, st.text, stats_text, hist, level, int(stats.count), freed)


NODE_CLASS_MAPPINGS: dict[str, type[MemwardenNode]] = {
    "AutoMemoryCleanup": AutoMemoryCleanup,
    "SmartMemoryManager": SmartMemoryManager,
}

NODE_DISPLAY_NAME_MAPPINGS: dict[str, str] = {
    "AutoMemoryCleanup": "Auto Memory Cleanup",
    "SmartMemoryManager": "Smart Memory Manager",
}
