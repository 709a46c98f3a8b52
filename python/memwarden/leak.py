"""Leak detection for ComfyUI: per-prompt memory series, memory per node type, and
tracemalloc allocation sites. Every verdict is the core's (`assess_leak`,
`attribute_nodes`); this module only collects the figures and words the report.

What it records, from ComfyUI's execution events (`memwarden.events`):

- around every executed node: this process's RSS (one statm read) and, when CUDA is
  initialised, torch's allocated bytes, so each node type's executions can be told
  apart by what they leave behind;
- after every prompt: RSS, USS, torch allocated/reserved per GPU, the traced size
  when tracemalloc is on, and every ``gc_every`` prompts the live objects by type;
- tracemalloc snapshots (at start, on demand, or every ``snapshot_every`` prompts)
  compared to the first one: the allocation sites (file:line) that grew the most.

Each report is appended as one JSON line to ``leak-history.jsonl`` in ComfyUI's user
directory (``user/memwarden/``), else in ``$XDG_STATE_HOME/memwarden/``, so later
sessions can say how earlier ones went.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import threading
import time
import tracemalloc
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import memwarden._native as _native  # noqa: PLR0402 - the extension module itself, not the package namespace

from . import _paths, events
from ._native import LeakVerdict, NodeSuspect
from .events import ExecutionEvent

__all__ = [
    "LeakDetector",
    "LeakReport",
    "PromptSample",
    "current_detector",
    "history_dir",
    "shared_detector",
]

MB = 1024 * 1024
HISTORY_FILE = "leak-history.jsonl"


@dataclass
class PromptSample:
    """Memory after one prompt."""

    index: int
    rss: int
    uss: int | None
    torch_allocated: dict[int, int]  # per CUDA device
    torch_reserved: dict[int, int]
    traced: int | None  # tracemalloc's traced size, when tracing
    objects: dict[str, int] | None  # live objects by type (every gc_every prompts)


@dataclass
class LeakReport:
    """The detector's findings, with the core's verdicts."""

    leak: bool
    prompts: int
    warmup: int
    slope_mb_per_prompt: float
    verdicts: dict[str, LeakVerdict]  # series name -> verdict
    suspects: list[NodeSuspect]
    top_sites: list[str]
    growing_types: list[str]
    dead_models: list[str]
    history: list[dict[str, Any]] = field(default_factory=list)

    def suspect_types(self) -> list[str]:
        return [s.node_type for s in self.suspects if s.verdict.leak]

    def text(self) -> str:
        return _report_text(self)


def _torch_cuda() -> Any:
    """torch.cuda when torch is already imported and CUDA initialised, else None
    (never imports torch nor initialises CUDA)."""
    torch = sys.modules.get("torch")
    cuda = getattr(torch, "cuda", None)
    try:
        return cuda if cuda is not None and cuda.is_initialized() else None
    except Exception:  # noqa: BLE001 - a broken CUDA setup only means no VRAM figure
        return None


def _vram_now() -> int:
    cuda = _torch_cuda()
    if cuda is None:
        return 0
    return int(sum(cuda.memory_allocated(i) for i in range(cuda.device_count())))


def _traced_now() -> int | None:
    return tracemalloc.get_traced_memory()[0] if tracemalloc.is_tracing() else None


def history_dir() -> Path:
    """ComfyUI's user directory + /memwarden when running in ComfyUI, else
    $XDG_STATE_HOME/memwarden (~/.local/state/memwarden; %LOCALAPPDATA% on Windows)."""
    return _paths.state_directory()


def dead_models() -> list[str]:
    """ComfyUI's loaded models whose ModelPatcher is gone while the real model is
    still alive (what ComfyUI itself calls a potential memory leak)."""
    mm = sys.modules.get("comfy.model_management")
    out = []
    for entry in list(getattr(mm, "current_loaded_models", []) or []):
        real = getattr(entry, "real_model", None)
        model = real() if callable(real) else None
        if model is not None and getattr(entry, "model", None) is None:
            out.append(type(model).__name__)
    return out


#: The core's default leak settings (``policy::leak``'s ``LeakConfig::default()``):
#: the detector's knobs take them, never a copy.
_CORE: dict[str, Any] = _native.default_leak_config()


class LeakDetector:
    """Collects per-prompt and per-node memory figures from ComfyUI's execution
    events; `report()` asks the core for the verdicts."""

    def __init__(  # noqa: PLR0913 - the detector's knobs, all keyword-only
        self,
        *,
        warmup: int = _CORE["warmup"],
        min_slope_mb: float = _CORE["min_slope_mb"],
        alpha: float = _CORE["alpha"],
        min_points: int = _CORE["min_points"],
        per_node: bool = True,
        keep: int = 300,
        gc_every: int = 5,
        snapshot_every: int = 0,
        site_threshold_mb: float = 1.0,
    ) -> None:
        self.warmup, self.min_slope_mb, self.alpha = warmup, min_slope_mb, alpha
        self.min_points, self.per_node, self.keep = min_points, per_node, keep
        self.gc_every, self.snapshot_every = gc_every, snapshot_every
        self.site_threshold_mb = site_threshold_mb
        self.samples: list[PromptSample] = []
        self.records: list[tuple[str, int, int, int, int | None]] = []
        self.prompt_index = 0
        self.session = f"{os.getpid()}-{int(time.time())}"
        self._open: dict[str, tuple[int, int, int | None]] = {}
        self.accounting_s = 0.0  # time spent in per-node accounting
        self._baseline: tracemalloc.Snapshot | None = None
        self._latest: tracemalloc.Snapshot | None = None
        self._unsubscribe: Any = None
        self._lock = threading.Lock()

    # -- wiring ---------------------------------------------------------------
    def attach(self) -> None:
        """Subscribe to the execution events (:mod:`memwarden.events`; inside
        ComfyUI its hooks emit them)."""
        if self._unsubscribe is None:
            self._unsubscribe = events.subscribe(self.on_event)

    def detach(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    @property
    def attached(self) -> bool:
        return self._unsubscribe is not None

    def reset(self) -> None:
        with self._lock:
            self.samples.clear()
            self.records.clear()
            self._open.clear()
            self.prompt_index = 0
            self.accounting_s = 0.0
            self._baseline = self._latest = None

    # -- events ---------------------------------------------------------------
    def on_event(self, event: ExecutionEvent) -> None:
        if event.kind == "prompt_end":
            self.end_prompt()
            return
        t0 = time.perf_counter()
        self._on_node(event)
        self.accounting_s += time.perf_counter() - t0

    def _on_node(self, event: ExecutionEvent) -> None:
        """Per-node accounting (its own cost is added up in `accounting_s`)."""
        if event.kind == "node_start" and self.per_node and event.node_id is not None:
            self._open[event.node_id] = (_native.self_rss_bytes(), _vram_now(), _traced_now())
        elif event.kind == "node_end" and event.node_id is not None:
            before = self._open.pop(event.node_id, None)
            if before is not None and event.node_type is not None:
                rss, vram, traced = _native.self_rss_bytes(), _vram_now(), _traced_now()
                dtraced = None if traced is None or before[2] is None else traced - before[2]
                self.records.append((event.node_type, self.prompt_index, rss - before[0], vram - before[1], dtraced))

    def end_prompt(self) -> PromptSample:
        """Record the memory after a prompt (the hook calls this at prompt_end)."""
        with self._lock:
            sample = self._sample(self.prompt_index)
            self.samples.append(sample)
            self.prompt_index += 1
            del self.samples[: -self.keep]
            cutoff = self.prompt_index - self.keep
            if self.records and self.records[0][1] < cutoff:
                self.records = [r for r in self.records if r[1] >= cutoff]
            if self.snapshot_every > 0 and self.prompt_index % self.snapshot_every == 0:
                self.take_snapshot()
            return sample

    def _sample(self, index: int) -> PromptSample:
        proc = _native.process_memory(detailed=True)
        allocated: dict[int, int] = {}
        reserved: dict[int, int] = {}
        cuda = _torch_cuda()
        if cuda is not None:
            for i in range(cuda.device_count()):
                allocated[i] = int(cuda.memory_allocated(i))
                reserved[i] = int(cuda.memory_reserved(i))
        objects = None
        if self.gc_every > 0 and index % self.gc_every == 0:
            counts = Counter(type(o).__name__ for o in gc.get_objects())
            objects = dict(counts.most_common(200))
        traced = _traced_now()
        return PromptSample(index, proc.rss_bytes, proc.uss_bytes, allocated, reserved, traced, objects)

    # -- tracemalloc ----------------------------------------------------------
    def start_tracing(self, frames: int = 1) -> None:
        """Start tracemalloc (if off) and take the baseline snapshot."""
        if not tracemalloc.is_tracing():
            tracemalloc.start(frames)
        self._baseline = self._take()
        self._latest = None

    def take_snapshot(self) -> None:
        """A tracemalloc snapshot compared against the baseline (none when off)."""
        if not tracemalloc.is_tracing():
            return
        if self._baseline is None:
            self._baseline = self._take()
        else:
            self._latest = self._take()

    @staticmethod
    def _take() -> tracemalloc.Snapshot:
        return tracemalloc.take_snapshot().filter_traces(
            [
                tracemalloc.Filter(False, tracemalloc.__file__),
                tracemalloc.Filter(False, "<frozen importlib._bootstrap>"),
                tracemalloc.Filter(False, "<frozen importlib._bootstrap_external>"),
            ]
        )

    def top_sites(self, limit: int = 10) -> list[str]:
        """Allocation sites (file:line) that grew by at least the threshold since
        the baseline snapshot, largest first."""
        if self._baseline is None or self._latest is None:
            return []
        stats = self._latest.compare_to(self._baseline, "lineno")
        sites = [
            (st.traceback[0].filename, st.traceback[0].lineno, st.size_diff, st.count_diff, st.size) for st in stats
        ]
        return _native.grown_sites(sites, self.site_threshold_mb, limit)

    # -- verdicts -------------------------------------------------------------
    def _knobs(self) -> dict[str, Any]:
        return {
            "warmup": self.warmup,
            "min_points": self.min_points,
            "alpha": self.alpha,
            "min_slope_mb": self.min_slope_mb,
        }

    def series(self) -> dict[str, list[float]]:
        """Every per-prompt series the verdict is taken on (bytes per prompt)."""
        out: dict[str, list[float]] = {"rss": [float(s.rss) for s in self.samples]}
        if self.samples and all(s.uss is not None for s in self.samples):
            out["uss"] = [float(s.uss or 0) for s in self.samples]
        if self.samples and all(s.traced is not None for s in self.samples):
            out["traced"] = [float(s.traced or 0) for s in self.samples]
        for dev in self.samples[-1].torch_allocated if self.samples else {}:
            out[f"cuda:{dev} allocated"] = [float(s.torch_allocated.get(dev, 0)) for s in self.samples]
        return out

    def growing_types(self, limit: int = 5) -> list[str]:
        """Object types whose live count keeps growing (the core's trend test on
        each type's count, a minimum of 1 object per sampled prompt)."""
        sampled = [s.objects for s in self.samples if s.objects is not None]
        return _native.growing_types(sampled, alpha=self.alpha, limit=limit)

    def rss_verdict(self) -> tuple[int, LeakVerdict | None]:
        """Prompts sampled so far and the core's verdict on their resident memory
        (None before the first prompt): the cheap part of `report()`, for live views."""
        with self._lock:
            rss = self.series()["rss"]
            knobs = self._knobs()
        return len(rss), (_native.assess_leak(rss, **knobs) if rss else None)

    def report(self, persist: bool = True) -> LeakReport:
        """The verdicts now (and, when `persist`, one line in the history file)."""
        with self._lock:
            verdicts, leak, slope = _native.assess_series(self.series(), self._knobs())
            suspects = _native.attribute_nodes(self.records, **self._knobs())
            rep = LeakReport(
                leak=leak,
                prompts=len(self.samples),
                warmup=self.warmup,
                slope_mb_per_prompt=slope / MB,
                verdicts=verdicts,
                suspects=suspects,
                top_sites=self.top_sites(),
                growing_types=self.growing_types(),
                dead_models=dead_models(),
                history=[h for h in read_history() if h.get("session") != self.session],
            )
        if persist:
            self._persist(rep)
        return rep

    def _persist(self, rep: LeakReport) -> None:
        line = {
            "session": self.session,
            "at_unix": time.time(),
            "prompts": rep.prompts,
            "leak": rep.leak,
            "slope_mb_per_prompt": rep.slope_mb_per_prompt,
            "suspects": rep.suspect_types(),
            "top_sites": rep.top_sites[:3],
            "dead_models": rep.dead_models,
        }
        try:
            path = history_dir()
            path.mkdir(parents=True, exist_ok=True)
            with (path / HISTORY_FILE).open("a", encoding="utf-8") as f:
                f.write(json.dumps(line) + "\n")
        except OSError:
            pass  # history is a convenience: an unwritable directory loses only it

    def samples_as_dicts(self) -> list[dict[str, Any]]:
        return [asdict(s) for s in self.samples]


def read_history(limit: int = 200) -> list[dict[str, Any]]:
    """The last report of each earlier session (newest last), from the history file."""
    try:
        lines = (history_dir() / HISTORY_FILE).read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    last: dict[str, dict[str, Any]] = {}
    for line in lines[-5000:]:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and "session" in entry:
            last[str(entry["session"])] = entry
    return list(last.values())[-limit:]


def _report_text(rep: LeakReport) -> str:
    """The report in words, rendered by the core from the detector's findings."""
    return _native.leak_report_text(
        {
            "leak": rep.leak,
            "prompts": rep.prompts,
            "warmup": rep.warmup,
            "verdicts": [(name, v.to_dict()) for name, v in rep.verdicts.items()],
            "suspects": [s.to_dict() for s in rep.suspects],
            "top_sites": rep.top_sites,
            "growing_types": rep.growing_types,
            "dead_models": rep.dead_models,
            "earlier_sessions": len(rep.history),
            "earlier_flagged": sum(1 for h in rep.history if h.get("leak")),
        }
    )


_shared: LeakDetector | None = None
_shared_lock = threading.Lock()


def current_detector() -> LeakDetector | None:
    """The detector of this process if a node created it, else None (none created)."""
    return _shared


def shared_detector() -> LeakDetector:
    """The detector of this process (the node's)."""
    global _shared  # noqa: PLW0603 - one detector per process
    with _shared_lock:
        if _shared is None:
            _shared = LeakDetector()
        return _shared
