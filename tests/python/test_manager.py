"""The background manager for real: its threads, the PSI watch of this kernel, the
history file on disk, the hooks' events; a fake clock where the cooldown and the
escalation are under test, and faults injected into a step and into the reading
of memory (NVML lost)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import memwarden
import memwarden.manager as mm
import pytest
from conftest import until
from memwarden import _native
from memwarden.comfy import hooks
from memwarden.comfy.manager_nodes import AutoMemoryCleanup, SmartMemoryManager


def snap_at(ram: float) -> _native.Snapshot:
    d = memwarden.snapshot(top=0).to_dict()
    d["effective"]["percent_used"] = ram
    d["gpu"]["devices"] = []
    d["pressure"]["level"] = "none"
    psi = d["pressure"].get("psi")
    for line in (psi or {}).values():
        if isinstance(line, dict):
            line.update({"avg10": 0.0, "avg60": 0.0, "avg300": 0.0})
    return _native.Snapshot.from_dict(d)


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def hist(tmp_path: Path) -> Path:
    return tmp_path / "state" / "history.jsonl"


@pytest.fixture(autouse=True)
def no_manager(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No manager before or after each test; the default history file in tmp_path."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    mm.stop()
    yield
    mm.stop()
    hooks.now.running = None


def prompt_end(pid: str = "p") -> None:
    hooks.emit(hooks.ExecutionEvent("prompt_end", pid, time.monotonic(), success=True))


def test_prompt_end_trims_records_and_persists_across_restarts(hist: Path) -> None:
    # A calm machine whatever this one's pressure is now (no PSI trigger: other
    # processes' stalls must not wake it): the prompt end's decision is the trim.
    calm = mm.Manager(
        mm.ManagerSettings(history_file=str(hist), settle_s=0.0, use_psi=False), snapshot=lambda: snap_at(30.0)
    )
    st = mm._start_with(calm).status()
    assert st.running
    assert st.watch.startswith("sampling every 1.0 s (no PSI trigger: ")
    prompt_end("p1")
    until(lambda: mm.status().actions >= 1, "the prompt-end action")
    a = mm.history()[-1]
    assert (a.trigger, a.mode, a.level) == ("prompt_end", "trim", "normal")
    assert [s.name for s in a.steps] == ["OS-level trim"]
    assert all(s.freed_bytes is not None for s in a.steps)
    assert a.reason.startswith("prompt ended: returning freed heap (normal: ram ")
    line = json.loads(hist.read_text().splitlines()[-1])
    assert line["trigger"] == "prompt_end"
    mm.stop()
    assert not mm.running()
    # A new manager (a restart of ComfyUI) starts from the persisted history.
    mm.start(history_file=str(hist))
    assert [x.trigger for x in mm.history()] == ["prompt_end"]
    s = mm.stats()
    assert (s.count, s.by_trigger[0].name) == (1, "prompt_end")


def test_the_node_words_stats_and_history_as_the_command_does(hist: Path, tmp_path: Path) -> None:
    """Smart Memory Manager's statistics and history outputs are the text of
    ``memwarden history --stats`` and ``memwarden history``, from one printer."""
    calm = mm.Manager(
        mm.ManagerSettings(history_file=str(hist), settle_s=0.0, use_psi=False), snapshot=lambda: snap_at(30.0)
    )
    mm._start_with(calm)
    prompt_end("p1")
    until(lambda: mm.status().actions >= 1, "the prompt-end action")
    out = SmartMemoryManager().run(True, "Balanced", 80.0, 92.0, 85.0, 95.0, True, 30.0, False, 5)
    stats_out, history_out = out["result"][2], out["result"][3]
    # The same actions, in a file of their own, through the command.
    copy = tmp_path / "copy.jsonl"
    f = _native.HistoryFile(str(copy), 100)
    for a in mm.history(last=5):
        f.append(a)
    assert len(mm.history(last=5)) == len(mm.history()), "the stats count every action"

    def cli(*args: str) -> str:
        r = subprocess.run(
            [sys.executable, "-m", "memwarden", "history", "--file", str(copy), *args],
            capture_output=True,
            text=True,
            check=True,
        )
        return r.stdout

    assert history_out + "\n" == cli(), (history_out, cli())
    assert stats_out + "\n" == cli("--stats"), (stats_out, cli("--stats"))
    assert history_out.split()[2] == "prompt_end", history_out
    assert stats_out.startswith("1 action(s) from "), stats_out
    # No action yet: said, not an empty output.
    assert _native.history_text([]) == "no manager actions yet\n"


def test_one_manager_whatever_the_number_of_nodes(hist: Path) -> None:
    nodes = [AutoMemoryCleanup() for _ in range(10)] + [SmartMemoryManager() for _ in range(10)]
    managers = set()
    for i, n in enumerate(nodes):
        if isinstance(n, AutoMemoryCleanup):
            out = n.run(True, 80.0 + i, 85.0, "standard", 30.0, True)
        else:
            out = n.run(True, "Aggressive", 70.0, 90.0, 85.0, 95.0, True, 10.0, False, 5)
        managers.add(id(mm.current()))
        assert out["result"][1].startswith("memwarden manager: running")
    assert len(managers) == 1
    assert mm.status().history_file == str(hist.parent.parent / "xdg" / "memwarden" / "history.jsonl")
    names = [t.name for t in threading.enumerate()]
    assert names.count("memwarden-manager") == 1
    assert names.count("memwarden-manager-supervisor") == 1
    st = mm.status()
    assert st.settings["mode"] == "Aggressive"  # the last run's settings win
    assert st.settings["ram_warning"] == 70.0
    out = SmartMemoryManager().run(False, "Balanced", 80.0, 92.0, 85.0, 95.0, True, 30.0, False, 5)
    assert not mm.running()
    assert "manager stopped" in out["ui"]["text"][0]


def test_bad_settings_change_nothing(hist: Path) -> None:
    with pytest.raises(memwarden.InvalidInput, match="warning thresholds must not exceed critical ones"):
        mm.start(history_file=str(hist), ram_warning=95.0, ram_critical=90.0)
    with pytest.raises(memwarden.InvalidInput, match="unknown manager setting"):
        mm.start(history_file=str(hist), ram_treshold=5)
    with pytest.raises(memwarden.InvalidInput, match="unknown cleanup mode"):
        mm.start(history_file=str(hist), mode="turbo")
    # how the threads run: each setting named, with its bounds
    for bad, said in [
        ({"check_s": 0}, "check_s must be a number from 0.01 to 3600, got 0"),
        ({"sample_s": True}, "sample_s must be a number from 0.01 to 3600, not a bool"),
        ({"settle_s": -1}, "settle_s must be a number from 0 to 3600, got -1"),
        ({"history_keep": 0}, "history_keep must be an integer from 1 to 1000000"),
        ({"use_psi": 1}, "use_psi must be"),
        ({"history_file": 3}, "history_file must be a path or None, got 3"),
    ]:
        with pytest.raises(memwarden.InvalidInput, match=re.escape(said)):
            mm.start(**{"history_file": str(hist), **bad})
    assert not mm.running()
    assert not hist.exists()


def test_only_another_watch_or_history_restarts_the_manager(hist: Path) -> None:
    runner = mm.ManagerSettings(history_file=str(hist)).runner()
    assert runner == {**_native.default_manager_runner(), "history_file": str(hist)}
    assert not _native.manager_restarts(runner, {**runner, "check_s": 1.0, "settle_s": 2.0})
    assert not _native.manager_restarts(runner, {**runner, "history_file": hist})  # a Path is the same file
    for change in ({"use_psi": False}, {"sample_s": 0.5}, {"history_keep": 10}, {"history_file": None}):
        assert _native.manager_restarts(runner, {**runner, **change}), change
    assert [_native.restart_delay_s(n) for n in range(8)] == [1, 2, 4, 8, 16, 32, 60, 60]


def test_a_step_that_raises_is_recorded_and_the_manager_keeps_running(
    hist: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken() -> str:
        raise RuntimeError("injected fault in the trim")

    monkeypatch.setattr(sys.modules["memwarden.cleanup"], "trim_heap_detail", broken)
    # A calm machine whatever this one's pressure: the decision is the heap trim.
    settings = mm.ManagerSettings(history_file=str(hist), settle_s=0.0, use_psi=False)
    mm._start_with(mm.Manager(settings, snapshot=lambda: snap_at(30.0)))
    prompt_end("p1")
    until(lambda: mm.status().actions >= 1, "the failed action")
    a = mm.history()[-1]
    assert a.outcome == "failed"
    assert a.error == "OS-level trim: FAILED: RuntimeError: injected fault in the trim"
    assert [s.ok for s in a.steps] == [False]
    monkeypatch.undo()
    prompt_end("p2")  # handled, but backing off: the failed trim freed nothing
    until(lambda: mm.status().wakes.get("prompt_end") == 2, "the second prompt end")
    assert mm.status().actions == 1
    assert mm.current().policy.state["fruitless"] == 1  # type: ignore[union-attr]
    a = mm.wake("manual")  # ignores the back-off
    assert a is not None and a.outcome in ("freed", "nothing_freed"), a
    st = mm.status()
    assert st.running and st.faults == 1
    assert "injected fault" in (st.last_fault or "")


def test_nvml_lost_while_reading_memory_is_a_recorded_fault(hist: Path) -> None:
    calls = {"n": 0}

    def snapshot() -> _native.Snapshot:
        calls["n"] += 1
        if calls["n"] == 1:
            raise _native.Unsupported("NVML: GPU is lost (injected)")
        return snap_at(30.0)

    m = mm.Manager(mm.ManagerSettings(history_file=str(hist), settle_s=0.0, use_psi=False), snapshot=snapshot)
    mm._start_with(m)
    prompt_end("p1")
    until(lambda: mm.status().actions >= 1, "the fault")
    a = mm.history()[-1]
    assert (a.trigger, a.outcome) == ("prompt_end", "failed")
    assert a.error == "reading memory failed: Unsupported: NVML: GPU is lost (injected)"
    prompt_end("p2")
    until(lambda: mm.status().actions >= 2, "the next action")
    assert mm.history()[-1].mode == "trim"
    assert mm.running()
    assert mm.stats().failed == 1


def test_a_dead_thread_is_restarted_and_counted(hist: Path) -> None:
    m = mm.Manager(mm.ManagerSettings(history_file=str(hist), use_psi=False, sample_s=0.05))
    real = m.handle
    killed = threading.Event()

    def handle(kind: str) -> Any:
        if not killed.is_set():
            killed.set()
            raise SystemExit("injected: the manager thread dies")
        return real(kind)

    m.handle = handle  # type: ignore[method-assign]
    mm._start_with(m)
    until(lambda: mm.status().restarts == 1, "the supervisor's restart")
    until(mm.running, "the restarted thread")
    st = mm.status()
    assert "manager thread died: SystemExit: injected" in (st.last_fault or "") or st.faults >= 2
    triggers = [a.trigger for a in mm.history()]
    assert "supervisor" in triggers
    # The new thread works: it keeps sampling.
    n = st.wakes.get("sample", 0)
    until(lambda: mm.status().wakes.get("sample", 0) > n, "a sample from the new thread")


def test_cooldown_escalation_and_back_off_on_a_fake_clock(hist: Path) -> None:
    clock = Clock()
    ram = {"v": 85.0}
    s = mm.ManagerSettings(
        history_file=str(hist), mode="conservative", cooldown_s=30.0, min_freed_bytes=0, settle_s=0.0
    )
    m = mm.Manager(s, clock=clock, snapshot=lambda: snap_at(ram["v"]))
    a1 = m.handle("sample")
    assert a1 is not None and (a1.mode, a1.level) == ("conservative", "warning")
    clock.t += 10
    assert m.handle("sample") is None  # cooldown
    # (Real cleanups: one that happens to free nothing doubles the cooldown; 700 s
    # is past the longest back-off.)
    clock.t += 700
    a2 = m.handle("sample")
    assert a2 is not None and a2.mode == "balanced"  # pressure persisted: one step up
    clock.t += 700
    a3 = m.handle("sample")
    assert a3 is not None and a3.mode == "aggressive"
    ram["v"] = 40.0
    clock.t += 700
    assert m.handle("sample") is None
    assert m.policy.state["escalation"] == 0  # cleared: back to the configured mode
    # Back-off: heap trims that free nothing space out.
    m2 = mm.Manager(replace_settings(s, min_freed_bytes=1 << 40), clock=clock, snapshot=lambda: snap_at(30.0))
    assert m2.handle("prompt_end") is not None
    assert m2.handle("prompt_end") is None
    assert m2.policy.state["fruitless"] == 1
    clock.t += 11
    assert m2.handle("prompt_end") is not None


def replace_settings(s: mm.ManagerSettings, **kw: Any) -> mm.ManagerSettings:
    from dataclasses import replace

    return replace(s, **kw)


def test_a_running_node_only_gets_a_heap_trim_and_only_when_critical(hist: Path) -> None:
    clock = Clock()
    ram = {"v": 85.0}
    m = mm.Manager(mm.ManagerSettings(history_file=str(hist)), clock=clock, snapshot=lambda: snap_at(ram["v"]))
    hooks.now.running = "p-running"
    assert m.handle("pressure") is None
    ram["v"] = 97.0
    a = m.handle("pressure")
    assert a is not None and a.mode == "trim" and a.level == "critical"
    assert a.reason.startswith("critical during a running node: heap trim only")
    hooks.now.running = None
    clock.t += 700  # past any cooldown and back-off
    a = m.handle("sample")
    assert a is not None and a.mode == "aggressive"  # critical between prompts: one step up


def test_psi_watch_of_this_kernel_says_what_it_uses(tmp_path: Path) -> None:
    w = _native.PressureWatch()
    if not Path("/proc/pressure/memory").exists():
        assert w.description.startswith("sampling every")
        pytest.skip("no /proc/pressure/memory here: the sampling fallback was checked")
    assert w.is_trigger, w.description
    assert w.description.startswith("PSI trigger on ")
    assert w.wait(0.01) in (True, False)
    f = _native.PressureWatch(files=[str(tmp_path / "nope")])
    assert not f.is_trigger
    assert f.description.startswith(f"sampling every 1.0 s (no PSI trigger: {tmp_path / 'nope'}: ")
    assert f.wait(0.01) is False


def test_history_api_without_a_running_manager_reads_the_file(hist: Path) -> None:
    hist.parent.mkdir(parents=True)
    good = {
        "at_unix_ms": 1,
        "trigger": "manual",
        "level": "normal",
        "mode": "balanced",
        "reason": "asked",
        "steps": [],
        "freed_bytes": 5 << 20,
        "duration_ms": 2.0,
        "outcome": "freed",
        "error": None,
    }
    hist.write_text(json.dumps(good) + "\n{broken\n" + json.dumps(good) + "\n")
    assert len(mm.history(path=hist)) == 2
    assert len(mm.history(last=1, path=hist)) == 1
    assert mm.stats(path=hist).freed_total_bytes == 10 << 20
    with pytest.raises(memwarden.InvalidInput):
        mm.history(last=0, path=hist)
    with pytest.raises(memwarden.InvalidInput, match="not running"):
        mm.wake()
