"""The typed, frozen classes of memwarden._native: attributes, to_dict(), from_dict()
and from_json() against the CLI's --json output and the JSON Schema."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import memwarden
import pytest
from memwarden import _native

CLASSES = [
    "Snapshot",
    "SystemMemory",
    "PageFile",
    "ContainerInfo",
    "CgroupMemory",
    "EffectiveMemory",
    "PressureInfo",
    "Psi",
    "PsiLine",
    "TopProcesses",
    "ProcessMemory",
    "GpuInfo",
    "GpuDevice",
    "GpuProcess",
    "StatusLine",
    "Step",
    "SwapVerdict",
    "PageoutReport",
    "PurgeReport",
    "ReclaimReport",
    "HeapTrimReport",
]


def cli(*args: str) -> str:
    return subprocess.run([sys.executable, "-m", "memwarden", *args], capture_output=True, text=True, check=True).stdout


def assert_attributes_are_the_dict(obj: object, d: dict) -> None:
    """Every key of ``d`` is an attribute of ``obj``: nested objects as the typed
    classes (whose to_dict() is the nested dict), lists of them as lists, the rest
    as the very value."""
    for key, value in d.items():
        attr = getattr(obj, key)
        if isinstance(value, dict):
            assert type(attr).__module__ == "memwarden._native", (key, attr)
            assert attr.to_dict() == value
            assert_attributes_are_the_dict(attr, value)
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            assert [a.to_dict() for a in attr] == value
            for a, v in zip(attr, value):
                assert_attributes_are_the_dict(a, v)
        else:
            assert attr == value and type(attr) is type(value), (key, attr, value)


def test_every_class_is_exported_under_its_schema_name():
    for name in CLASSES:
        cls = getattr(memwarden, name)
        assert cls is getattr(_native, name) and cls.__module__ == "memwarden._native"
        assert name in memwarden.__all__


def test_snapshot_to_dict_is_the_clis_json():
    """The CLI's `check --json`, read back: to_dict() gives exactly that object, and
    every field is an attribute."""
    text = cli("check", "--json", "--top", "3")
    snap = memwarden.Snapshot.from_json(text)
    assert snap.to_dict() == json.loads(text)
    assert_attributes_are_the_dict(snap, json.loads(text))
    assert memwarden.Snapshot.from_dict(json.loads(text)) == snap


def test_snapshot_fields_are_the_schemas():
    schema = json.loads(cli("schema", "snapshot"))
    d = memwarden.snapshot(top=2).to_dict()
    assert set(schema["required"]) <= set(d) <= set(schema["properties"])
    assert set(d) == set(json.loads(cli("check", "--json", "--top", "0")))
    mine = memwarden.snapshot(top=2)
    assert_attributes_are_the_dict(mine, mine.to_dict())
    # Figures that cannot move between two snapshots are the same.
    other = json.loads(cli("check", "--json", "--top", "0"))
    for key in ("schema_version", "kernel"):
        assert d[key] == other[key]
    assert d["system"]["total_bytes"] == other["system"]["total_bytes"]
    assert d["effective"]["source"] == other["effective"]["source"]
    assert d["effective"]["total_bytes"] == other["effective"]["total_bytes"]
    assert d["container"] == other["container"] or d["container"]["cgroup"] is not None


def test_status_to_dict_is_the_clis_json():
    text = cli("status", "--json")
    from_cli = memwarden.StatusLine.from_json(text)
    assert from_cli.to_dict() == json.loads(text)
    mine = memwarden.status()
    assert set(mine.to_dict()) == set(json.loads(text)) == set(json.loads(cli("schema", "status"))["properties"])
    assert mine.ram_total_bytes == from_cli.ram_total_bytes and mine.ram_source == from_cli.ram_source
    assert mine.status.startswith("RAM: ") and isinstance(mine.ram_percent, float)
    assert mine.pressure in ("none", "low", "moderate", "high", "critical")  # enums are their JSON strings


def test_classes_are_frozen():
    snap = memwarden.snapshot(top=1)
    for obj, attr in [(snap, "kernel"), (snap.system, "total_bytes"), (snap.effective, "source")]:
        with pytest.raises(AttributeError):
            setattr(obj, attr, 1)
    with pytest.raises(AttributeError):
        snap.new_attribute = 1  # type: ignore[attr-defined]
    # Changing a dict from to_dict() changes nothing in the object.
    d = snap.to_dict()
    d["system"]["total_bytes"] = 0
    assert snap.system.total_bytes > 0
    with pytest.raises(TypeError):
        hash(snap)  # equal by value, so not hashable


def test_round_trip_and_equality_by_value():
    snap = memwarden.snapshot(top=3)
    again = memwarden.Snapshot.from_dict(snap.to_dict())
    assert again == snap and again is not snap
    assert memwarden.Snapshot.from_json(json.dumps(snap.to_dict())) == snap
    assert again.status_line == snap.status_line and again.report() == snap.report()
    assert snap != memwarden.snapshot(top=3) or snap.taken_at_unix_ms == memwarden.snapshot(top=3).taken_at_unix_ms
    assert snap.system != snap  # different classes never compare equal
    p = memwarden.process_memory()
    assert memwarden.ProcessMemory.from_dict(p.to_dict()) == p
    h = memwarden.trim_heap()
    assert memwarden.HeapTrimReport.from_json(json.dumps(h.to_dict())) == h
    # Floats come back bit for bit (serde_json parses with float_roundtrip): this
    # duration once came back one unit in the last place off.
    d = dict(h.to_dict(), duration_ms=0.11570699999999999)
    assert memwarden.HeapTrimReport.from_json(json.dumps(d)).duration_ms == 0.11570699999999999


def test_optional_fields_are_none_and_lists_are_lists():
    snap = memwarden.snapshot(top=2, gpu=False)
    assert snap.process is not None and snap.process.uss_bytes is None  # not detailed
    assert isinstance(snap.warnings, list) and isinstance(snap.top_processes.processes, list)
    assert all(isinstance(p, memwarden.ProcessMemory) for p in snap.top_processes.processes)
    assert snap.gpu.devices == [] and snap.gpu.available is False
    detailed = memwarden.process_memory(detailed=True)
    assert isinstance(detailed.uss_bytes, int) and detailed.uss_bytes > 0


def test_repr_is_short_and_names_the_class():
    snap = memwarden.snapshot(top=0)
    r = repr(snap)
    assert r.startswith("Snapshot(taken_at_unix_ms=") and "EffectiveMemory(source=" in r and len(r) < 300, r
    assert repr(snap.process).startswith(f"ProcessMemory(pid={snap.process.pid}, name=")
    assert repr(memwarden.status()).startswith("StatusLine(status='RAM: ")


BAD_INPUT = [
    ("not a dict", lambda: memwarden.Snapshot.from_dict("{}"), "Snapshot.from_dict needs a dict .*not str"),
    ("empty dict", lambda: memwarden.Snapshot.from_dict({}), "not a memwarden Snapshot: missing field"),
    ("not json", lambda: memwarden.Snapshot.from_json("nope"), "not a memwarden Snapshot: not JSON"),
    (
        "a list",
        lambda: memwarden.Snapshot.from_json("[1, 2]"),
        "not a memwarden Snapshot: a JSON object is expected, not an array",
    ),
    ("bytes", lambda: memwarden.Snapshot.from_json(b"{}"), "text must be a string"),
    ("wrong type", lambda: memwarden.PsiLine.from_dict({"avg10": "x"}), "not a memwarden PsiLine"),
    ("object", lambda: memwarden.Step.from_dict({"name": object()}), "Step.name: a object .* is not a JSON value"),
    ("huge", lambda: memwarden.Step.from_dict({"name": 2**70}), r"Step.name: \d+ is out of range"),
    ("bad key", lambda: memwarden.Step.from_dict({1: 2}), "Step: a key must be a string"),
    ("status line", lambda: memwarden.StatusLine.from_dict({"status": "x"}), "not a memwarden StatusLine"),
]


@pytest.mark.parametrize(("call", "message"), [b[1:] for b in BAD_INPUT], ids=[b[0] for b in BAD_INPUT])
def test_bad_input_raises_invalid_input(call, message):
    with pytest.raises(memwarden.InvalidInput, match=message) as info:
        call()
    assert info.value.kind == "invalid_input" and info.value.exit_code == 2


def test_a_built_snapshot_loads_and_renders():
    """A snapshot built by hand (from a saved one, changed) renders like a real one."""
    d = memwarden.snapshot(top=0, gpu=False).to_dict()
    d["effective"].update(total_bytes=16 << 30, used_bytes=8 << 30, percent_used=50.0)
    snap = memwarden.Snapshot.from_dict(d)
    assert snap.status_line.startswith("RAM: 8GB/16GB (50%)"), snap.status_line
    assert snap.status().ram_percent == 50.0
    assert "SYSTEM" in snap.report()


def test_report_texts_are_the_clis():
    d = {
        "schema_version": 1,
        "cgroup_dir": "/sys/fs/cgroup/test",
        "requested_bytes": 1 << 20,
        "fully_reclaimed": True,
        "usage_before_bytes": 3 << 20,
        "usage_after_bytes": 2 << 20,
        "reclaimed_bytes": 1 << 20,
        "duration_ms": 1.5,
    }
    r = memwarden.ReclaimReport.from_dict(d)
    assert "/sys/fs/cgroup/test" in r.text() and r.to_dict() == d


def test_torch_memory_is_typed():
    rows = memwarden.torch_memory()
    assert isinstance(rows, list)
    for row in rows:
        assert isinstance(row, memwarden.TorchDeviceMemory) and row.total_bytes > 0
        with pytest.raises(dataclasses.FrozenInstanceError):
            row.device = 3  # type: ignore[misc]
