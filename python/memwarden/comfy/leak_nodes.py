"""Memory Leak Detector node (seed: memory-management-package-structure.md).

The node drives the process's :class:`memwarden.leak.LeakDetector`, which records
memory after every prompt and around every node from ComfyUI's execution events (not
only when the node runs). Modes:

- ``scheduled`` (default): start tracking on the first run; with tracemalloc on, a
  snapshot every ``snapshot_interval`` prompts is compared with the first one;
- ``start``: forget everything recorded and start again now (baseline snapshot);
- ``compare``: take a tracemalloc snapshot now and compare it with the baseline;
- ``report``: the verdict on what is recorded, no new snapshot.

Every run reports the core's verdicts (per-prompt series, memory left behind per
node type), the top growing allocation sites, object types that keep growing, dead
models, and how earlier sessions went (the history file).
"""

from __future__ import annotations

import tracemalloc
from typing import Any, ClassVar

from .. import _native
from ..leak import MB, LeakDetector, LeakReport, shared_detector
from . import hooks
from .base import ANY, MemwardenNode, _choice, _emit, _flags, _int, _number


def _configure(det: LeakDetector, mode: str, threshold_mb: float, warmup: int, interval: int) -> None:
    det.min_slope_mb = threshold_mb
    det.site_threshold_mb = threshold_mb
    det.warmup = warmup
    det.snapshot_every = interval if mode == "scheduled" else 0


def _start(det: LeakDetector, mode: str, trace: bool) -> str:
    """Start (or restart) tracking; what happened, in words (the core's)."""
    restarted = mode == "start"
    if restarted:
        det.reset()
    hooks_missing = None
    if not det.attached or restarted:
        det.attach()
        hooks_missing = None if hooks.install() else hooks.install_reason()
    started = trace and (restarted or not tracemalloc.is_tracing())
    if started:
        det.start_tracing()
    stopped = not trace and tracemalloc.is_tracing()
    if stopped:
        tracemalloc.stop()
    return _native.leak_tracking_notes(
        restarted=restarted, hooks_missing=hooks_missing, tracing_started=started, tracing_stopped=stopped
    )


#: The leak verdict's defaults, the core's (``LeakConfig::default()``).
_LEAK: dict[str, Any] = _native.default_leak_config()


class MemoryLeakDetector(MemwardenNode):
    """Memory Leak Detector: is memory growing prompt after prompt, which node type
    leaves it behind, and which allocation sites grow."""

    MODES: ClassVar[list[str]] = ["scheduled", "start", "compare", "report"]

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "mode": (cls.MODES, {"default": "scheduled"}),
                "threshold_mb": (
                    "FLOAT",
                    {
                        "default": _LEAK["min_slope_mb"],
                        "min": 0.0,
                        "max": 100000.0,
                        "step": 0.5,
                        "tooltip": "smallest growth called a leak, MB per prompt; also the "
                        "smallest growth of an allocation site that is listed",
                    },
                ),
                "warmup_prompts": ("INT", {"default": _LEAK["warmup"], "min": 0, "max": 1000}),
                "tracemalloc": ("BOOLEAN", {"default": False}),
                "snapshot_interval": ("INT", {"default": 5, "min": 1, "max": 100000}),
                "per_node": (
                    "BOOLEAN",
                    {
                        "default": True,
                        "tooltip": "RSS/VRAM before and after every node: which node type leaves memory behind",
                    },
                ),
            },
            "optional": {"anything": (ANY, {})},
        }

    RETURN_TYPES = (ANY, "STRING", "BOOLEAN", "FLOAT", "STRING", "STRING")
    RETURN_NAMES = (
        "anything",
        "report",
        "leak_detected",
        "slope_mb_per_prompt",
        "top_sites",
        "suspect_nodes",
    )

    def run(  # noqa: PLR0913, PLR0917 - the node's inputs
        self,
        mode: str = "scheduled",
        threshold_mb: float = _LEAK["min_slope_mb"],
        warmup_prompts: int = _LEAK["warmup"],
        tracemalloc: bool = False,
        snapshot_interval: int = 5,
        per_node: bool = True,
        anything: Any = None,
    ) -> dict[str, Any]:
        mode = _choice("mode", mode, self.MODES)
        threshold = _number("threshold_mb", threshold_mb, 0.0, 100000.0)
        warmup = _int("warmup_prompts", warmup_prompts, 0, 1000)
        interval = _int("snapshot_interval", snapshot_interval, 1, 100000)
        _flags(tracemalloc=tracemalloc, per_node=per_node)
        det = shared_detector()
        det.per_node = per_node
        _configure(det, mode, threshold, warmup, interval)
        notes = _start(det, mode, tracemalloc)
        if mode == "compare":
            det.take_snapshot()
        # the history file only for a real ComfyUI session (not a node run in a test)
        rep = det.report(persist=hooks.running_prompt() is not None)
        report = rep.text() + (f"\n{notes}" if notes else "")
        _emit("Memory Leak Detector", _status(rep), report)
        top = "\n".join(rep.top_sites)
        suspects = "\n".join(rep.suspect_types())
        summary = {
            "leak_detected": rep.leak,
            "slope_mb_per_prompt": rep.slope_mb_per_prompt,
            "prompts": rep.prompts,
            "top_sites": rep.top_sites,
            "suspect_nodes": rep.suspect_types(),
            "accounting_ms_per_prompt": det.accounting_s * 1000 / max(det.prompt_index, 1),
        }
        return {
            # the text on the node, and the figures for API clients (kept in /history)
            "ui": {"text": [report], "leak": [summary]},
            "result": (anything, report, rep.leak, round(rep.slope_mb_per_prompt, 3), top, suspects),
        }


def _status(rep: LeakReport) -> str:
    return _native.leak_status_line(rep.leak, rep.slope_mb_per_prompt * MB, rep.prompts)


NODE_CLASS_MAPPINGS: dict[str, type[MemwardenNode]] = {"MemoryLeakDetector": MemoryLeakDetector}
NODE_DISPLAY_NAME_MAPPINGS: dict[str, str] = {"MemoryLeakDetector": "Memory Leak Detector"}
