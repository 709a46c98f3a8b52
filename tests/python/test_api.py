"""The Python API over the Rust core, against real processes."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import memwarden
import numpy
import pytest
from conftest import MIB, has_swap, swap_refusal_names, vm_rss
from memwarden import _native


def test_snapshot_is_the_documented_schema():
    s = memwarden.snapshot()
    assert s.schema_version == memwarden.SCHEMA_VERSION == 2
    assert s.to_dict()["system"]["total_bytes"] == s.system.total_bytes > 0
    assert s.process.pid == os.getpid()
    assert s.effective.source in ("host", "cgroup")
    assert s.pressure.level in ("none", "low", "moderate", "high", "critical")
    assert isinstance(s.to_dict(), dict) and s.to_dict()["kernel"] == s.kernel
    assert "SYSTEM" in s.report() and "CONTAINER" in s.report()
    # Every key of the JSON Schema's required list is there.
    schema = json.loads(
        subprocess.run(
            [sys.executable, "-m", "memwarden", "schema", "snapshot"], capture_output=True, text=True, check=True
        ).stdout
    )
    assert set(schema["required"]) <= set(s.to_dict())


def test_child_memory_is_measured(child):
    c = child(200)
    p = memwarden.process_memory(c.pid, detailed=True)
    assert p.pid == c.pid
    assert 195 * MIB <= p.rss_anon_bytes <= 215 * MIB
    assert abs(p.rss_bytes - vm_rss(c.pid)) < 2 * MIB
    assert p.uss_bytes >= 195 * MIB
    snap = memwarden.snapshot(c.pid, top=50)
    assert snap.process.pid == c.pid
    assert c.pid in [t.pid for t in snap.top_processes.processes]


STATUS_RE = r"RAM: [\d.]+GB/([\d.]+)GB \(\d+%\) \| VRAM: (n/a|[\d.]+GB/([\d.]+)GB \(\d+%\))"


def test_status_line_form():
    line = memwarden.status_line()
    m = re.fullmatch(STATUS_RE, line)
    assert m, line
    # One snapshot: its line and its status numbers are the same thing, exactly.
    snap = memwarden.snapshot(top=0)
    assert snap.status().status == snap.status_line
    # Two snapshots (status_line() and status() each take one): used memory may move
    # in between, the totals cannot, and without a GPU the VRAM part is n/a in both.
    st = memwarden.status()
    m2 = re.fullmatch(STATUS_RE, st.status)
    assert m2, st.status
    assert m2.group(1) == m.group(1)  # RAM total
    if snap.gpu.devices:
        assert m2.group(3) == m.group(3)  # VRAM total
    else:
        assert m.group(2) == m2.group(2) == "n/a"


def test_format_and_parse():
    assert memwarden.format_bytes(1536) == "1.50 KiB"
    assert memwarden.format_bytes(0) == "0 B"
    assert memwarden.parse_size("1.5G") == 3 << 29
    assert memwarden.format_bytes(2**64 - 1) == "16.00 EiB"
    # Integers that are not Python ints but say they are (__index__): accepted.
    assert memwarden.format_bytes(numpy.int64(1536)) == "1.50 KiB"
    assert memwarden.snapshot(numpy.int32(os.getpid()), top=numpy.uint8(0)).process.pid == os.getpid()
    with pytest.raises(memwarden.InvalidInput):
        memwarden.parse_size("lots")


@pytest.mark.parametrize(
    ("call", "exc", "kind", "code"),
    [
        (lambda: memwarden.snapshot(999_999_999), memwarden.NoSuchProcess, "no_such_process", 3),
        (lambda: memwarden.snapshot(0), memwarden.InvalidInput, "invalid_input", 2),
        (lambda: memwarden.trim_process(1), memwarden.Protected, "protected", 7),
        (lambda: memwarden.trim_process(2), memwarden.Protected, "protected", 7),
        (lambda: memwarden.snapshot(scope="everything"), memwarden.InvalidInput, "invalid_input", 2),
    ],
)
def test_bad_input_raises_specific_errors(call, exc, kind, code):
    with pytest.raises(exc) as info:
        call()
    assert isinstance(info.value, memwarden.MemwardenError)
    assert info.value.kind == kind and info.value.exit_code == code


#: The exit-code table (README "Exit codes"; crates/memwarden-core/src/error.rs
#: pins the same on the Rust side): each exception class, its ``.kind`` and its
#: ``.exit_code``. Malformed /proc files and I/O errors are the base class, code 1.
EXIT_CODES = {
    "InvalidInput": ("invalid_input", 2),
    "NoSuchProcess": ("no_such_process", 3),
    "PermissionDenied": ("permission_denied", 4),
    "Unsupported": ("unsupported", 5),
    "SwapRefused": ("swap_refused", 6),
    "Protected": ("protected", 7),
    "Ambiguous": ("ambiguous", 8),
    "HeadroomRefused": ("headroom_refused", 9),
}


def without_admin(drop: bool) -> list[str]:
    """The command prefix that runs a child without CAP_SYS_ADMIN (``drop``), as an
    unprivileged user runs: setpriv takes it out of root's bounding set."""
    if not drop:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("setpriv (util-linux) not found: root cannot be run without CAP_SYS_ADMIN here")
    return [setpriv, "--inh-caps=-sys_admin", "--bounding-set=-sys_admin"]


def provoke(code: str, drop_admin: bool) -> dict:
    """Run ``code`` (a memwarden call) in a fresh interpreter: the class, kind and
    exit code of the memwarden error it raised."""
    script = (
        "import json, memwarden\n"
        "try:\n"
        f"    {code}\n"
        "    print(json.dumps(None))\n"
        "except memwarden.MemwardenError as e:\n"
        "    print(json.dumps({'class': type(e).__name__, 'kind': e.kind, 'exit_code': e.exit_code}))\n"
    )
    out = subprocess.run(
        [*without_admin(drop_admin), sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return json.loads(out.stdout)


def cli(args: list[str], drop_admin: bool) -> tuple[int, dict]:
    """The memwarden command with ``--json``: its exit status and its error object."""
    out = subprocess.run(
        [*without_admin(drop_admin), sys.executable, "-m", "memwarden", *args, "--json"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    return out.returncode, json.loads(out.stdout)


def huge_model(where: Path) -> Path:
    """A .safetensors file whose one tensor takes more than this machine's binding
    limit (a hole on disk: only the header is written)."""
    limit = memwarden.HeadroomWatch().read().limit_bytes
    n = limit // 4 + (1 << 30)
    raw = json.dumps({"model.diffusion_model.w": {"dtype": "F32", "shape": [n], "data_offsets": [0, n * 4]}}).encode()
    path = where / "huge.safetensors"
    with open(path, "wb") as f:
        f.write(len(raw).to_bytes(8, "little") + raw)
        f.truncate(8 + len(raw) + n * 4)
    return path


@pytest.mark.parametrize("name", sorted(EXIT_CODES))
def test_exceptions_and_the_command_share_the_exit_code_table(name, child, tmp_path):
    """Each kind of error, provoked for real through the Python API and through the
    command: the exception's class, ``.kind`` and ``.exit_code``, and the command's
    exit status and JSON error object, are the table's."""
    c = child(8)
    root = os.geteuid() == 0
    huge = huge_model(tmp_path)
    # (the Python call, the command, run without CAP_SYS_ADMIN) for each kind.
    cases = {
        "InvalidInput": ("memwarden.parse_size('lots')", ["reclaim", "--bytes", "lots"], False),
        "NoSuchProcess": ("memwarden.snapshot(999_999_999)", ["trim", "--pid", "999999999"], False),
        # Dropping the page cache needs CAP_SYS_ADMIN: refused, before anything is done.
        "PermissionDenied": ("memwarden.purge_cache()", ["purge-cache"], root),
        # memory.reclaim of this process's own group: cgroup v2 only.
        "Unsupported": ("memwarden.reclaim(1 << 20)", ["reclaim", "--bytes", "1M"], False),
        "SwapRefused": (
            f"memwarden.trim_process({c.pid}, min_swap_free=1 << 50)",
            ["trim", "--pid", str(c.pid), "--min-swap-free", "1024T"],
            False,
        ),
        "Protected": ("memwarden.trim_process(1)", ["trim", "--pid", "1"], False),
        # The API has no --auto: the command only.
        "Ambiguous": (None, ["trim", "--auto", "--min-swap-free", "1024T"], False),
        # A model file (a sparse one: only its header is read) larger than this
        # machine's own binding limit.
        "HeadroomRefused": (
            f"memwarden.guard.Guard(memwarden.guard.GuardSettings(history_file={str(huge)!r}"
            f" + '.jsonl')).check_load({str(huge)!r}, 'loading huge.safetensors')",
            ["headroom", "--load", str(huge)],
            False,
        ),
    }
    code, args, drop_admin = cases[name]
    kind, exit_code = EXIT_CODES[name]
    assert issubclass(getattr(memwarden, name), memwarden.MemwardenError)
    if code is not None:
        got = provoke(code, drop_admin)
        if got is None and name == "Unsupported":
            pytest.skip("memory.reclaim works in this process's cgroup here: nothing is unsupported to provoke")
        assert got == {"class": name, "kind": kind, "exit_code": exit_code}, got
    rc, err = cli(args, drop_admin)
    if name == "Ambiguous" and err.get("kind") == "swap_refused":
        pytest.skip(f"a ComfyUI server runs here, so --auto found exactly one: {err['error'][:120]}...")
    assert (rc, err["kind"], err["exit_code"]) == (exit_code, kind, exit_code), err


ME = os.getpid()

# Every bad argument of the public API: InvalidInput with .kind / .exit_code and a
# message that names what is wrong (never a bare ValueError, TypeError or
# OverflowError).
BAD_ARGUMENTS = [
    ("cleanup nonsense", lambda: memwarden.cleanup("nonsense"), "unknown cleanup mode 'nonsense'"),
    ("cleanup None", lambda: memwarden.cleanup(None), "unknown cleanup mode None"),
    ("cleanup option", lambda: memwarden.cleanup("balanced", turbo=True), "unknown cleanup option.*'turbo'"),
    ("cleanup gc_passes", lambda: memwarden.cleanup("balanced", gc_passes=7), "gc_passes must be .* 0 to 3"),
    ("cleanup flag", lambda: memwarden.cleanup("balanced", swap_check="no"), "swap_check must be True or False"),
    ("cleanup margin", lambda: memwarden.cleanup("aggressive", min_swap_free=-1), "min_swap_free .*got -1"),
    ("cleanup log", lambda: memwarden.cleanup("balanced", log="stdout"), "log must be a callable"),
    ("snapshot scope", lambda: memwarden.snapshot(scope="x"), "scope must be 'visible' or 'cgroup', not 'x'"),
    ("snapshot scope type", lambda: memwarden.snapshot(scope=1), "scope must be a string"),
    ("snapshot top -1", lambda: memwarden.snapshot(top=-1), "top must be .*got -1"),
    ("snapshot top float", lambda: memwarden.snapshot(top=2.5), "top must be .*not float"),
    ("snapshot top None", lambda: memwarden.snapshot(top=None), "top must be .*not NoneType"),
    ("snapshot pid bool", lambda: memwarden.snapshot(True), "pid must be .*not a bool"),
    ("snapshot pid float", lambda: memwarden.snapshot(float(ME)), "pid must be .*not float"),
    ("snapshot detailed", lambda: memwarden.snapshot(detailed=1), "detailed must be True or False"),
    ("snapshot gpu", lambda: memwarden.snapshot(gpu="yes"), "gpu must be True or False"),
    ("report color", lambda: memwarden.snapshot(top=0).report(color=1), "color must be True or False"),
    ("trim bool", lambda: memwarden.trim_process(True), "pid must be .*not a bool"),
    ("trim False", lambda: memwarden.trim_process(False), "pid must be .*not a bool"),
    ("trim float", lambda: memwarden.trim_process(1.0), "pid must be .*not float"),
    ("trim str", lambda: memwarden.trim_process(str(ME)), "pid must be .*not str"),
    ("trim None", lambda: memwarden.trim_process(None), "pid must be .*not NoneType"),
    ("trim negative", lambda: memwarden.trim_process(-5), "-5 is not a valid PID"),
    ("trim huge", lambda: memwarden.trim_process(2**64), "is not a valid PID .*too large"),
    ("trim margin -1", lambda: memwarden.trim_process(ME, min_swap_free=-1), "min_swap_free .*got -1"),
    ("trim margin float", lambda: memwarden.trim_process(ME, min_swap_free=1.5), "min_swap_free .*not float"),
    ("trim margin text", lambda: memwarden.trim_process(ME, min_swap_free="lots"), "min_swap_free: 'lots'"),
    ("trim margin huge", lambda: memwarden.trim_process(ME, min_swap_free=2**64), "min_swap_free .*got"),
    ("trim force", lambda: memwarden.trim_process(ME, force=1), "force must be True or False"),
    ("trim cold", lambda: memwarden.trim_process(ME, cold="yes"), "cold must be True or False"),
    ("format negative", lambda: memwarden.format_bytes(-1), "n must be .*got -1"),
    ("format float", lambda: memwarden.format_bytes(1.5), "n must be .*not float"),
    ("format bool", lambda: memwarden.format_bytes(True), "n must be .*not a bool"),
    ("parse text", lambda: memwarden.parse_size("lots"), "'lots' is not a size"),
    ("parse negative", lambda: memwarden.parse_size("-1G"), "'-1G' is not a size"),
    ("parse int", lambda: memwarden.parse_size(5), "size must be a string, not int"),
    ("parse None", lambda: memwarden.parse_size(None), "size must be a string, not NoneType"),
    ("process bool", lambda: memwarden.process_memory(True), "pid must be .*not a bool"),
    ("process negative", lambda: memwarden.process_memory(-1), "-1 is not a valid PID"),
    ("process zero", lambda: memwarden.process_memory(0), "0 is not a valid PID"),
    ("process huge", lambda: memwarden.process_memory(2**40), "is not a valid PID .*too large"),
    ("process beyond i64", lambda: memwarden.process_memory(2**70), "is not a valid PID .*too large"),
    ("process detailed", lambda: memwarden.process_memory(ME, detailed="yes"), "detailed must be True or False"),
    ("reclaim negative", lambda: memwarden.reclaim(-1), "nbytes must be .*got -1"),
    ("reclaim zero", lambda: memwarden.reclaim(0), "nbytes must be .*1 or more"),
    ("reclaim float", lambda: memwarden.reclaim(1.5), "nbytes must be .*not float"),
    ("reclaim text", lambda: memwarden.reclaim("lots"), "nbytes: 'lots' is not a size"),
    ("purge slab", lambda: memwarden.purge_cache(slab="yes"), "slab must be True or False"),
    ("purge compact", lambda: memwarden.purge_cache(compact=1), "compact must be True or False"),
    ("pressure snap", lambda: memwarden.check_memory_pressure("x"), "snap must be a memwarden snapshot"),
    ("torch_memory flag", lambda: memwarden.torch_memory("no"), "import_if_needed must be True or False"),
    ("native hint", lambda: _native.trim_process(ME, force_hint=3), "force_hint must be a string"),
    ("native empty hint", lambda: _native.trim_process(ME, margin_hint=" "), "margin_hint must not be empty"),
    ("snapshot from json", lambda: memwarden.Snapshot.from_json("{}"), "not a memwarden Snapshot: missing field"),
    ("report from json", lambda: memwarden.PageoutReport.from_json(b"{}"), "text must be a string"),
    ("snapshot from dict", lambda: memwarden.Snapshot.from_dict([]), "Snapshot.from_dict needs a dict"),
    ("native argv", lambda: _native.run_cli("memwarden"), "argv must be a list of strings"),
]


@pytest.mark.parametrize(("call", "message"), [c[1:] for c in BAD_ARGUMENTS], ids=[c[0] for c in BAD_ARGUMENTS])
def test_every_bad_argument_raises_invalid_input(call, message):
    with pytest.raises(memwarden.InvalidInput, match=message) as info:
        call()
    assert isinstance(info.value, memwarden.MemwardenError)
    assert info.value.kind == "invalid_input"
    assert info.value.exit_code == 2


def test_bad_arguments_change_nothing(child):
    c = child(64)
    before = vm_rss(c.pid)
    for kwargs in ({"min_swap_free": -1}, {"force": 1}, {"cold": "yes"}, {"min_swap_free": 0.5}):
        with pytest.raises(memwarden.InvalidInput):
            memwarden.trim_process(c.pid, **kwargs)
    assert abs(vm_rss(c.pid) - before) < 2 * MIB
    lines: list[str] = []
    with pytest.raises(memwarden.InvalidInput, match="min_swap_free"):
        memwarden.cleanup("aggressive", min_swap_free=-1, log=lines.append)
    assert lines == []  # no step ran


def test_swap_refusal_names_the_python_parameters(child, swap_lock):
    """A refusal through the Python API says what to change in Python terms, and
    carries the verdict with its figures."""
    c = child(64)
    with pytest.raises(memwarden.SwapRefused) as info:
        memwarden.trim_process(c.pid, min_swap_free=1 << 50)
    msg = str(info.value)
    assert info.value.kind == "swap_refused" and info.value.exit_code == 6
    verdict = info.value.swap_check
    assert isinstance(verdict, memwarden.SwapVerdict) and not verdict.allowed, verdict
    assert verdict.margin_bytes == 1 << 50 and verdict.needed_bytes > 0, verdict
    assert msg == f"refused by the swap check: {verdict.reason}", (msg, verdict.reason)
    assert verdict.text() == verdict.reason, "the API's own names by default"
    if swap_refusal_names(msg) == "force":
        assert "pass force=True" in msg, msg
    else:
        assert "margin (min_swap_free)" in msg, msg
    assert "--force" not in msg and "--min-swap-free" not in msg, msg
    # Callers with other names pass their own.
    with pytest.raises(memwarden.SwapRefused) as info:
        _native.trim_process(c.pid, min_swap_free=1 << 50, force_hint="flip the switch", margin_hint="knob B")
    msg = str(info.value)
    if swap_refusal_names(msg) == "force":
        assert "flip the switch" in msg, msg
    else:
        assert "margin (knob B)" in msg, msg
    assert "force=True" not in msg and "--force" not in msg, msg


STEPS = ["open", "privileges", "swap_check", "advise", "verify"]


def test_trim_process_pages_a_child_out_to_swap(child, swap):
    """The successful path: a child's 256 MiB of written memory goes to swap, the
    report's figures are /proc's, and nothing is lost."""
    swap(512)
    c = child(256)
    before = c.memory()
    r = memwarden.trim_process(c.pid, min_swap_free="16M")
    after = c.memory()
    assert r.pid == c.pid and r.advice == "pageout", r
    assert [s.name for s in r.steps] == STEPS and all(s.ok for s in r.steps), r.steps
    assert r.swap_check.allowed is True and r.swap_check.forced is False
    assert "MADV_PAGEOUT" in r.steps[3].detail and r.ranges_skipped == 0
    # Most of the allocation left RAM for swap, as /proc shows it...
    assert before["RssAnon"] - after["RssAnon"] >= 230 * MIB, (before, after)
    assert after["VmSwap"] - before["VmSwap"] >= 230 * MIB, (before, after)
    # ...and as the report says.
    assert r.freed_bytes >= 230 * MIB, r
    assert abs(r.rss_before_bytes - before["VmRSS"]) < 2 * MIB
    assert abs(r.rss_after_bytes - after["VmRSS"]) < 2 * MIB
    assert r.swap_after_bytes == after["VmSwap"]
    # Touching it brings it back, every byte as written.
    assert c.check() == "ok"
    assert c.memory()["RssAnon"] >= 250 * MIB


def test_trim_process_cold_needs_no_swap(child, swap_lock):
    """cold=True (MADV_COLD) passes the swap check with no swap at all (this machine has
    none unless a test adds it, and the lock keeps them away): it marks the child's
    pages first to go and moves nothing now."""
    c = child(128)
    before = c.memory()
    r = memwarden.trim_process(c.pid, cold=True)  # default margin: 1 GiB of free swap
    after = c.memory()
    assert r.advice == "cold" and [s.name for s in r.steps] == STEPS
    assert r.swap_check.allowed is True and r.swap_check.forced is False
    assert "no free swap is needed" in r.swap_check.reason, r.swap_check
    assert r.swap_check.finding == {"kind": "cold_only"}, r.swap_check
    assert "MADV_COLD" in r.steps[3].detail and r.ranges_skipped == 0
    assert r.bytes_advised >= 128 * MIB  # the whole allocation was advised
    assert after["RssAnon"] >= before["RssAnon"] - 4 * MIB, (before, after)
    assert after["VmSwap"] == before["VmSwap"]
    assert c.check() == "ok"


@pytest.mark.parametrize("cold", [False, True], ids=["no-advice", "younger-marked-cold"])
def test_cold_pages_go_first_under_pressure(memory_group, swap, child, cold):
    """What cold=True is for: two children of 128 MiB in one memory cgroup, then
    reclaim of 100 MiB from the group (what memory pressure does). Without advice
    the kernel takes the older child's pages; with the younger one marked cold, it
    takes the younger one's instead.

    What the squeeze moved to swap is measured around it, per child, and the two
    are compared: the child that should go gives most of the 100 MiB, the other far
    less. Reclaim is not exact (it works in batches, and the rest of the machine
    may be reclaiming at the same time), so the kept child may lose a little, but
    never near what the taken one loses."""
    swap(512)
    older = child(128, memory_group.path)
    younger = child(128, memory_group.path)
    if cold:
        r = memwarden.trim_process(younger.pid, cold=True)
        assert r.advice == "cold" and r.swap_check.allowed
    taken, kept = (younger, older) if cold else (older, younger)
    t0, k0 = taken.memory(), kept.memory()
    memory_group.squeeze(100 * MIB)
    t, k = taken.memory(), kept.memory()
    took = t["VmSwap"] - t0["VmSwap"]
    spared = k["VmSwap"] - k0["VmSwap"]
    figures = {"taken": (t0, t), "kept": (k0, k)}
    assert took >= 80 * MIB, figures
    assert spared * 4 <= took, f"the kept child lost {spared >> 20} MiB, the taken one {took >> 20} MiB: {figures}"


def test_trim_swap_check_refuses_without_swap_and_changes_nothing(child, swap_lock):
    if has_swap():
        pytest.skip("this machine has swap; the no-swap refusal needs none")
    c = child(64)
    before = vm_rss(c.pid)
    with pytest.raises(memwarden.SwapRefused, match="no swap"):
        memwarden.trim_process(c.pid)
    assert abs(vm_rss(c.pid) - before) < 2 * MIB


def test_pressure_report():
    p = memwarden.check_memory_pressure()
    assert p.level in ("none", "low", "moderate", "high", "critical")
    assert 0 < p.ram_percent < 100
    assert p.recommendations


def test_heap_trim_reports_rss():
    r = memwarden.trim_heap()
    assert r.pid == os.getpid()
    assert r.rss_before_bytes > 0 and r.rss_after_bytes > 0


def test_run_cli_returns_instead_of_exiting(capfd):
    assert _native.run_cli(["memwarden", "--version"]) == 0
    assert _native.run_cli(["memwarden", "no-such-command"]) == 2
    assert _native.run_cli(["memwarden", "trim", "--pid", "999999999"]) == 3
    assert "no process with PID" in capfd.readouterr().err


def test_console_script_and_module_entry_points():
    out = subprocess.run([sys.executable, "-m", "memwarden", "status"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("RAM: ")
    exe = shutil.which("memwarden", path=os.path.dirname(sys.executable))
    assert exe, "the wheel installs a memwarden command next to python"
    out = subprocess.run([exe, "check", "--json", "--top", "1"], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout)["schema_version"] == 2


def test_every_output_reads_vram_percent_the_same_way() -> None:
    """One definition of VRAM percent (the fullest GPU) behind the status line, the
    pressure check and the Memory Monitor: a full 24 GiB card beside an idle 80 GiB
    one is 33.3 %, never the 19.7 % a sum over the two would give."""
    from memwarden.comfy import nodes

    gib = 1 << 30
    snap = memwarden.snapshot(top=0, gpu=False).to_dict()

    def device(index: int, used: int, total: int) -> dict[str, object]:
        return {
            "index": index,
            "name": f"GPU {index}",
            "uuid": f"GPU-{index}",
            "total_bytes": total,
            "used_bytes": used,
            "free_bytes": total - used,
            "percent_used": round(1000 * used / total) / 10,
            "utilization_gpu_percent": None,
            "utilization_memory_percent": None,
        }

    snap["gpu"] = dict(snap["gpu"], devices=[device(0, gib * 25 // 2, 80 * gib), device(1, 8 * gib, 24 * gib)])
    two_gpus = memwarden.Snapshot.from_dict(snap)
    status = two_gpus.status()
    assert status.vram_percent == 33.3
    assert status.status.endswith(" | VRAM: GPU0 12.5GB/80GB (16%), GPU1 8GB/24GB (33%)"), status
    assert two_gpus.status_line == status.status
    assert memwarden.check_memory_pressure(two_gpus).vram_percent == 33.3
    assert memwarden.check_memory_pressure(snap).vram_percent == 33.3  # its dict too
    assert nodes._status(two_gpus) == (status.status, status.ram_percent, 33.3)
