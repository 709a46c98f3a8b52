"""The Python API over the Rust core, against real processes."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import memwarden
import pytest
from conftest import MIB, has_swap, vm_rss
from memwarden import _native


def test_snapshot_is_the_documented_schema():
    s = memwarden.snapshot()
    assert s.schema_version == memwarden.SCHEMA_VERSION == 1
    assert s["system"]["total_bytes"] == s.system.total_bytes > 0
    assert s.process.pid == os.getpid()
    assert s.effective.source in ("host", "cgroup")
    assert s.pressure.level in ("none", "low", "moderate", "high", "critical")
    assert isinstance(s.to_dict(), dict) and json.loads(s.json)["kernel"] == s.kernel
    assert "SYSTEM" in s.report() and "CONTAINER" in s.report()
    # Every key of the JSON Schema's required list is there.
    schema = json.loads(
        subprocess.run(
            [sys.executable, "-m", "memwarden", "schema", "snapshot"], capture_output=True, text=True, check=True
        ).stdout
    )
    assert set(schema["required"]) <= set(s)


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


def test_status_line_form():
    line = memwarden.status_line()
    assert re.fullmatch(r"RAM: [\d.]+GB/[\d.]+GB \(\d+%\) \| VRAM: (n/a|[\d.]+GB/[\d.]+GB \(\d+%\))", line), line
    st = memwarden.status()
    assert st.status == line or st.status.split(" | ")[1] == line.split(" | ")[1]


def test_format_and_parse():
    assert memwarden.format_bytes(1536) == "1.50 KiB"
    assert memwarden.parse_size("1.5G") == 3 << 29
    with pytest.raises(memwarden.InvalidInput):
        memwarden.parse_size("lots")


@pytest.mark.parametrize(
    ("call", "exc", "kind", "code"),
    [
        (lambda: memwarden.snapshot(999_999_999), memwarden.NoSuchProcess, "no_such_process", 3),
        (lambda: memwarden.snapshot(0), memwarden.InvalidInput, "invalid_input", 2),
        (lambda: memwarden.trim_process(1), memwarden.Protected, "protected", 7),
        (lambda: memwarden.trim_process(2), memwarden.Protected, "protected", 7),
        (lambda: memwarden.snapshot(scope="everything"), memwarden.InvalidInput, None, None),
    ],
)
def test_bad_input_raises_specific_errors(call, exc, kind, code):
    with pytest.raises(exc) as info:
        call()
    assert isinstance(info.value, memwarden.MemwardenError)
    if kind:
        assert info.value.kind == kind and info.value.exit_code == code


def test_trim_guard_refuses_without_swap_and_changes_nothing(child):
    if has_swap():
        pytest.skip("this machine has swap; the no-swap refusal needs none")
    c = child(64)
    before = vm_rss(c.pid)
    with pytest.raises(memwarden.GuardRefused, match="no swap"):
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
    assert json.loads(out.stdout)["schema_version"] == 1
