"""Every node, validated and executed the way ComfyUI executes it."""

from __future__ import annotations

import inspect
import math
import sys
import types

import pytest
import torch
from memwarden.comfy import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS
from memwarden.comfy.nodes import UnifiedMemoryManager

COMFY_TYPES = {"BOOLEAN", "FLOAT", "INT", "STRING", "IMAGE", "*"}

SEED_NODES = {
    "Memory Cleaner (Force)": [
        "aggressive_trim",
        "enable_privileges",
        "external_helper",
        "skip_trim_if_c_low",
        "min_c_free_gb",
        "purge_standby",
    ],
    "Memory Monitor": [],
    "Memory Cleanup": ["mode"],
    "VRAM Optimizer": ["mode", "gpu_index", "reset_peak_stats"],
    "VRAM Unload": [],
    "Unified Memory Manager": [
        "enable_monitoring",
        "enable_optimization",
        "auto_optimize",
        "enable_auto_cleanup",
        "ram_threshold",
        "vram_threshold",
        "mode",
        "detailed_report",
        "cooldown_seconds",
        "trigger_image",
    ],
}


def defaults(cls) -> dict:
    """The widget values ComfyUI would send for a fresh node."""
    out = {}
    for name, spec in cls.INPUT_TYPES()["required"].items():
        kind, opts = spec[0], (spec[1] if len(spec) > 1 else {})
        out[name] = opts.get("default", kind[0] if isinstance(kind, list) else None)
    return out


def execute(key: str, **overrides):
    """Call the node as ComfyUI does: instantiate, then FUNCTION(**inputs)."""
    cls = NODE_CLASS_MAPPINGS[key]
    kwargs = {**defaults(cls), **overrides}
    out = getattr(cls(), cls.FUNCTION)(**kwargs)
    # Output nodes return their outputs and the report as UI text.
    assert set(out) == {"ui", "result"}
    assert isinstance(out["ui"]["text"][0], str) and out["ui"]["text"][0]
    return out["result"]


def test_every_seed_node_is_there_with_its_inputs():
    by_display = {NODE_DISPLAY_NAME_MAPPINGS[k]: v for k, v in NODE_CLASS_MAPPINGS.items()}
    for display, inputs in SEED_NODES.items():
        cls = by_display[display]
        spec = cls.INPUT_TYPES()
        names = set(spec["required"]) | set(spec.get("optional", {}))
        assert set(inputs) <= names, (display, names)


@pytest.mark.parametrize("key", sorted(NODE_CLASS_MAPPINGS))
def test_input_types_are_valid(key):
    cls = NODE_CLASS_MAPPINGS[key]
    spec = cls.INPUT_TYPES()
    assert set(spec) <= {"required", "optional", "hidden"}
    params = inspect.signature(getattr(cls, cls.FUNCTION)).parameters
    for section in ("required", "optional"):
        for name, entry in spec.get(section, {}).items():
            kind = entry[0]
            opts = entry[1] if len(entry) > 1 else {}
            assert isinstance(kind, list) or kind in COMFY_TYPES, (name, kind)
            assert name in params, f"{key}.{cls.FUNCTION} lacks parameter {name}"
            if section == "optional":
                assert params[name].default is None
            if isinstance(kind, list):
                assert opts.get("default", kind[0]) in kind
            if kind in ("FLOAT", "INT") and "default" in opts:
                assert opts["min"] <= opts["default"] <= opts["max"]
    assert len(cls.RETURN_TYPES) == len(cls.RETURN_NAMES)
    assert cls.CATEGORY == "memwarden"
    # Always re-executed: IS_CHANGED is NaN, which never equals the cached value.
    assert math.isnan(cls.IS_CHANGED(**defaults(cls)))


@pytest.mark.parametrize("key", ["MemoryCleanerForce", "MemoryMonitor", "MemoryCleanup", "VRAMOptimizer", "VRAMUnload"])
def test_data_flow_nodes_pass_the_same_object_through(key):
    payload = {"latent": torch.zeros(1, 4, 8, 8)}
    out = execute(key, anything=payload)
    assert out[0] is payload
    assert len(out) == len(NODE_CLASS_MAPPINGS[key].RETURN_TYPES)
    cls = NODE_CLASS_MAPPINGS[key]
    for value, kind in zip(out[1:], cls.RETURN_TYPES[1:]):
        assert isinstance(value, {"STRING": str, "FLOAT": float, "BOOLEAN": bool}[kind]), (kind, value)


def test_memory_cleaner_report_and_freed(caplog):
    caplog.set_level("INFO", logger="memwarden")
    anything, report, freed = execute("MemoryCleanerForce", aggressive_trim=False)
    assert anything is None
    assert "CLEANUP RESULTS:" in report and "[5/7] OS-level trim" in report
    assert freed >= 0.0
    # Written to the console log too, with the status line.
    assert any("RAM: " in r.getMessage() for r in caplog.records)


def test_memory_cleaner_guard_maps_to_swap():
    # skip_trim_if_c_low guards swap; with no swap (or too little) pageout is skipped, said plainly.
    _, report, _ = execute("MemoryCleanerForce", aggressive_trim=True, min_c_free_gb=100000.0)
    assert "Skipping pageout" in report or "paged out" in report


def test_monitor_outputs_numbers():
    _, status, report, ram, vram, level, warning = execute("MemoryMonitor", warning_threshold=0.0)
    assert status.startswith("RAM: ")
    assert 0 < ram < 100 and vram >= 0
    assert level in ("none", "low", "moderate", "high", "critical")
    assert warning is True and report.startswith("WARNING")


def test_bad_inputs_are_refused_before_acting():
    with pytest.raises(ValueError, match="min_c_free_gb"):
        execute("MemoryCleanerForce", min_c_free_gb=-1.0)
    with pytest.raises(ValueError, match="mode"):
        execute("MemoryCleanup", mode="extreme")
    with pytest.raises(ValueError, match="gpu_index 3 does not exist"):
        execute("VRAMOptimizer", gpu_index=3)
    with pytest.raises(ValueError, match="warning_threshold"):
        execute("MemoryMonitor", warning_threshold=float("nan"))
    before = len(UnifiedMemoryManager.history)
    with pytest.raises(ValueError, match="ram_threshold"):
        execute("UnifiedMemoryManager", ram_threshold=150.0, enable_optimization=True)
    assert len(UnifiedMemoryManager.history) == before


@pytest.fixture
def fresh_umm():
    UnifiedMemoryManager.history.clear()
    UnifiedMemoryManager.last_optimization = 0.0
    yield
    UnifiedMemoryManager.history.clear()
    UnifiedMemoryManager.last_optimization = 0.0


def test_unified_monitor_only(fresh_umm):
    image = torch.rand(1, 64, 64, 3)
    out = execute("UnifiedMemoryManager", trigger_image=image)
    assert len(out) == 7
    status, report, _ram, _vram, freed, performed, img = out
    assert status.startswith("RAM: ") and " | VRAM: " in status
    assert img is image
    assert performed is False and freed == 0.0
    assert "optimization disabled" in report
    assert "CONTAINER" in report  # container-aware detailed report


def test_unified_thresholds_cooldown_and_history(fresh_umm):
    common = dict(enable_optimization=True, auto_optimize=True, mode="Conservative", cooldown_seconds=3600.0)
    # Below thresholds: no optimization.
    out = execute("UnifiedMemoryManager", ram_threshold=100.0, vram_threshold=100.0, **common)
    assert out[5] is False and "below thresholds" in out[1]
    # Threshold 0: RAM is over it, so it optimizes.
    out = execute("UnifiedMemoryManager", ram_threshold=0.0, **common)
    assert out[5] is True and "CLEANUP RESULTS:" in out[1]
    assert len(UnifiedMemoryManager.history) == 1
    # Within the cooldown: refused, saying how long is left.
    out = execute("UnifiedMemoryManager", ram_threshold=0.0, **common)
    assert out[5] is False and "cooldown" in out[1]
    # History keeps the last 10, with timestamps.
    for _ in range(12):
        execute(
            "UnifiedMemoryManager",
            enable_optimization=True,
            enable_auto_cleanup=True,
            mode="Conservative",
            cooldown_seconds=0.0,
        )
    assert len(UnifiedMemoryManager.history) == 10
    report = execute("UnifiedMemoryManager", cooldown_seconds=0.0)[1]
    assert "Last 10 optimization(s):" in report
    assert UnifiedMemoryManager.history[-1]["time"][:2] == "20"


def test_inside_comfyui_models_are_unloaded_through_its_own_api(monkeypatch):
    """Interaction with ComfyUI's model management (the real one is exercised by the
    end-to-end test): the cleanup calls exactly ComfyUI's own functions."""
    calls = []
    mm = types.ModuleType("comfy.model_management")
    mm.current_loaded_models = [object(), object()]
    mm.unload_all_models = lambda: calls.append("unload_all_models")
    mm.cleanup_models_gc = lambda: calls.append("cleanup_models_gc")
    mm.cleanup_models = lambda: calls.append("cleanup_models")
    mm.soft_empty_cache = lambda force=False: calls.append("soft_empty_cache")
    monkeypatch.setitem(sys.modules, "comfy.model_management", mm)
    _, report, _ = execute("MemoryCleanup", mode="standard")
    assert calls == ["unload_all_models", "cleanup_models_gc", "cleanup_models", "soft_empty_cache"]
    assert "unloaded 2 model(s)" in report
    assert "no pinned-memory accounting" in report
