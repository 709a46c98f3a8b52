"""Every node, validated and executed the way ComfyUI executes it."""

from __future__ import annotations

import copy
import importlib.util
import inspect
import math
import os
import re
import subprocess
import sys
import time
import types

import memwarden
import pytest
import torch
from conftest import MIB, ROOT, assert_pageout_skipped, fake_model_management, proc_memory
from memwarden import _native, automation
from memwarden.automation import shared_optimizer
from memwarden.cleanup import HELPER_ENV, cuda_devices
from memwarden.comfy import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS
from memwarden.comfy import nodes as nodes_module

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


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def umm_clock(monkeypatch):
    """Every test starts the Unified Memory Manager afresh (no cooldown, no history)
    on a clock it controls; the process-wide state is put back afterwards."""
    clock = Clock()
    monkeypatch.setattr(automation, "_shared", memwarden.Optimizer(clock=clock))
    return clock


@pytest.fixture(autouse=True)
def no_helper_configured(monkeypatch):
    """MEMWARDEN_HELPER from the environment must not steer the tests."""
    monkeypatch.delenv(HELPER_ENV, raising=False)


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


def takes_anything(key: str) -> bool:
    spec = NODE_CLASS_MAPPINGS[key].INPUT_TYPES()
    return "anything" in spec.get("required", {}) or "anything" in spec.get("optional", {})


#: Every node with an ``anything`` input, found in NODE_CLASS_MAPPINGS (a new node
#: is covered without being named here).
DATA_FLOW_NODES = sorted(k for k in NODE_CLASS_MAPPINGS if takes_anything(k))


def test_the_data_flow_nodes_are_found():
    # The eight nodes of the pack that sit in a workflow's data flow: if the
    # introspection found fewer, the pass-through test below would cover less.
    assert set(DATA_FLOW_NODES) >= {
        "MemoryCleanerForce",
        "MemoryMonitor",
        "MemoryCleanup",
        "VRAMOptimizer",
        "VRAMUnload",
        "MemoryLeakDetector",
        "AutoMemoryCleanup",
        "SmartMemoryManager",
    }, DATA_FLOW_NODES


@pytest.fixture
def no_background_manager(tmp_path, monkeypatch):
    """Nodes that start the background manager (Auto Memory Cleanup, Smart Memory
    Manager) keep its history under tmp_path, and it is stopped afterwards."""
    import memwarden.manager as mm

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    mm.stop()
    yield
    mm.stop()


@pytest.mark.parametrize("key", DATA_FLOW_NODES)
def test_data_flow_nodes_pass_the_same_object_through(key, no_background_manager):
    """Run with the widget values of a fresh node, as ComfyUI would: the input
    comes out as the very same object, and every other output has its type."""
    payload = {"latent": torch.zeros(1, 4, 8, 8)}
    out = execute(key, anything=payload)
    cls = NODE_CLASS_MAPPINGS[key]
    assert cls.RETURN_NAMES[0] == "anything"
    assert out[0] is payload
    assert len(out) == len(cls.RETURN_TYPES)
    types_ = {"STRING": str, "FLOAT": float, "BOOLEAN": bool, "INT": int}
    for value, kind in zip(out[1:], cls.RETURN_TYPES[1:]):
        assert isinstance(value, types_[kind]), (kind, value)


def reported_total(report: str) -> float:
    """The report's total, as a signed number: "freed 0.000 GB (grew 0.012 GB)" is -0.012."""
    m = re.search(r"Total +: freed ([\d.]+) GB(?: \(grew ([\d.]+) GB\))?", report)
    assert m, report
    return -float(m.group(2)) if m.group(2) else float(m.group(1))


def test_memory_cleaner_report_and_freed(caplog):
    caplog.set_level("INFO", logger="memwarden")
    anything, report, freed = execute("MemoryCleanerForce", aggressive_trim=False)
    assert anything is None
    assert "CLEANUP RESULTS:" in report and "[5/7] OS-level trim" in report
    # The output is the figure the report shows (signed: negative when memory grew),
    # never a negative zero.
    assert freed == reported_total(report), report
    if freed == 0:
        assert math.copysign(1.0, freed) == 1.0  # 0.0, not -0.0
    assert "-0.000" not in report
    # Written to the console log too, with the status line.
    assert any("RAM: " in r.getMessage() for r in caplog.records)


def assert_refusal_in_node_terms(report: str) -> None:
    # Overriding the swap check is this node's switch, not the CLI's --force.
    foreign = ("--force", "--min-swap-free", "force=True", "swap_check", "min_swap_free")
    assert_pageout_skipped(report, "turn skip_trim_if_c_low off", "min_c_free_gb", foreign)


def test_memory_cleaner_swap_check_maps_to_swap(swap_lock):
    # skip_trim_if_c_low guards swap: no machine has 100000 GB of free swap to keep,
    # so the swap check refuses, and says so in the node's own terms.
    _, report, freed = execute("MemoryCleanerForce", aggressive_trim=True, min_c_free_gb=100000.0)
    assert_refusal_in_node_terms(report)
    assert freed == reported_total(report)


def test_memory_cleaner_external_helper_refusal_in_node_terms(monkeypatch, swap_lock):
    """When the in-process pageout is not possible, the node runs the external helper
    (the memwarden command, which speaks of --force); its refusal still reads in
    the node's terms."""

    def unsupported(*args, **kwargs):
        raise _native.Unsupported("process_madvise is not available (simulated)")

    monkeypatch.setattr(_native, "trim_process", unsupported)
    _, report, _ = execute("MemoryCleanerForce", aggressive_trim=True, external_helper=True, min_c_free_gb=100000.0)
    assert "using external helper" in report, report
    assert "Skipping pageout (external helper)" in report, report
    assert_refusal_in_node_terms(report)


def native_cli() -> str:
    """The native memwarden binary of this checkout (what a user grants
    cap_sys_nice and names in MEMWARDEN_HELPER)."""
    for build in ("release", "debug"):
        path = ROOT / "target" / build / "memwarden"
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
    pytest.skip("no native memwarden binary in target/: build it with `cargo build -p memwarden-cli`")


@pytest.fixture
def helper_runs(monkeypatch):
    """Records every ``... trim ...`` command run as a subprocess (and runs it)."""
    runs: list[list[str]] = []
    real = subprocess.run

    def recording(cmd, *args, **kwargs):
        if "trim" in cmd:
            runs.append(list(cmd))
        return real(cmd, *args, **kwargs)

    monkeypatch.setattr(subprocess, "run", recording)
    return runs


def pageout_refused_in_process(monkeypatch):
    """The kernel refuses this process its own pageout, as it does without
    CAP_SYS_NICE (process_madvise's capability check; simulated)."""

    def refused(*args, **kwargs):
        raise _native.PermissionDenied("advising the memory of PID 1234: needs CAP_SYS_NICE (simulated)")

    monkeypatch.setattr(_native, "trim_process", refused)


def test_memory_cleaner_without_a_helper_says_it_has_only_our_privileges(monkeypatch, helper_runs):
    pageout_refused_in_process(monkeypatch)
    _, report, _ = execute("MemoryCleanerForce", min_c_free_gb=100000.0)
    assert helper_runs and helper_runs[0][:3] == [sys.executable, "-m", "memwarden"], helper_runs
    assert "using external helper python -m memwarden (MEMWARDEN_HELPER is not set" in report, report
    assert "runs with this process's own privileges" in report, report
    assert "`sudo setcap cap_sys_nice+ep /path/to/memwarden`" in report, report
    assert "set MEMWARDEN_HELPER=/path/to/memwarden" in report, report


def test_memory_cleaner_runs_the_helper_named_by_memwarden_helper(monkeypatch, helper_runs, swap_lock):
    """MEMWARDEN_HELPER names the native binary: the fallback runs that binary (not
    python -m memwarden); its swap check refusal still reads in the node's terms."""
    cli = native_cli()
    monkeypatch.setenv(HELPER_ENV, cli)
    pageout_refused_in_process(monkeypatch)
    _, report, _ = execute("MemoryCleanerForce", min_c_free_gb=100000.0)
    assert len(helper_runs) == 1 and helper_runs[0][0] == cli, helper_runs
    assert helper_runs[0][1:4] == ["trim", "--pid", str(os.getpid())], helper_runs
    assert f"using external helper {cli} (MEMWARDEN_HELPER)" in report, report
    assert "own privileges" not in report, report
    assert f"Privileges : nothing to elevate in-process on Linux; external helper: {cli}" in report, report
    assert "Skipping pageout (external helper)" in report, report
    assert_refusal_in_node_terms(report)


def test_memory_cleaner_helper_pages_this_process_out(monkeypatch, helper_runs, swap):
    """With swap, the helper binary pages this process out for real (the in-process
    call refused, as without CAP_SYS_NICE), and nothing of it is lost."""
    cli = native_cli()
    ballast = bytearray(b"\x01" * (128 * MIB))
    swap((proc_memory(os.getpid())["RssAnon"] >> 20) + 512)
    monkeypatch.setenv(HELPER_ENV, cli)
    pageout_refused_in_process(monkeypatch)
    _, report, _ = execute("MemoryCleanerForce", min_c_free_gb=0.0)
    assert [r[0] for r in helper_runs] == [cli], helper_runs
    m = re.search(rf"external helper {re.escape(cli)} paged out ([\d.]+) GB", report)
    assert m, report
    assert float(m.group(1)) >= 0.125, report  # the ballast at least
    assert proc_memory(os.getpid())["VmSwap"] >= 100 * MIB
    assert ballast.count(1) == len(ballast)  # it comes back, intact


@pytest.mark.parametrize("problem", ["missing", "directory", "not executable", "relative"])
def test_memory_cleaner_refuses_a_bad_memwarden_helper(problem, monkeypatch, helper_runs, tmp_path):
    """A MEMWARDEN_HELPER that names nothing runnable: a clear message and nothing run."""
    path = {
        "missing": str(tmp_path / "no-such-memwarden"),
        "directory": str(tmp_path),
        "not executable": str(tmp_path / "memwarden"),
        "relative": "bin/memwarden",
    }[problem]
    (tmp_path / "memwarden").write_text("#!/bin/sh\nexit 0\n")
    monkeypatch.setenv(HELPER_ENV, path)
    pageout_refused_in_process(monkeypatch)
    _, report, _ = execute("MemoryCleanerForce", min_c_free_gb=100000.0)
    assert helper_runs == []
    why = {
        "missing": ": no such file",
        "directory": " is not a file",
        "not executable": " is not executable",
        "relative": " is not an absolute path",
    }[problem]
    assert f"external helper not run: MEMWARDEN_HELPER={path!r}{why}" in report, report
    step5 = next(line for line in report.splitlines() if line.startswith("[5/7]"))
    assert "pageout failed in-process" in step5 and "external helper not run" in step5, step5
    if problem == "missing":
        # Through the Python API too: step 5 failed, saying why; still nothing run.
        step = next(s for s in memwarden.cleanup("aggressive", min_swap_free=0).steps if s.index == 5)
        assert step.ok is False and f"MEMWARDEN_HELPER={path!r}{why}" in step.detail, step
        assert helper_runs == []


def test_monitor_outputs_numbers():
    _, status, report, ram, vram, level, warning = execute("MemoryMonitor", warning_threshold=0.0)
    assert status.startswith("RAM: ")
    assert 0 < ram < 100
    devices = memwarden.snapshot(top=0).gpu.devices
    if devices:
        assert 0.0 <= vram <= 100.0
    else:
        assert vram == 0.0  # no GPU visible: nothing is used
    assert level in ("none", "low", "moderate", "high", "critical")
    assert warning is True and report.startswith("WARNING")


BAD_NODE_INPUTS = [
    ("MemoryCleanerForce", {"min_c_free_gb": -1.0}, "min_c_free_gb must be a number from 0 to 100000, got -1.0"),
    ("MemoryCleanerForce", {"min_c_free_gb": True}, "min_c_free_gb must be .*not a bool"),
    ("MemoryCleanerForce", {"min_c_free_gb": "20"}, "min_c_free_gb must be .*not str"),
    ("MemoryCleanerForce", {"aggressive_trim": "yes"}, "aggressive_trim must be True or False"),
    ("MemoryCleanerForce", {"skip_trim_if_c_low": 1}, "skip_trim_if_c_low must be True or False"),
    ("MemoryCleanup", {"mode": "extreme"}, "mode must be one of 'standard', 'aggressive', got 'extreme'"),
    ("MemoryCleanup", {"clear_vram": None}, "clear_vram must be True or False"),
    ("VRAMOptimizer", {"gpu_index": 3}, "gpu_index 3 does not exist"),
    ("VRAMOptimizer", {"gpu_index": 99}, "gpu_index must be an integer from -1 to 63, got 99"),
    ("VRAMOptimizer", {"gpu_index": True}, "gpu_index must be .*not a bool"),
    ("VRAMOptimizer", {"mode": "moderate"}, "mode must be one of 'Conservative', 'Moderate', 'Aggressive'"),
    ("MemoryMonitor", {"warning_threshold": float("nan")}, "warning_threshold must be .*got nan"),
    ("MemoryMonitor", {"top_processes": 2.5}, "top_processes must be .*not float"),
    ("MemoryMonitor", {"top_processes": -1}, "top_processes must be an integer from 0 to 100, got -1"),
    ("UnifiedMemoryManager", {"ram_threshold": 150.0}, "ram_threshold must be a number from 0 to 100, got 150.0"),
    ("UnifiedMemoryManager", {"cooldown_seconds": -5}, "cooldown_seconds must be .*got -5"),
    ("UnifiedMemoryManager", {"mode": "Turbo"}, "mode must be one of 'Monitor Only'"),
    ("UnifiedMemoryManager", {"auto_optimize": "on"}, "auto_optimize must be True or False"),
]


@pytest.mark.parametrize(("key", "inputs", "message"), BAD_NODE_INPUTS)
def test_bad_inputs_are_refused_before_acting(key, inputs, message, caplog):
    caplog.set_level("INFO", logger="memwarden")
    before = len(shared_optimizer().history)
    with pytest.raises(memwarden.InvalidInput, match=message) as info:
        execute(key, **{"enable_optimization": True, **inputs} if key == "UnifiedMemoryManager" else inputs)
    assert info.value.kind == "invalid_input" and info.value.exit_code == 2
    assert len(shared_optimizer().history) == before
    assert not caplog.records  # nothing ran, nothing was reported


def test_unified_monitor_only():
    image = torch.rand(1, 64, 64, 3)
    out = execute("UnifiedMemoryManager", trigger_image=image)
    assert len(out) == 7
    status, report, _ram, _vram, freed, performed, img = out
    assert status.startswith("RAM: ") and " | VRAM: " in status
    assert img is image
    assert performed is False and freed == 0.0
    assert "optimization disabled" in report
    assert "CONTAINER" in report  # container-aware detailed report


def test_unified_thresholds_cooldown_and_history():
    common = dict(enable_optimization=True, auto_optimize=True, mode="Conservative", cooldown_seconds=3600.0)
    # Below thresholds: no optimization.
    out = execute("UnifiedMemoryManager", ram_threshold=100.0, vram_threshold=100.0, **common)
    assert out[5] is False and "below thresholds" in out[1]
    # Threshold 0: RAM is over it, so it optimizes.
    out = execute("UnifiedMemoryManager", ram_threshold=0.0, **common)
    assert out[5] is True and "CLEANUP RESULTS:" in out[1]
    assert len(shared_optimizer().history) == 1
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
    assert len(shared_optimizer().history) == 10
    report = execute("UnifiedMemoryManager", cooldown_seconds=0.0)[1]
    assert "Last 10 optimization(s):" in report
    assert shared_optimizer().history[-1].at_unix_ms >= 1_700_000_000_000
    assert re.search(r"\n  20\d\d-\d\d-\d\d \d\d:\d\d:\d\d  conservative +freed ", report), report


def test_unified_cooldown_expires(umm_clock):
    """cooldown_seconds=1: a run inside the window is skipped and says why and for
    how long; a run once it has passed optimizes again (the clock is the test's:
    no sleeping)."""
    common = dict(enable_optimization=True, mode="Conservative", cooldown_seconds=1.0)

    def history() -> list:
        return shared_optimizer().history

    out = execute("UnifiedMemoryManager", **common)
    assert out[5] is True and "Optimization: performed (manual (optimization enabled))" in out[1]
    assert len(history()) == 1
    # (Steps are binary fractions, so the clock lands exactly where it says.)
    umm_clock.now += 0.5
    _, report, _, _, freed, performed, _ = execute("UnifiedMemoryManager", **common)
    assert performed is False and freed == 0.0
    assert "Optimization: not performed (cooldown: 0.5 s left of 1 s (wanted: manual" in report, report
    assert "CLEANUP RESULTS:" not in report and len(history()) == 1
    umm_clock.now += 0.4375  # still inside: 0.9375 s since
    assert execute("UnifiedMemoryManager", **common)[5] is False
    umm_clock.now += 0.0625  # exactly 1 s since the last optimization: the window is over
    out = execute("UnifiedMemoryManager", **common)
    assert out[5] is True and "CLEANUP RESULTS:" in out[1]
    assert len(history()) == 2 and "Last 2 optimization(s):" in out[1]
    # The window starts again from this optimization.
    umm_clock.now += 0.5
    assert "cooldown: 0.5 s left of 1 s" in execute("UnifiedMemoryManager", **common)[1]


def test_unified_cooldown_on_the_real_clock(monkeypatch):
    """Without a clock of its own the optimizer uses the monotonic one; a short
    window, waited out exactly."""
    opt = memwarden.Optimizer()
    monkeypatch.setattr(automation, "_shared", opt)
    common = dict(enable_optimization=True, mode="Conservative", cooldown_seconds=0.5)
    assert execute("UnifiedMemoryManager", **common)[5] is True
    assert execute("UnifiedMemoryManager", **common)[5] is False
    left = opt.cooldown_left(0.5)
    assert 0 < left <= 0.5
    time.sleep(left)
    assert execute("UnifiedMemoryManager", **common)[5] is True


def class_state() -> dict:
    """Every data attribute of every node class (callables aside), deep-copied."""
    out = {}
    for key, cls in NODE_CLASS_MAPPINGS.items():
        for klass in cls.__mro__:
            for name, value in vars(klass).items():
                if name.startswith("__") or callable(value) or isinstance(value, (classmethod, staticmethod)):
                    continue
                out[(key, klass.__name__, name)] = copy.deepcopy(value)
    return out


def test_nodes_keep_no_state(umm_clock):
    """Running every node changes no class attribute and leaves nothing on the node
    objects: what the Unified Memory Manager remembers (cooldown, history) is the
    process's optimizer's (memwarden.automation), which ComfyUI's fresh node
    objects share."""
    before = class_state()
    opt = shared_optimizer()
    for key, cls in NODE_CLASS_MAPPINGS.items():
        node = cls()
        inputs = {**defaults(cls), **({"enable_optimization": True} if key == "UnifiedMemoryManager" else {})}
        getattr(node, cls.FUNCTION)(**inputs)
        assert vars(node) == {}, (key, vars(node))
    after = class_state()
    changed = {k for k in before if repr(before[k]) != repr(after[k])}
    assert changed == set(), changed
    assert shared_optimizer() is opt and len(opt.history) == 1


# -- the VRAM nodes without CUDA --------------------------------------------------


@pytest.fixture
def torch_step_calls(monkeypatch):
    """Records how the VRAM Optimizer calls the cleanup's shared torch step (and
    lets it run for real)."""
    calls = []
    real = nodes_module.empty_torch_caches

    def recording(*args, **kwargs):
        r = real(*args, **kwargs)
        calls.append((args, kwargs, r))
        return r

    monkeypatch.setattr(nodes_module, "empty_torch_caches", recording)
    return calls


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is visible: the no-CUDA report cannot be seen")
@pytest.mark.parametrize("mode", ["Conservative", "Moderate", "Aggressive"])
def test_vram_optimizer_without_cuda_reports_why(mode, torch_step_calls):
    """torch is loaded, CUDA is not there: the node still runs its device-agnostic
    steps (gc, ComfyUI's unload), runs the cleanup's torch step, and says why there
    was nothing to optimize instead of a bare 0."""
    payload = torch.ones(4)
    anything, report, freed = execute("VRAMOptimizer", mode=mode, anything=payload)
    assert anything is payload and freed == 0.0
    why = cuda_devices(torch)[1]
    assert why.startswith(f"torch {torch.__version__}"), why
    assert f"no CUDA device: {why}; nothing to optimize" in report, report
    assert ("gc: collected" in report) == (mode != "Conservative"), report
    assert ("models: not running inside ComfyUI" in report) == (mode == "Aggressive"), report
    # The very function the cleanup's step 4 runs, with this mode's calls.
    [(args, kwargs, r)] = torch_step_calls
    assert args[:2] == (torch, None) and not kwargs
    calls = args[2]
    assert calls.ipc_collect == (mode != "Conservative")
    assert calls.synchronize == (mode == "Aggressive")
    assert calls.reset_peak_stats is True and calls.driver_free is True and calls.host_cache is False
    assert r.no_cuda == why and r.devices == [] and r.freed_bytes == 0
    step4 = memwarden.cleanup("conservative").steps[4]
    assert step4.detail == f"no CUDA device: {why}; device caches not applicable", step4


def test_no_cuda_reasons(monkeypatch):
    """Each way of having no CUDA device has its own reason."""
    assert cuda_devices(None) == ([], "torch is not loaded in this process")
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is visible: the other reasons cannot be seen")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert cuda_devices(torch)[1].endswith("sees no GPU (CUDA_VISIBLE_DEVICES='')")

    def broken() -> bool:
        raise RuntimeError("CUDA driver initialization failed (simulated)")

    monkeypatch.setattr(torch.cuda, "is_available", broken)
    why = cuda_devices(torch)[1]
    assert why == "CUDA is not usable here: RuntimeError: CUDA driver initialization failed (simulated)"
    assert f"no CUDA device: {why}" in execute("VRAMOptimizer", mode="Moderate")[1]


def test_vram_optimizer_without_torch_says_so():
    """Outside a torch process (a fresh interpreter that never imported torch)."""
    code = (
        "import sys\n"
        "from memwarden.comfy.nodes import VRAMOptimizer\n"
        "out = VRAMOptimizer().run('Moderate', -1, True)['result']\n"
        "assert 'torch' not in sys.modules\n"
        "print(out[1]); print(out[2])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "no CUDA device: torch is not loaded in this process; nothing to optimize" in out.stdout, out.stdout
    assert out.stdout.splitlines()[-1] == "0.0"


def test_vram_optimizer_gpu_index_without_cuda_names_the_reason():
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is visible")
    with pytest.raises(memwarden.InvalidInput) as info:
        execute("VRAMOptimizer", gpu_index=0)
    assert f"visible CUDA devices: none ({cuda_devices(torch)[1]})" in str(info.value)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (none visible to torch here)")
def test_vram_optimizer_releases_reserved_vram_on_a_gpu():
    """With a GPU: memory torch caches after a tensor is freed is released and
    reported per device."""
    x = torch.empty(256 * MIB, dtype=torch.uint8, device="cuda:0")
    del x
    reserved = torch.cuda.memory_reserved(0)
    assert reserved >= 256 * MIB
    _, report, freed = execute("VRAMOptimizer", mode="Moderate", gpu_index=0)
    assert torch.cuda.memory_reserved(0) < reserved
    assert freed >= 0.25, report
    assert "GPU cuda:0 (NVML " in report and ": reserved " in report and "reserved VRAM: freed" in report, report


class StandInCuda:
    """torch.cuda as the torch step uses it, for two GPUs of 8 GiB, recording the
    calls; empty_cache releases 3/4 of what is reserved. Used only to check which
    calls each mode makes and the report's arithmetic, where no GPU is at hand (the
    real thing: test_vram_optimizer_releases_reserved_vram_on_a_gpu)."""

    def __init__(self) -> None:
        self.calls: list = []
        self.reserved = {0: 2 * (1 << 30), 1: 1 << 30}

    def is_available(self) -> bool:
        return True

    def device_count(self) -> int:
        return 2

    def memory_reserved(self, d: int) -> int:
        return self.reserved[d]

    def empty_cache(self) -> None:
        self.calls.append("empty_cache")
        self.reserved = {d: r // 4 for d, r in self.reserved.items()}

    def ipc_collect(self) -> None:
        self.calls.append("ipc_collect")

    def synchronize(self, d: int) -> None:
        self.calls.append(("synchronize", d))

    def reset_peak_memory_stats(self, d: int) -> None:
        self.calls.append(("reset_peak_memory_stats", d))

    def mem_get_info(self, d: int) -> tuple[int, int]:
        return 8 * (1 << 30) - self.reserved[d], 8 * (1 << 30)


@pytest.mark.parametrize(
    "case",
    [
        (
            "Conservative",
            -1,
            ["empty_cache", ("reset_peak_memory_stats", 0), ("reset_peak_memory_stats", 1)],
            [
                "GPU cuda:0: reserved 2.000 -> 0.500 GB; free 7.50 of 8.00 GB",
                "GPU cuda:1: reserved 1.000 -> 0.250 GB; free 7.75 of 8.00 GB",
                "reserved VRAM: freed 2.250 GB",
            ],
            2.25,
        ),
        (
            "Aggressive",
            1,
            ["empty_cache", "ipc_collect", ("synchronize", 1), ("reset_peak_memory_stats", 1)],
            ["GPU cuda:1: reserved 1.000 -> 0.250 GB; free 7.75 of 8.00 GB", "reserved VRAM: freed 0.750 GB"],
            0.75,
        ),
    ],
    ids=["Conservative-all", "Aggressive-gpu1"],
)
def test_vram_optimizer_device_calls_per_mode(case, monkeypatch):
    mode, gpu_index, calls, lines, freed = case
    cuda = StandInCuda()
    stand_in = types.SimpleNamespace(
        cuda=cuda, _C=types.SimpleNamespace(), __version__="stand-in", version=types.SimpleNamespace(cuda="12.4")
    )
    monkeypatch.setattr(nodes_module, "loaded_torch", lambda: stand_in)
    _, report, out = execute("VRAMOptimizer", mode=mode, gpu_index=gpu_index)
    assert cuda.calls == calls
    assert report.splitlines()[-len(lines) :] == lines, report
    assert out == freed


def test_vram_unload_inside_comfyui(monkeypatch):
    """VRAM Unload's body inside ComfyUI (its model management stood in for; the
    real one is the end-to-end test's): the same unload as the cleanup's step 0,
    and the VRAM it measured, or why there was none to measure."""
    calls: list = []
    monkeypatch.setitem(sys.modules, "comfy.model_management", fake_model_management(calls))
    _, report, freed = execute("VRAMUnload")
    assert calls == ["unload_all_models", "cleanup_models_gc", "cleanup_models", "soft_empty_cache"]
    assert report.startswith("models: unloaded 2 model(s) from VRAM"), report
    gpu = memwarden.snapshot(top=0).gpu
    if gpu.devices or torch.cuda.is_available():
        assert "VRAM used: " in report, report
    else:
        assert freed == 0.0
        assert f"VRAM: n/a, nothing measured (NVML: {gpu.unavailable_reason}" in report, report
        assert f"torch: {cuda_devices(torch)[1]})" in report, report


def test_vram_optimizer_aggressive_unloads_inside_comfyui(monkeypatch):
    calls: list = []
    monkeypatch.setitem(sys.modules, "comfy.model_management", fake_model_management(calls))
    report = execute("VRAMOptimizer", mode="Aggressive")[1]
    assert calls == ["unload_all_models", "cleanup_models_gc", "cleanup_models", "soft_empty_cache"]
    assert "models: unloaded 2 model(s)" in report, report


def test_inside_comfyui_models_are_unloaded_through_its_own_api(monkeypatch):
    """Interaction with ComfyUI's model management (the real one is exercised by the
    end-to-end test): the cleanup calls exactly ComfyUI's own functions."""
    calls: list = []
    monkeypatch.setitem(sys.modules, "comfy.model_management", fake_model_management(calls))
    _, report, _ = execute("MemoryCleanup", mode="standard")
    assert calls == ["unload_all_models", "cleanup_models_gc", "cleanup_models", "soft_empty_cache"]
    assert "unloaded 2 model(s)" in report
    assert "no pinned-memory accounting" in report


def load_pack_entry_point():
    """Load the repository root __init__.py the way ComfyUI loads a custom node pack."""
    spec = importlib.util.spec_from_file_location("memwarden_pack_under_test", ROOT / "__init__.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_pack_entry_point_hands_the_nodes_to_comfyui():
    pack = load_pack_entry_point()
    assert pack.NODE_CLASS_MAPPINGS is NODE_CLASS_MAPPINGS
    assert pack.NODE_DISPLAY_NAME_MAPPINGS is NODE_DISPLAY_NAME_MAPPINGS


def test_pack_entry_point_says_how_to_install_what_exists(monkeypatch):
    # The package is missing from the Python that runs ComfyUI: memwarden is not on
    # PyPI yet, so the message names what works today with that very Python: a wheel
    # file by its path, or a build from this checkout (cargo); never `pip install
    # memwarden`, which finds nothing.
    monkeypatch.setitem(sys.modules, "memwarden.comfy", None)
    with pytest.raises(ImportError) as info:
        load_pack_entry_point()
    msg = str(info.value)
    wheel = f'"{sys.executable}" -m pip install /path/to/memwarden-'
    source = f'"{sys.executable}" -m pip install "{ROOT}"'
    assert wheel in msg and ".whl" in msg and "scripts/test-wheels" in msg, msg
    assert source in msg, msg
    assert "cargo" in msg and "rustup" in msg, msg
    assert "not published on PyPI yet" in msg, msg
    assert "-m pip install memwarden" not in msg, msg


def test_pack_entry_point_tells_a_broken_install_from_a_missing_one(monkeypatch):
    # memwarden is there but something its nodes import is not: the cause, no install advice.
    real = importlib.import_module

    def import_module(name, package=None):
        if name == "memwarden.comfy":
            raise ModuleNotFoundError("No module named 'something_else'", name="something_else")
        return real(name, package)

    monkeypatch.setattr(importlib, "import_module", import_module)
    with pytest.raises(ImportError) as info:
        load_pack_entry_point()
    msg = str(info.value)
    assert "is installed in the Python that runs ComfyUI" in msg and "something_else" in msg, msg
    assert "not published on PyPI" not in msg, msg


def test_memory_cleaner_margin_default_fits_the_platform() -> None:
    """The seed's 20 GB is free space on the page-file drive (Windows); on Linux the
    margin is free swap, where 20 GB would refuse every pageout: 1 GB, as the CLI."""
    import sys

    from memwarden.comfy import nodes

    spec = nodes.MemoryCleanerForce.INPUT_TYPES()["required"]["min_c_free_gb"][1]
    assert spec["default"] == (20.0 if sys.platform == "win32" else 1.0)
    assert "swap on Linux" in spec["tooltip"]
