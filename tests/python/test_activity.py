"""The pack's activity, joined for the panel and the metrics route: a real manager
acting on a prompt end, a real leak detector fed real allocations, the panel's own
cleanups, and the Prometheus text those produce."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import memwarden.manager as mm
import pytest
from conftest import until
from memwarden import _native, leak
from memwarden.comfy import activity, hooks, routes

MB = 1 << 20
KEEP: list[bytearray] = []


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delitem(sys.modules, "folder_paths", raising=False)
    monkeypatch.setattr(leak, "_shared", None)
    mm.stop()
    KEEP.clear()
    yield
    mm.stop()
    KEEP.clear()
    hooks.now.running = None


def panel_items() -> list[dict[str, Any]]:
    return [
        {
            "at_unix_ms": 1_000,
            "mode": "balanced",
            "process_freed_bytes": 3 * MB,
            "vram_freed_bytes": MB,
            "duration_s": 0.5,
        },
        {"at_unix_ms": 2_000, "mode": "balanced", "process_freed_bytes": -MB, "vram_freed_bytes": 0, "duration_s": 0.1},
    ]


def test_without_manager_or_detector_only_the_panels_cleanups_count() -> None:
    sec = activity.cleanups_section(panel_items)
    assert [i["at_unix_ms"] for i in sec["items"]] == [2_000, 1_000]  # newest first
    assert "manager" not in sec["source"]
    assert activity.leak_section() is None  # the panel says "not running"
    act = activity.metrics_activity(panel_items)
    # A cleanup that measured growth reclaimed nothing, never a negative amount.
    assert act["cleanups"] == [{"action": "balanced", "trigger": "panel", "count": 2, "reclaimed_bytes": 4 * MB}]
    assert act["leak_slope_bytes_per_prompt"] is None
    text = _native.metrics_text(None, act)
    assert 'memwarden_cleanups_total{action="balanced",trigger="panel"} 2' in text


def test_a_running_managers_actions_join_the_panel_and_the_metrics(tmp_path: Path) -> None:
    mm.start(history_file=str(tmp_path / "history.jsonl"), settle_s=0.0)
    hooks.emit(hooks.ExecutionEvent("prompt_end", "p1", time.monotonic(), success=True))
    until(lambda: mm.status().actions >= 1, "the manager's prompt-end action")
    a = mm.history()[-1]
    sec = activity.cleanups_section(list)
    assert sec["items"][0]["mode"] == f"{a.mode} (manager, {a.trigger})"
    assert sec["items"][0]["process_freed_bytes"] == a.freed_bytes
    assert "memwarden manager" in sec["source"]
    rows = {(r["action"], r["trigger"]): r for r in activity.metrics_activity(list)["cleanups"]}
    assert rows[(a.mode, a.trigger)]["count"] == 1
    assert rows[(a.mode, a.trigger)]["reclaimed_bytes"] == max(a.freed_bytes, 0)


def _prompts(n: int, leaky: bool) -> None:
    for p in range(n):
        pid = f"p{p}"
        hooks.emit(hooks.ExecutionEvent("prompt_start", pid, 0.0))
        hooks.emit(hooks.ExecutionEvent("node_start", pid, 0.0, "1", "Node"))
        buf = bytearray(8 * MB)
        buf[::4096] = b"\x01" * len(range(0, 8 * MB, 4096))
        if leaky:
            KEEP.append(buf)
        del buf
        hooks.emit(hooks.ExecutionEvent("node_end", pid, 0.0, "1", "Node", True))
        hooks.emit(hooks.ExecutionEvent("prompt_end", pid, 0.0, success=True))


def test_an_attached_detector_gives_its_verdict_and_the_slope() -> None:
    det = leak.shared_detector()
    det.warmup, det.min_points = 2, 8
    det.attach()
    try:
        assert activity.leak_section() == {
            "text": "Leak detector: attached, no prompt finished yet",
            "leak": False,
            "prompts": 0,
        }
        _prompts(14, leaky=True)
        sec = activity.leak_section()
        assert sec is not None
        assert sec["leak"] is True, sec["text"]
        assert sec["text"].startswith("Leak detector: LEAK suspected after 14 prompts")
        assert 6.0 < sec["slope_mb_per_prompt"] < 10.0  # 8 MB kept per prompt
        slope = activity.metrics_activity(list)["leak_slope_bytes_per_prompt"]
        assert slope == pytest.approx(sec["slope_mb_per_prompt"] * MB)
        assert "memwarden_leak_slope_bytes_per_prompt" in _native.metrics_text(None, activity.metrics_activity(list))
    finally:
        det.detach()


def test_a_section_whose_provider_returns_none_is_not_running() -> None:
    remove = routes.register_feed_provider("leak", lambda: None)
    try:
        assert routes.feed_sections()["leak"] == {"running": False}
    finally:
        remove()


def test_register_outside_comfyui_is_false(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(routes, "_registered", {})
    assert activity.register() is False


def test_register_feeds_the_panel_sections_and_the_metrics_route(monkeypatch: pytest.MonkeyPatch) -> None:
    from memwarden.comfy import metrics_route

    class Cleanups:
        def section(self) -> dict[str, Any]:
            return {"source": "panel", "items": panel_items()}

    class Panel:
        cleanups = Cleanups()

    monkeypatch.setattr(routes, "_registered", {"panel": Panel()})
    monkeypatch.setattr(routes, "_providers", {})
    monkeypatch.setitem(metrics_route._state, "provider", None)
    assert activity.register() is True
    sections = routes.feed_sections()
    assert [i["at_unix_ms"] for i in sections["cleanups"]["data"]["items"]] == [2_000, 1_000]
    assert sections["leak"] == {"running": False}  # no detector attached
    text, _ = metrics_route.metrics()
    assert 'memwarden_cleanups_total{action="balanced",trigger="panel"} 2' in text
