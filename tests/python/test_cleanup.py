"""The in-process cleanup pipeline, with real torch tensors and real RSS."""

from __future__ import annotations

import gc
import json
import math
import os
import re
import subprocess
import sys
import time

import memwarden
import pytest
import torch
from conftest import MIB, ROOT, assert_pageout_skipped, vm_rss
from memwarden import PermissionDenied
from memwarden.cleanup import GB, CleanupReport, freed_phrase, normalize_mode, round_gb


@pytest.mark.parametrize(
    ("name", "mode"),
    [
        ("Monitor Only", "monitor"),
        ("Conservative", "conservative"),
        ("Standard", "balanced"),
        ("Moderate", "balanced"),
        ("Balanced", "balanced"),
        ("aggressive", "aggressive"),
    ],
)
def test_mode_aliases(name, mode):
    assert normalize_mode(name) == mode


@pytest.mark.parametrize("mode", ["turbo", None, 3, ""])
def test_unknown_mode_is_rejected_before_anything_runs(mode):
    lines: list[str] = []
    with pytest.raises(memwarden.InvalidInput, match=f"unknown cleanup mode {re.escape(repr(mode))}") as info:
        memwarden.cleanup(mode, log=lines.append)
    assert info.value.kind == "invalid_input" and info.value.exit_code == 2
    assert lines == []


def test_seven_steps_logged_and_numbered():
    lines: list[str] = []
    r = memwarden.cleanup("balanced", log=lines.append)
    assert [s.index for s in r.steps] == [0, 1, 2, 3, 4, 5, 6, 7]
    assert lines[0].startswith("[0/7] Unload models: skipped (not running inside ComfyUI)")
    assert any(line.startswith("[5/7] OS-level trim: malloc_trim") for line in lines)
    assert "CLEANUP RESULTS:" in lines
    # torch is imported by this test module: step 4 ran (CPU build: no device caches).
    step4 = r.steps[4]
    assert not step4.skipped and "no CUDA device" in step4.detail
    assert "CLEANUP RESULTS:" in r.text and "Process RAM" in r.text


def test_monitor_only_changes_nothing():
    r = memwarden.cleanup("Monitor Only")
    assert len(r.steps) == 1 and r.steps[0].skipped


def test_report_numbers_match_measured_rss():
    before = vm_rss(os.getpid())
    r = memwarden.cleanup("conservative")
    after = vm_rss(os.getpid())
    assert abs(r.process_rss_before_bytes - before) < 16 * MIB
    assert abs(r.process_rss_after_bytes - after) < 16 * MIB
    d = r.to_dict()
    assert d["process_freed_bytes"] == r.process_freed_bytes
    assert d["freed_gb"] == r.freed_gb


def test_freed_figures_are_signed_and_never_negative_zero():
    assert freed_phrase(0.0) == "freed 0.000 GB"
    assert freed_phrase(-1e-7) == "freed 0.000 GB"
    assert freed_phrase(1.25) == "freed 1.250 GB"
    assert freed_phrase(-0.012) == "freed 0.000 GB (grew 0.012 GB)"
    assert round_gb(-1e-7) == 0.0 and math.copysign(1.0, round_gb(-1e-7)) == 1.0
    assert round_gb(-0.0123) == -0.012
    # A process that grew by 4 KiB: shown as 0.000, never -0.000; the number keeps its sign.
    tiny = CleanupReport(mode="balanced", process_rss_before_bytes=100 * MIB, process_rss_after_bytes=100 * MIB + 4096)
    assert "-0.000" not in tiny.text
    process_line = next(line for line in tiny.text.splitlines() if "Process RAM" in line)
    assert process_line.endswith("(freed 0.000 GB)"), process_line
    assert tiny.freed_gb == -4096 / GB
    # One that grew by 12.5 MiB, with VRAM freed 100 MiB: each line says what happened,
    # the total is the measured sum.
    grew = CleanupReport(
        mode="balanced",
        process_rss_before_bytes=100 * MIB,
        process_rss_after_bytes=100 * MIB + 12 * MIB + MIB // 2,
        vram_used_before_bytes=1000 * MIB,
        vram_used_after_bytes=900 * MIB,
    )
    text = grew.text
    assert "(freed 0.000 GB (grew 0.012 GB))" in text, text
    assert "(freed 0.098 GB)" in text, text
    assert grew.freed_gb == (100 * MIB - 12.5 * MIB) / GB
    assert "Total      : freed 0.085 GB" in text, text
    assert "-0.0" not in text


def test_cleanup_frees_torch_tensors_held_only_by_garbage():
    # A reference cycle keeps 256 MiB of torch CPU tensors alive until a gc pass.
    class Holder:
        pass

    a, b = Holder(), Holder()
    a.peer, b.peer = b, a
    a.t = [torch.ones(64 << 10) for _ in range(1024)]  # 1024 x 256 KiB (mmapped by glibc)
    del a, b
    gc.disable()
    try:
        before = vm_rss(os.getpid())
        r = memwarden.cleanup("balanced")
    finally:
        gc.enable()
    measured = before - vm_rss(os.getpid())
    assert measured >= 200 * MIB, r.text
    assert sum(int(s.detail.split()[1]) for s in r.steps[1:4]) > 0  # objects collected
    # The report's figure is the measured one, and its text says so.
    assert abs(r.process_freed_bytes - measured) < 16 * MIB, (measured, r.text)
    assert f"(freed {r.process_freed_bytes / GB:.3f} GB)" in r.text


def run_workload(approach: str) -> dict:
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "heap_workload.py"), "--approach", approach, "--mib", "2048", "--torch"],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    return json.loads(out.stdout)


def test_fragmented_heap_is_returned_to_the_os():
    """1 GiB of freed-but-retained heap (bytes + torch CPU tensors): memwarden's
    cleanup brings RSS back within 10% of the live data; the seeds' approach
    (gc passes + torch cache) does not."""
    mw = run_workload("memwarden")
    assert mw["freed_retained_bytes"] > 900 * MIB
    assert mw["after_over_live"] <= 1.10, mw
    seed = run_workload("seed")
    assert seed["after_over_live"] > 1.8, seed


def helpers() -> list:
    out = [pytest.param(None, id="python -m memwarden")]
    native = [ROOT / "target" / b / "memwarden" for b in ("release", "debug")]
    out += [pytest.param(str(p), id="native binary") for p in native if p.is_file()][:1]
    return out


@pytest.mark.parametrize("helper", helpers())
def test_external_helper_trims_this_process_from_a_child(helper, monkeypatch):
    """The fallback: ``<helper> trim --pid <self>`` in a child process, the helper
    being MEMWARDEN_HELPER's binary or, without it, ``python -m memwarden``."""
    from memwarden.cleanup import HELPER_ENV, CleanupOptions, HelperError, external_helper, run_external_helper

    if helper is None:
        monkeypatch.delenv(HELPER_ENV, raising=False)
        assert external_helper().argv == [sys.executable, "-m", "memwarden"]
        assert external_helper().own_privileges is True
    else:
        monkeypatch.setenv(HELPER_ENV, helper)
        assert external_helper().argv == [helper] and external_helper().own_privileges is False
    data = run_external_helper(os.getpid(), CleanupOptions(swap_check=False, min_swap_free=0))
    assert isinstance(data, memwarden.PageoutReport), data
    assert data.pid == os.getpid(), data
    assert [s.name for s in data.steps] == ["open", "privileges", "swap_check", "advise", "verify"]
    assert data.swap_check.allowed is True
    # Checked run without --force: refused with its verdict when swap is short.
    refused = run_external_helper(os.getpid(), CleanupOptions(swap_check=True, min_swap_free=1 << 50))
    assert isinstance(refused, HelperError), refused
    assert refused.kind == "swap_refused" and refused.exit_code == 6, refused
    verdict = refused.swap_check
    assert isinstance(verdict, memwarden.SwapVerdict), refused
    assert verdict.allowed is False and verdict.margin_bytes == 1 << 50, verdict
    assert verdict.finding["kind"] in ("short", "no_swap", "no_allowance"), verdict.finding
    # Worded again in another face's terms: its names, none of the command's.
    words = verdict.text("set the switch", "knob M")
    assert "set the switch" in words and "--force" not in words and "--min-swap-free" not in words, words


def test_external_helper_that_cannot_run_or_answers_nonsense():
    """Whatever the helper does, the fallback reports it instead of raising."""
    from memwarden.cleanup import CleanupOptions, ExternalHelper, HelperError, run_external_helper

    opts = CleanupOptions()
    gone = run_external_helper(
        os.getpid(), opts, ExternalHelper(["/nonexistent/memwarden"], "/nonexistent/memwarden", False)
    )
    assert isinstance(gone, HelperError) and gone.kind == "", gone
    assert gone.error.startswith("could not run /nonexistent/memwarden: "), gone
    echo = run_external_helper(os.getpid(), opts, ExternalHelper(["/bin/echo"], "/bin/echo", False))
    assert isinstance(echo, HelperError)
    assert (
        echo.error
        == f"/bin/echo exited with status 0: trim --pid {os.getpid()} --json --min-swap-free {opts.min_swap_free}"
    )
    false = run_external_helper(os.getpid(), opts, ExternalHelper(["/bin/false"], "/bin/false", False))
    assert isinstance(false, HelperError) and false.error == "/bin/false exited with status 1: no output", false
    # JSON that is neither a report nor an error.
    sh = ExternalHelper(["/bin/sh", "-c", "echo '{\"pid\": 1}'"], "a script", False)
    odd = run_external_helper(os.getpid(), opts, sh)
    assert isinstance(odd, HelperError) and odd.error == 'a script answered `{"pid": 1}`, not a memwarden report', odd
    # A report of another schema version: a helper of another memwarden version.
    old = ExternalHelper(["/bin/sh", "-c", 'echo \'{"schema_version": 1, "pid": 1}\''], "an old one", False)
    other = run_external_helper(os.getpid(), opts, old)
    assert isinstance(other, HelperError), other
    assert other.error.startswith(
        f"an old one writes JSON schema 1 and this memwarden reads {memwarden.SCHEMA_VERSION}: install the same"
    ), other


def test_aggressive_cleanup_reports_the_swap_check_decision(swap_lock):
    r = memwarden.cleanup("aggressive", min_swap_free=1 << 50)
    step5 = next(s.detail for s in r.steps if s.index == 5)
    assert "malloc_trim" in step5
    # In this API's terms: cleanup(swap_check=False) overrides, min_swap_free is the margin.
    assert_pageout_skipped(step5, "pass swap_check=False", "min_swap_free", ("--force", "--min-swap-free"))


def test_deferred_trim_follows_every_reset_asked_for() -> None:
    """Two prompts queued back to back, each with a cleanup: the second asks while
    the waiter is already past the first reset. Each reset is followed by a trim."""
    import importlib
    import threading as _threading

    # `memwarden.cleanup` is the function; the module holds the scheduler.
    cl = importlib.import_module("memwarden.cleanup")

    class Queue:
        def __init__(self) -> None:
            self.flags: dict[str, bool] = {}

    queue = Queue()
    said: list[str] = []
    trimmed = _threading.Event()

    def say(line: str) -> None:
        said.append(line)
        trimmed.set()

    queue.flags["free_memory"] = True  # prompt 1's cleanup set it
    assert cl._schedule_deferred_trim(queue, say, timeout_s=30, settle_s=2.0)
    queue.flags.pop("free_memory")  # ComfyUI's reset after prompt 1
    time.sleep(1.0)  # the waiter saw the reset (polls every 0.2 s) and lets ComfyUI settle (2 s)
    queue.flags["free_memory"] = True  # prompt 2's cleanup asks again
    assert cl._schedule_deferred_trim(queue, say, timeout_s=30, settle_s=2.0)
    assert trimmed.wait(10), said
    trimmed.clear()
    assert len(said) == 1, said
    queue.flags.pop("free_memory")  # ComfyUI's reset after prompt 2
    assert trimmed.wait(10), said
    deadline = time.monotonic() + 10
    while cl._Deferred.pending and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [line.startswith("[memwarden] deferred trim after") for line in said] == [True, True], said
    assert not cl._Deferred.pending


# -- each step on its own ----------------------------------------------------------


def context(mode: str = "balanced", *, torch=None, mm=None, queue=None, **options):
    """A cleanup's context for one step: options as ``cleanup(mode, **options)``
    would make them; what the step logs goes to the list returned with it."""
    from memwarden.cleanup import CleanupContext, _validated

    opts = _validated(mode, options)
    lines: list[str] = []
    return CleanupContext(opts, CleanupReport(mode=opts.mode), lines.append, torch, mm, queue), lines


def plan(mode: str = "balanced", **kw):
    """The core's plan for a context, as (index, name, kind or skip line)."""
    from memwarden.cleanup import planned_steps

    return [(i, name, a["kind"] if a else skip) for i, name, a, skip in planned_steps(context(mode, **kw)[0])]


def test_the_plan_is_the_seven_numbered_steps_from_what_this_process_holds():
    """The core plans the steps from the options and the facts this process hands it
    (ComfyUI's model management, its prompt queue, torch, CUDA devices); its full
    table is tested in policy/modes.rs."""
    from conftest import fake_model_management

    assert plan("aggressive", mm=fake_model_management([]), queue=object(), torch=torch, purge_cache=True) == [
        (0, "Unload models", "unload_models"),
        (0, "Drop cached outputs", "drop_node_cache"),
        (1, "GC pass 1", "collect_garbage"),
        (2, "GC pass 2", "collect_garbage"),
        (3, "GC pass 3", "collect_garbage"),
        (4, "PyTorch cache", "torch_caches"),
        (5, "OS-level trim", "os_trim"),
        (6, "CUDA sync", "gpu_sync" if torch.cuda.is_available() else f"skipped (no CUDA device: {why(torch)})"),
        (7, "Final GC", "collect_garbage"),
        (7, "Purge page cache", "purge_cache"),
    ]
    assert plan("conservative", os_trim=False, sync_gpu=False) == [
        (0, "Unload models", "skipped (not in conservative mode)"),
        (1, "GC pass 1", "collect_garbage"),
        (2, "GC pass 2", "skipped (1 pass(es) in conservative mode)"),
        (3, "GC pass 3", "skipped (1 pass(es) in conservative mode)"),
        (4, "PyTorch cache", "skipped (torch is not loaded in this process)"),
        (5, "OS-level trim", "skipped (disabled)"),
        (6, "CUDA sync", "skipped (disabled)"),
        (7, "Final GC", "collect_garbage"),
    ]
    assert plan("aggressive")[:2] == [
        (0, "Unload models", "skipped (not running inside ComfyUI)"),
        (0, "Drop cached outputs", "skipped (not running inside ComfyUI)"),
    ]
    monitor = [(0, "Monitor only", "skipped (mode Monitor Only changes nothing)")]
    assert plan("Monitor Only", unload_models=True) == monitor


def why(t) -> str:
    from memwarden.cleanup import cuda_devices

    return cuda_devices(t)[1]


def test_run_steps_times_logs_and_records_and_survives_a_failure(monkeypatch):
    from memwarden.cleanup import ACTIONS, Outcome, measure_step, run_steps

    ctx, lines = context()

    def boom(_ctx, _action):
        raise RuntimeError("broken")

    kept = []

    def grow(_ctx, _action):
        kept.append(bytearray(64 << 20))
        return Outcome(True, "grew")

    monkeypatch.setitem(ACTIONS, "boom", boom)
    monkeypatch.setitem(ACTIONS, "fine", lambda _ctx, action: Outcome(True, f"did it: {action['x']}"))
    monkeypatch.setitem(ACTIONS, "grow", grow)
    run_steps(
        [
            (3, "Boom", {"kind": "boom"}, None),
            (5, "Fine", {"kind": "fine", "x": 1}, None),
            (6, "Grow", {"kind": "grow"}, None),
            (7, "Skip", None, "skipped (test)"),
        ],
        ctx,
    )
    assert lines == [
        "[3/7] Boom: FAILED: RuntimeError: broken",
        "[5/7] Fine: did it: 1",
        "[6/7] Grow: grew",
        "[7/7] Skip: skipped (test)",
    ]
    failed, fine, grew, skip = ctx.report.steps
    assert (failed.index, failed.ok, failed.skipped) == (3, False, False)
    assert (fine.name, fine.ok, fine.detail) == ("Fine", True, "did it: 1") and fine.duration_ms >= 0
    # The runner measures this process's resident memory across each step: a step
    # that takes 64 MiB and keeps it "freed" about -64 MiB; a skipped one nothing.
    assert -72 * MIB < grew.freed_bytes < -56 * MIB, grew
    assert skip.skipped and skip.freed_bytes is None and skip.record()["freed_bytes"] is None
    assert grew.record() == {
        "name": "Grow",
        "ok": True,
        "skipped": False,
        "detail": "grew",
        "freed_bytes": grew.freed_bytes,
        "duration_ms": grew.duration_ms,
    }
    # A step that measures what it freed itself (the guard's model release, its
    # pageout) keeps its own figure, whatever resident memory did across it.
    own = measure_step(1, "Own", lambda: kept.append(bytearray(8 << 20)) or Outcome(True, "mine", freed_bytes=123))
    assert own is not None and (own.freed_bytes, own.detail) == (123, "mine")
    assert measure_step(2, "Absent", lambda: None) is None


def test_unload_models():
    from conftest import fake_model_management
    from memwarden.cleanup import act_unload_models

    calls: list[str] = []
    out = act_unload_models(context("balanced", mm=fake_model_management(calls))[0], {})
    assert out.ok and not out.skipped
    assert out.detail.startswith("unloaded 2 model(s) from VRAM"), out
    assert calls == ["unload_all_models", "cleanup_models_gc", "cleanup_models", "soft_empty_cache"]


def test_drop_node_cache():
    import importlib

    from memwarden.cleanup import act_drop_node_cache

    cl = importlib.import_module("memwarden.cleanup")

    class Queue:
        def __init__(self) -> None:
            self.flags: dict[str, bool] = {}

        def set_flag(self, name: str, value: bool) -> None:
            self.flags[name] = value

    queue = Queue()
    ctx, lines = context("aggressive", queue=queue)
    out = act_drop_node_cache(ctx, {})
    assert out.ok and "drop cached node outputs" in out.detail
    assert queue.flags == {"free_memory": True} and ctx.report.deferred_trim_scheduled
    queue.flags.clear()  # ComfyUI's reset after the prompt: the deferred trim follows
    deadline = time.monotonic() + 10
    while cl._Deferred.pending and time.monotonic() < deadline:
        time.sleep(0.05)
    assert lines and lines[-1].startswith("[memwarden] deferred trim after"), lines


def test_collect_garbage():
    from memwarden.cleanup import act_collect_garbage

    class Cycle:
        pass

    a, b = Cycle(), Cycle()
    a.peer, b.peer = b, a
    del a, b
    out = act_collect_garbage(context()[0], {})
    assert re.fullmatch(r"collected \d+ objects", out.detail) and int(out.detail.split()[1]) >= 2, out


def test_torch_caches():
    from memwarden.cleanup import act_torch_caches

    out = act_torch_caches(context(torch=torch)[0], {"reset_peak_stats": True})
    assert out.ok and not out.skipped
    if not torch.cuda.is_available():
        assert out.detail.startswith(f"no CUDA device: {why(torch)}; device caches not applicable"), out


def test_os_trim_returns_the_heap():
    from memwarden.cleanup import act_os_trim

    out = act_os_trim(context("balanced")[0], {"pageout": False})
    assert out.ok and re.fullmatch(r"malloc_trim: RSS [\d.]+ GB -> [\d.]+ GB", out.detail), out


def refuse_pageout(monkeypatch, error):
    def refused(*args, **kwargs):
        raise error

    monkeypatch.setattr(memwarden._native, "trim_process", refused)


def test_os_trim_swap_refusal_is_not_a_failure(monkeypatch):
    from memwarden.cleanup import act_os_trim

    refuse_pageout(monkeypatch, memwarden.SwapRefused("free swap is short (simulated)"))
    out = act_os_trim(context("aggressive")[0], {"pageout": True})
    assert out.ok and out.detail.endswith("; Skipping pageout: free swap is short (simulated)"), out


def test_os_trim_refused_in_process_without_the_helper(monkeypatch):
    from memwarden.cleanup import act_os_trim

    refuse_pageout(monkeypatch, memwarden.PermissionDenied("needs CAP_SYS_NICE (simulated)"))
    out = act_os_trim(context("aggressive", external_helper=False)[0], {"pageout": True})
    assert not out.ok and out.detail.endswith("; pageout failed: needs CAP_SYS_NICE (simulated)"), out


def test_pageout_with_helper_reads_the_helpers_answer(monkeypatch):
    """The helper's refusal reads in the caller's terms; its failure is a failed step."""
    import importlib

    from memwarden.cleanup import HELPER_ENV, CleanupOptions, HelperError, pageout_with_helper

    cl = importlib.import_module("memwarden.cleanup")
    monkeypatch.delenv(HELPER_ENV, raising=False)
    verdict = memwarden.SwapVerdict.from_dict(
        {
            "allowed": False,
            "forced": False,
            "swap_free_bytes": 100,
            "needed_bytes": 100,
            "margin_bytes": 10,
            "finding": {"kind": "short"},
            "allowance": None,
            "commit": None,
            "reason": "free swap 100 B is below ... (--min-swap-free). Lower --min-swap-free, ... or pass --force",
        }
    )
    refused = HelperError("refused by the swap check: ... pass --force ...", "swap_refused", 6, verdict)
    monkeypatch.setattr(cl, "run_external_helper", lambda *a: refused)
    opts = CleanupOptions(swap_force_hint="flip the switch")
    ok, parts = pageout_with_helper(os.getpid(), opts, PermissionDenied("no (simulated)"))
    assert ok and parts[0].startswith("pageout failed in-process (no (simulated)); using external helper"), parts
    assert parts[1] == (
        "Skipping pageout (external helper): refused by the swap check: free swap 100 B is below the 100 B "
        "that would be paged out plus the 10 B margin (min_swap_free). Lower min_swap_free, add swap, or "
        "flip the switch to page out anyway"
    ), parts
    # A helper older than the verdict in its error object is quoted as it is.
    old = HelperError("refused by safety guard: free swap is short; pass --force", "guard_refused", 6)
    monkeypatch.setattr(cl, "run_external_helper", lambda *a: old)
    ok, parts = pageout_with_helper(os.getpid(), opts, PermissionDenied("no (simulated)"))
    assert ok and parts[1] == f"Skipping pageout (external helper): {old.error}", parts
    monkeypatch.setattr(cl, "run_external_helper", lambda *a: HelperError("it broke"))
    ok, parts = pageout_with_helper(os.getpid(), opts, PermissionDenied("no (simulated)"))
    assert not ok and parts[1] == "external helper python -m memwarden failed: it broke", parts


def test_gpu_sync():
    import types

    from memwarden.cleanup import act_gpu_sync

    synced: list[int] = []
    cuda = types.SimpleNamespace(is_available=lambda: True, device_count=lambda: 2, synchronize=synced.append)
    out = act_gpu_sync(context(torch=types.SimpleNamespace(cuda=cuda))[0], {})
    assert out.detail == "synchronized 2 device(s)" and synced == [0, 1]


def test_purge_cache(monkeypatch):
    from memwarden.cleanup import act_purge_cache

    def refused(**kwargs):
        raise memwarden.PermissionDenied("dropping the page cache needs root (simulated)")

    monkeypatch.setattr(memwarden._native, "purge_cache", refused)
    out = act_purge_cache(context(purge_cache=True)[0], {})
    assert not out.ok and out.detail.endswith("dropping the page cache needs root (simulated)"), out


def test_vram_used_reads_nvml_figures_from_the_snapshot():
    from memwarden.cleanup import vram_used

    snap = memwarden.snapshot(top=0, gpu=False)
    assert vram_used(snap, None) is None  # no GPU, no torch
    gib = 1 << 30
    d = snap.to_dict()
    device = {"index": 0, "name": "GPU 0", "uuid": "GPU-0", "total_bytes": 8 * gib, "used_bytes": 3 * gib}
    device.update(free_bytes=5 * gib, percent_used=37.5, utilization_gpu_percent=None, utilization_memory_percent=None)
    d["gpu"]["devices"] = [device, {**device, "index": 1, "used_bytes": gib}]
    assert vram_used(memwarden.Snapshot.from_dict(d), None) == 4 * gib


def test_report_on_windows_shows_page_file_drives_and_privileges():
    """Windows' lines of CLEANUP RESULTS, from a constructed Windows snapshot and
    the Windows trim's privileges step; a Linux snapshot adds none."""
    from memwarden.cleanup import CleanupReport, granted_privileges, page_file_drives

    snap = memwarden.snapshot(top=0, gpu=False)
    assert page_file_drives(snap) == []  # Linux lists no page files
    linux = CleanupReport(mode="balanced")
    assert "free   :" not in linux.text and "Privileges" not in linux.text
    gib = 1 << 30
    d = snap.to_dict()
    d["system"]["page_files"] = [
        {"path": "C:\\pagefile.sys", "total_bytes": 16 * gib, "used_bytes": gib, "drive": "C:\\"},
        {"path": "D:\\pagefile.sys", "total_bytes": 8 * gib, "used_bytes": 0, "drive": "D:\\"},
        {"path": "C:\\swapfile.sys", "total_bytes": gib, "used_bytes": 0, "drive": "C:\\"},
    ]
    d["system"]["page_files"][0]["drive_free_bytes"] = 61 * gib + gib // 5
    d["system"]["page_files"][1]["drive_free_bytes"] = None
    d["system"]["page_files"][2]["drive_free_bytes"] = 61 * gib + gib // 5
    drives = page_file_drives(memwarden.Snapshot.from_dict(d))
    assert drives == [("C:\\", 61 * gib + gib // 5), ("D:\\", None)]
    detail = (
        "SeIncreaseQuotaPrivilege=YES, SeProfileSingleProcessPrivilege=NO, SeDebugPrivilege=NO; "
        "PROCESS_SET_QUOTA granted on the handle; emptying a working set needs no privilege"
    )
    steps = [
        memwarden.Step.from_dict({"name": "open", "ok": True, "detail": "PID 4"}),
        memwarden.Step.from_dict({"name": "privileges", "ok": True, "detail": detail}),
    ]
    privileges = granted_privileges(steps)
    assert privileges == "SeIncreaseQuotaPrivilege=YES, SeProfileSingleProcessPrivilege=NO, SeDebugPrivilege=NO"
    linux_step = memwarden.Step.from_dict({"name": "privileges", "ok": True, "detail": "CAP_SYS_NICE held"})
    assert granted_privileges([linux_step]) is None
    text = CleanupReport(mode="aggressive", page_file_drives=drives, privileges=privileges).text.splitlines()
    assert "  C: free   : 61.2 GB (holds a page file)" in text, text
    assert "  D: free   : unreadable (holds a page file)" in text, text
    assert f"  Privileges : {privileges}" in text, text
    assert text.index("  C: free   : 61.2 GB (holds a page file)") < text.index("  VRAM       : n/a (no GPU visible)")
