"""The core's decisions as the Python layer sees them: cleanup modes, pressure
advice and the automatic trigger, on snapshots built from a real one."""

from __future__ import annotations

import memwarden
import pytest
from memwarden import automation


def snap_with(ram_percent: float, gpus: list[tuple[float, float]] = (), swap=(4 << 30, 0)) -> memwarden.Snapshot:
    """A real snapshot, with the RAM percent, GPUs (used GiB, total GiB) and swap
    (total, used bytes) set as a test needs them."""
    d = memwarden.snapshot(top=0, gpu=False).to_dict()
    d["effective"]["percent_used"] = ram_percent
    d["effective"]["source"] = "host"
    d["pressure"]["level"] = "none"
    d["system"]["swap_total_bytes"], d["system"]["swap_used_bytes"] = swap
    d["gpu"]["devices"] = [
        {
            "index": i,
            "name": "test GPU",
            "uuid": f"GPU-{i}",
            "total_bytes": int(total * 2**30),
            "used_bytes": int(used * 2**30),
            "free_bytes": int((total - used) * 2**30),
            "percent_used": round(100 * used / total, 1),
            "utilization_gpu_percent": None,
            "utilization_memory_percent": None,
        }
        for i, (used, total) in enumerate(gpus)
    ]
    return memwarden.Snapshot.from_dict(d)


@pytest.mark.parametrize(
    ("name", "mode"),
    [("Monitor Only", "monitor"), (" standard ", "balanced"), ("Moderate", "balanced"), ("AGGRESSIVE", "aggressive")],
)
def test_every_seed_mode_name(name, mode):
    assert memwarden.normalize_mode(name) == mode
    assert memwarden.cleanup_plan(name).mode == mode


def test_mode_table():
    c, b, a = (memwarden.cleanup_plan(m) for m in ("conservative", "balanced", "aggressive"))
    assert (c.unload_models, c.gc_passes, c.pageout_self) == (False, 1, False)
    assert (b.unload_models, b.drop_node_cache, b.gc_passes, b.pageout_self) == (True, False, 3, False)
    assert (a.drop_node_cache, a.pageout_self) == (True, True)
    assert a.to_dict()["mode"] == "aggressive"
    with pytest.raises(memwarden.InvalidInput, match="unknown cleanup mode 'turbo'; use one of: Aggressive"):
        memwarden.cleanup_plan("turbo")
    with pytest.raises(memwarden.InvalidInput, match="unknown cleanup mode 3"):
        memwarden.normalize_mode(3)  # type: ignore[arg-type]


def test_pressure_advice_reads_the_fullest_gpu():
    calm = memwarden.check_memory_pressure(snap_with(20.0))
    assert calm.recommendations == ["No action needed."]
    assert calm.vram_percent is None and calm.swap_percent == 0.0
    busy = memwarden.check_memory_pressure(snap_with(85.0, gpus=[(23, 24), (1, 80)], swap=(0, 0)))
    assert busy.vram_percent == 95.8  # the 24 GB card, not 24/104 over both
    assert [r.split(":")[0] for r in busy.recommendations] == [
        "RAM above 80%",
        "VRAM above 90%",
        "No swap configured",
    ]
    assert memwarden.check_memory_pressure(busy_dict := snap_with(85.0).to_dict()).ram_percent == 85.0
    assert busy_dict["effective"]["percent_used"] == 85.0


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_trigger_threshold_cooldown_and_hysteresis():
    clock = Clock()
    opt = memwarden.Optimizer(clock=clock)
    rules = dict(on_threshold=True, ram_threshold=80.0, cooldown_s=10.0, hysteresis=15.0)
    d = opt.decide(snap_with(50.0), **rules)
    assert not d.act and d.reason == "below thresholds (RAM 50.0% < 80%, VRAM n/a)"
    d = opt.decide(snap_with(90.0), **rules)
    assert d.act and d.by_threshold and d.reason == "RAM 90.0% >= 80%"
    opt.record(d, 1 << 30)
    clock.now += 5
    # Still high after the cleanup: the threshold does not fire again until usage
    # has fallen 15 points below it.
    assert "15 points below" in opt.decide(snap_with(90.0), **rules).reason
    assert opt.decide(snap_with(70.0), **rules).act is False
    opt.decide(snap_with(60.0), **rules)  # fell below 65%: re-armed...
    assert opt.decide(snap_with(90.0), **rules).reason.startswith("cooldown: 5.0 s left of 10 s")
    clock.now += 5  # ...and the cooldown is over
    assert opt.decide(snap_with(90.0), **rules).act
    (entry,) = opt.history
    assert entry.mode == "balanced" and entry.freed_bytes == 1 << 30 and entry.trigger == "RAM 90.0% >= 80%"


def test_trigger_refuses_bad_settings_and_misuse():
    opt = memwarden.Optimizer()
    with pytest.raises(memwarden.InvalidInput, match="ram_threshold must be a number from 0 to 100"):
        opt.decide(snap_with(1.0), ram_threshold=120)
    with pytest.raises(memwarden.InvalidInput, match="unknown cleanup mode 'Turbo'"):
        opt.decide(snap_with(1.0), mode="Turbo")
    with pytest.raises(memwarden.InvalidInput, match="clock must be a callable"):
        memwarden.Optimizer(clock=5)  # type: ignore[arg-type]
    fresh = memwarden.Optimizer()
    with pytest.raises(memwarden.InvalidInput, match=r"record\(\) follows decide\(\)"):
        fresh.record(opt.decide(snap_with(1.0)), 0)
    assert fresh.history == []


def test_optimize_runs_the_cleanup_the_trigger_asks_for(monkeypatch):
    opt = memwarden.Optimizer(clock=Clock())
    trigger = automation.Trigger(mode="conservative", every_run=True, cooldown_s=60.0)
    first = automation.optimize(snap_with(10.0), trigger, opt)
    assert first.decision.act and first.report is not None and first.report.mode == "conservative"
    second = automation.optimize(snap_with(10.0), trigger, opt)
    assert second.report is None and second.decision.reason.startswith("cooldown:")
    assert len(opt.history) == 1
    # The shared optimizer is swapped, never mutated from outside.
    previous = automation.use_optimizer(opt)
    try:
        assert automation.shared_optimizer() is opt
    finally:
        automation.use_optimizer(previous)
    with pytest.raises(memwarden.InvalidInput, match=r"optimizer must be a memwarden\.Optimizer"):
        automation.use_optimizer("nope")  # type: ignore[arg-type]


def test_python_defaults_are_the_cores():
    """The Python settings take the core's defaults, never a copy: the trigger's
    (``Trigger()``, ``Optimizer.decide`` with arguments left out) and the manager's."""
    from dataclasses import asdict

    import memwarden.manager as mm
    from memwarden import _native

    core = _native.default_trigger_config()
    assert asdict(automation.Trigger()) == core
    assert (core["ram_threshold"], core["vram_threshold"], core["mode"]) == (80.0, 85.0, "balanced")
    # decide() with nothing but the snapshot decides as with the core's defaults
    # spelled out.
    snap = memwarden.snapshot(top=0, gpu=False)
    left_out = memwarden.Optimizer().decide(snap)
    spelled = memwarden.Optimizer().decide(snap, **core)
    assert (left_out.act, left_out.reason) == (spelled.act, spelled.reason)
    assert mm.ManagerSettings().policy_config() == _native.default_manager_config()
