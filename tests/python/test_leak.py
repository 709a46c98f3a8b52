"""The leak detector fed real allocations in this process through execution events,
the core's verdict through the binding, dead models, history and the node."""

from __future__ import annotations

import json
import sys
import tracemalloc
import types
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import memwarden
import pytest
from memwarden import _native
from memwarden.comfy import hooks
from memwarden.leak import LeakDetector, dead_models, history_dir, read_history

MB = 1 << 20
KEEP: list[bytearray] = []  # what the "leaky node" keeps, like a module-level cache


def _touch(n: int) -> bytearray:
    buf = bytearray(n)
    buf[::4096] = b"\x01" * len(range(0, n, 4096))  # resident, not only reserved
    return buf


def leaky_node() -> None:
    KEEP.append(_touch(8 * MB))


ALLOC_LINE = _touch.__code__.co_firstlineno + 1  # the bytearray() allocation


def clean_node() -> None:
    tmp = _touch(8 * MB)
    del tmp


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.delitem(sys.modules, "folder_paths", raising=False)
    KEEP.clear()
    yield
    KEEP.clear()
    if tracemalloc.is_tracing():
        tracemalloc.stop()


def _run_prompts(det: LeakDetector, n: int, leaky: bool) -> None:
    """`n` prompts of a two-node workflow, announced through the hook's emit()."""
    for p in range(n):
        pid = f"p{p}"
        hooks.emit(hooks.ExecutionEvent("prompt_start", pid, 0.0))
        for node_id, node_type, fn in [
            ("1", "CleanNode", clean_node),
            ("2", "LeakyNode" if leaky else "TwinNode", leaky_node if leaky else clean_node),
        ]:
            hooks.emit(hooks.ExecutionEvent("node_start", pid, 0.0, node_id, node_type))
            fn()
            hooks.emit(hooks.ExecutionEvent("node_end", pid, 0.0, node_id, node_type, True))
        hooks.emit(hooks.ExecutionEvent("prompt_end", pid, 0.0, success=True))


def _detector() -> tuple[LeakDetector, Any]:
    det = LeakDetector(warmup=2, min_slope_mb=1.0, snapshot_every=4, gc_every=1)
    stop = hooks.subscribe(det.on_event)
    det.start_tracing()
    return det, stop


def test_leaking_workflow_is_flagged_with_node_type_and_site() -> None:
    det, stop = _detector()
    try:
        _run_prompts(det, 16, leaky=True)
        det.take_snapshot()
        rep = det.report()
    finally:
        stop()
    assert rep.leak, rep.text()
    assert rep.verdicts["rss"].leak, rep.text()
    assert 6.0 < rep.verdicts["rss"].slope_bytes_per_prompt / MB < 10.0, rep.text()
    assert rep.verdicts["traced"].leak, rep.text()
    assert rep.suspect_types() == ["LeakyNode"], rep.text()
    leaky = rep.suspects[0]
    assert leaky.executions == 14, rep.text()
    assert leaky.median_traced_bytes is not None, rep.text()
    assert 7.9 < leaky.median_traced_bytes / MB < 8.1, rep.text()
    # 14 kept buffers after warm-up: 14 x 8 MB traced
    assert leaky.total_traced_bytes is not None and leaky.total_traced_bytes >= 14 * 8 * MB
    assert rep.top_sites, rep.text()
    assert rep.top_sites[0].startswith(f"{__file__}:{ALLOC_LINE} +"), rep.top_sites
    assert "LEAK DETECTED" in rep.text() and "SUSPECT LeakyNode" in rep.text()


def test_same_workflow_without_the_leak_raises_no_alarm() -> None:
    det, stop = _detector()
    try:
        _run_prompts(det, 16, leaky=False)
        det.take_snapshot()
        rep = det.report()
    finally:
        stop()
    assert not rep.leak, rep.text()
    assert rep.suspect_types() == [], rep.text()
    assert rep.top_sites == [], rep.text()
    assert {s.node_type for s in rep.suspects} == {"CleanNode", "TwinNode"}
    assert "no leak detected" in rep.text()


def test_growing_object_types() -> None:
    kept: list[object] = []

    class Widget:
        pass

    det = LeakDetector(gc_every=1)
    for _ in range(8):
        kept.extend(Widget() for _ in range(50))
        det.end_prompt()
    assert any(t.startswith("Widget +") for t in det.growing_types()), det.growing_types()


def test_history_across_sessions() -> None:
    first = LeakDetector()
    first.end_prompt()
    first.report()
    second = LeakDetector()
    second.session = "another-session"
    rep = second.report()
    assert [h["session"] for h in rep.history] == [first.session]
    assert "1 earlier sessions recorded" in rep.text()
    assert (history_dir() / "leak-history.jsonl").exists()
    lines = (history_dir() / "leak-history.jsonl").read_text().splitlines()
    assert {json.loads(x)["session"] for x in lines} == {first.session, "another-session"}
    assert len(read_history()) == 2


def test_dead_models(monkeypatch: pytest.MonkeyPatch) -> None:
    """ComfyUI's LoadedModel: `model` is the patcher through a weakref; dead when the
    patcher is gone while the real model is alive."""

    class Net:
        pass

    class Patcher:
        pass

    class LoadedModel:
        def __init__(self, patcher: Patcher, net: Net) -> None:
            self._model = weakref.ref(patcher)
            self.real_model = weakref.ref(net)

        @property
        def model(self) -> Patcher | None:
            return self._model()

    net_alive, net_dead = Net(), Net()
    patcher = Patcher()
    gone = Patcher()
    entries = [LoadedModel(patcher, net_alive), LoadedModel(gone, net_dead)]
    del gone
    mm = types.ModuleType("comfy.model_management")
    mm.current_loaded_models = entries  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "comfy.model_management", mm)
    assert dead_models() == ["Net"]
    rep = LeakDetector().report(persist=False)
    assert rep.dead_models == ["Net"] and "Dead models" in rep.text()


def test_binding_checks_its_arguments() -> None:
    with pytest.raises(memwarden.InvalidInput, match="alpha"):
        _native.assess_leak([1.0] * 10, alpha=2.0)
    with pytest.raises(memwarden.InvalidInput, match=r"series\[1\]"):
        _native.assess_leak([1.0, "x"])  # type: ignore[list-item]
    with pytest.raises(memwarden.InvalidInput, match=r"records\[0\]"):
        _native.attribute_nodes([("A", 1, 2, 3)])  # type: ignore[list-item]
    v = _native.assess_leak([float(i * 5 * MB) for i in range(20)], warmup=0)
    assert v.leak and v.points == 20 and v.trend is not None and v.trend.s == 190
    assert type(v).from_dict(v.to_dict()) == v
    assert _native.self_rss_bytes() > 0
    with pytest.raises(memwarden.InvalidInput, match="unknown leak setting 'alfa'"):
        _native.assess_series({"rss": [1.0] * 10}, {"alfa": 0.1})
    with pytest.raises(memwarden.InvalidInput, match=r"series\["):
        _native.assess_series({"rss": [1.0, "x"]}, {})  # type: ignore[dict-item]
    up = [float(i * 5 * MB) for i in range(20)]
    verdicts, leak, slope = _native.assess_series({"rss": up, "uss": [1.0] * 20}, {"warmup": 0})
    assert leak and slope == 5 * MB and not verdicts["uss"].leak and verdicts["rss"].points == 20


def test_node_reports_in_process() -> None:
    from memwarden.comfy.leak_nodes import MemoryLeakDetector

    MemoryLeakDetector().run(mode="start")  # the detector is the process's: forget earlier tests
    out = MemoryLeakDetector().run(mode="report", anything="x")
    anything, report, leak, slope, _sites, _suspects = out["result"]
    assert anything == "x" and leak is False and isinstance(slope, float)
    assert "Memory Leak Detector" in report and out["ui"]["text"] == [report]
    with pytest.raises(memwarden.InvalidInput, match="mode"):
        MemoryLeakDetector().run(mode="sometimes")


def test_node_start_then_compare_names_the_growing_site() -> None:
    """The node's own modes in-process: start (baseline, tracemalloc on), prompts that
    keep memory (announced through the hook), then compare."""
    from memwarden.comfy.leak_nodes import MemoryLeakDetector

    node = MemoryLeakDetector()
    started = node.run(mode="start", tracemalloc=True, threshold_mb=1.0, warmup_prompts=0)
    assert "tracking restarted" in started["result"][1] and "baseline snapshot taken" in started["result"][1]
    for p in range(10):
        hooks.emit(hooks.ExecutionEvent("node_start", f"n{p}", 0.0, "9", "KeepNode"))
        leaky_node()
        hooks.emit(hooks.ExecutionEvent("node_end", f"n{p}", 0.0, "9", "KeepNode", True))
        hooks.emit(hooks.ExecutionEvent("prompt_end", f"n{p}", 0.0, success=True))
    out = node.run(mode="compare", tracemalloc=True, threshold_mb=1.0, warmup_prompts=0)
    _, report, leak, slope, sites, suspects = out["result"]
    assert leak is True and 6.0 < slope < 10.0, report
    assert suspects == "KeepNode", report
    assert sites.splitlines()[0].startswith(f"{__file__}:{ALLOC_LINE} +"), sites
    summary = out["ui"]["leak"][0]
    assert summary["leak_detected"] is True and summary["suspect_nodes"] == ["KeepNode"]
    stopped = node.run(mode="report", tracemalloc=False)
    assert "tracemalloc stopped" in stopped["result"][1]
    assert not tracemalloc.is_tracing()
