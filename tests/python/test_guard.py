"""The headroom guard: real cgroups and processes for the give-back, real files for
the load prediction and refusal, and ComfyUI's cache shapes of both generations
for what the host gives back."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import threading
import time
import types
from pathlib import Path
from typing import Any

import memwarden
import pytest
from conftest import MIB, Child, until
from memwarden import _native, guard
from memwarden.comfy import hooks, host

GIB = 1 << 30


def safetensors(path: Path, tensors: dict[str, tuple[str, list[int]]], write_data: bool = False) -> Path:
    """A .safetensors file with these tensors (dtype, shape); the data is a hole
    (sparse) unless asked for: the guard reads only the header."""
    sizes = {"F16": 2, "BF16": 2, "F32": 4, "I64": 8}
    header: dict[str, Any] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, (dtype, shape) in tensors.items():
        n = sizes[dtype]
        for d in shape:
            n *= d
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + n]}
        offset += n
    raw = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        if write_data:
            f.write(b"\0" * offset)
        else:
            f.truncate(8 + len(raw) + offset)
    return path


# -- prediction ----------------------------------------------------------------------


def test_a_checkpoint_is_predicted_part_by_part_at_the_dtype_it_is_loaded_at(tmp_path: Path) -> None:
    f = safetensors(
        tmp_path / "ckpt.safetensors",
        {
            "model.diffusion_model.w": ("F16", [1000, 1000]),
            "cond_stage_model.transformer.w": ("F16", [100, 1000]),
            "cond_stage_model.transformer.ids": ("I64", [1, 77]),
            "first_stage_model.w": ("F16", [50, 1000]),
        },
    )
    p = _native.predict_load(f, itemsize={"diffusion": 4, "text_encoder": 2, "vae": 4})
    assert p.source == "header"
    assert p.bytes == 1_000_000 * 4 + 100_000 * 2 + 77 * 8 + 50_000 * 4
    assert [(x.component, x.params, x.load_itemsize) for x in p.parts] == [
        ("diffusion", 1_000_000, 4),
        ("text_encoder", 100_000, 2),
        ("vae", 50_000, 4),
    ]
    # What it took when last loaded here wins.
    assert _native.predict_load(f, measured_bytes=123).bytes == 123
    # A part that goes to VRAM takes no RAM.
    assert _native.predict_load(f, itemsize={"diffusion": 0, "text_encoder": 0, "vae": 0}).bytes == 77 * 8
    # A single-part file takes the loader's kind.
    vae = safetensors(tmp_path / "vae.safetensors", {"decoder.w": ("F32", [10, 10])})
    assert _native.predict_load(vae, default="vae", itemsize={"vae": 2}).parts[0].component == "vae"


def test_prediction_inputs_are_checked(tmp_path: Path) -> None:
    ckpt = tmp_path / "old.ckpt"
    ckpt.write_bytes(b"x" * 1000)
    p = _native.predict_load(ckpt)
    assert (p.source, p.bytes) == ("file_size", 2000)
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(struct.pack("<Q", 10**12) + b"{}")
    with pytest.raises(memwarden.MemwardenError, match=r"malformed .*bad\.safetensors: header length"):
        _native.predict_load(bad)
    with pytest.raises(memwarden.MemwardenError, match="cannot open"):
        _native.predict_load(tmp_path / "missing.safetensors")
    with pytest.raises(memwarden.InvalidInput, match="default must be one of"):
        _native.predict_load(ckpt, default="unet")
    with pytest.raises(memwarden.InvalidInput, match="itemsize value"):
        _native.predict_load(ckpt, itemsize={"vae": 99})


# -- loads: refused before they allocate ------------------------------------------------


def test_a_load_that_cannot_fit_under_the_binding_limit_is_refused_with_its_figures(tmp_path: Path) -> None:
    """Under this machine's own binding limit (its cgroup's or its RAM), a file
    predicted at more than the limit is refused before a byte is read."""
    limit = _native.HeadroomWatch().read().limit_bytes
    n = limit // 4 + GIB  # F32 elements: more bytes than the limit
    huge = safetensors(tmp_path / "huge.safetensors", {"model.diffusion_model.w": ("F32", [n])})
    g = guard.Guard(guard.GuardSettings(reserve="256M", history_file=str(tmp_path / "h.jsonl")))
    with pytest.raises(memwarden.HeadroomRefused) as e:
        g.check_load(str(huge), "loading huge.safetensors", "diffusion")
    assert e.value.kind == "headroom_refused" and e.value.exit_code == 9
    r = e.value.refusal
    assert (r.cause, r.needed_bytes, r.margin_bytes, r.limit_bytes) == ("headroom", n * 4, 256 * MIB, limit)
    assert r.free_bytes <= limit
    text = str(e.value)
    assert text.startswith("memwarden refused loading huge.safetensors: it needs "), text
    assert "the reserve passed to memwarden.guard.start(reserve=...)" in text, "named as this host names it"
    # A file that fits goes ahead, with its prediction.
    small = safetensors(tmp_path / "small.safetensors", {"w": ("F16", [1000])}, write_data=True)
    assert g.check_load(str(small), "loading small.safetensors").bytes == 2000
    # The refusal is in the history, with its figures.
    lines = [json.loads(x) for x in (tmp_path / "h.jsonl").read_text().splitlines()]
    assert [(a["trigger"], a["mode"]) for a in lines] == [("load", "refuse")]
    assert "it needs" in lines[0]["reason"]


def test_the_hook_path_can_veto_a_load_and_only_a_load(tmp_path: Path) -> None:
    refusal = _native.Refusal.from_dict(
        {
            "cause": "headroom",
            "what": "loading x",
            "needed_bytes": 2 * GIB,
            "free_bytes": GIB,
            "margin_bytes": 0,
            "limit_bytes": 4 * GIB,
            "limit_set_at": "memory.max of /g (cgroup v2)",
        }
    )
    seen: list[str] = []

    def refuse(ev: hooks.ExecutionEvent) -> None:
        seen.append(ev.kind)
        raise _native.headroom_refused(refusal, "the knob")

    def buggy(ev: hooks.ExecutionEvent) -> None:
        raise ValueError("a subscriber's bug")

    off = [hooks.subscribe(refuse), hooks.subscribe(buggy)]
    try:
        ev = hooks.ExecutionEvent("model_load", "p", time.monotonic(), path="/m.safetensors")
        with pytest.raises(memwarden.HeadroomRefused, match="the knob") as e:
            hooks.emit(ev, veto=True)
        assert e.value.refusal == refusal
        # Not a vetoable event: logged, never raised to ComfyUI.
        hooks.emit(hooks.ExecutionEvent("node_end", "p", time.monotonic()))
        assert seen == ["model_load", "node_end"]
    finally:
        for unsubscribe in off:
            unsubscribe()


# -- giving back: a real neighbour in a real memory cgroup -----------------------------------

GUARDED = """
import json, sys, time
import memwarden.guard as g
held = {"buf": bytearray(int(sys.argv[1]) << 20)}
for i in range(0, len(held["buf"]), 4096):
    held["buf"][i] = 1
host = g.PlainHost()
def release():
    held.pop("buf", None)
    released_at.append(time.monotonic_ns())
released_at = []
host.register("buffer", lambda: len(held.get("buf", b"")), release)
g.start(host=host, reserve=sys.argv[2], history_file=sys.argv[3])
print(json.dumps({"ready": True, "watching": g.status().watching}), flush=True)
sys.stdin.readline()
print(json.dumps({"released_at": released_at, "status": g.status().text}), flush=True)
g.stop()
"""


def test_a_giveback_is_recorded_and_judged_by_the_core() -> None:
    # Freed from 1 MiB of headroom gained (less is the usage moving between two
    # reads); a failed step makes it failed whatever it gained.
    def reading(free: int) -> _native.Headroom:
        d = {"kind": "cgroup_max", "set_at": "memory.max of /g", "limit_bytes": 1 << 30}
        return _native.Headroom.from_dict({**d, "used_bytes": (1 << 30) - free, "headroom_bytes": free, "at_ns": 0})

    wake = _native.HeadroomWake.from_dict(
        {
            "reason": "crossed",
            "reading": reading(100 * MIB).to_dict(),
            "reserve_bytes": 128 * MIB,
            "crossed_at_ns": 1_000_000,
            "woken_by": "paced read",
        }
    )
    plan = _native.GivebackPlan.from_dict({"shortfall_bytes": 28 * MIB, "steps": [], "reason": "fell below"})
    step = {"name": "Trim heap", "ok": True, "skipped": False, "detail": "done", "freed_bytes": 1, "duration_ms": 1.0}

    def action(gained: int, ok: bool = True) -> _native.ManagerAction:
        after = reading(100 * MIB + gained)
        return _native.giveback_action(5, wake, plan, after, [{**step, "ok": ok}], 3_000_000, 2.0)

    assert action(MIB).outcome == "freed"
    assert action(MIB - 1).outcome == "nothing_freed"
    assert action(-MIB).outcome == "nothing_freed"
    failed = action(100 * MIB, ok=False)
    assert (failed.outcome, failed.error, failed.freed_bytes) == ("failed", "Trim heap: done", 100 * MIB)
    assert failed.reason.startswith("fell below (woken by paced read); headroom now 200.00 MiB free"), failed
    assert (failed.trigger, failed.mode, failed.latency_ms, failed.duration_ms) == ("headroom", "giveback", 2.0, 2.0)


def _oom_kills(group: Path) -> int:
    for line in (group / "memory.oom_control").read_text().splitlines():
        if line.startswith("oom_kill "):
            return int(line.split()[1])
    return 0


def test_the_guard_gives_back_what_it_holds_when_a_neighbour_takes_the_groups_memory(
    memory_group: Any, tmp_path: Path
) -> None:
    if memory_group.version != 1:
        pytest.skip("this test limits a cgroup v1 group (v2 is tested in the VM: tests/vm)")
    g = memory_group.path
    (g / "memory.limit_in_bytes").write_text(str(1536 * MIB))
    memsw = g / "memory.memsw.limit_in_bytes"
    if memsw.exists():
        memsw.write_text(str(1536 * MIB))
    hist = tmp_path / "history.jsonl"
    cmd = ["sh", "-c", f'echo $$ > {g}/cgroup.procs && exec "$0" "$@"', sys.executable, "-c", GUARDED]
    proc = subprocess.Popen([*cmd, "600", "256M", str(hist)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdin is not None
    try:
        ready = json.loads(proc.stdout.readline())
        assert str(g) in ready["watching"], ready
        # The neighbour: 1000 MiB more does not fit beside the 600 MiB held.
        neighbour = Child(1000, cgroup=g)
        neighbour.proc.stdin.write("check\n")  # type: ignore[union-attr]
        neighbour.proc.stdin.flush()  # type: ignore[union-attr]
        assert neighbour.proc.stdout.readline().strip() == "ok"  # type: ignore[union-attr]
        until(lambda: hist.exists() and "headroom" in hist.read_text(), "the guard's give-back in its history")
        proc.stdin.write("done\n")
        proc.stdin.flush()
        out = json.loads(proc.stdout.readline())
        assert proc.wait(30) == 0, "the guarded process lived"
        neighbour.proc.stdin.close()  # type: ignore[union-attr]
        assert neighbour.proc.wait(30) == 0, "the neighbour lived"
    finally:
        if proc.poll() is None:
            proc.kill()
    assert _oom_kills(g) == 0
    assert len(out["released_at"]) == 1, out
    actions = [json.loads(x) for x in hist.read_text().splitlines()]
    give = [a for a in actions if a["trigger"] == "headroom"]
    assert give and give[0]["outcome"] == "freed", give
    step = give[0]["steps"][0]
    assert (step["name"], step["detail"]) == ("Release cached models", "released buffer")
    assert step["freed_bytes"] == 600 * MIB
    assert give[0]["latency_ms"] is not None and give[0]["latency_ms"] >= 0
    assert "fell below the reserve 256.00 MiB" in give[0]["reason"]


# -- ComfyUI's caches, both generations ------------------------------------------------------


class _Patcher:
    def __init__(self, size: int, device: str = "cpu", loaded: int = 0) -> None:
        self.model = object()
        self.size = size
        self.load_device = types.SimpleNamespace(type=device)
        self.loaded = loaded

    def model_size(self) -> int:
        return self.size

    def loaded_size(self) -> int:
        return self.loaded


def _executor(cache: Any) -> Any:
    return types.SimpleNamespace(caches=types.SimpleNamespace(outputs=cache), reset=lambda: None)


def test_cached_models_in_the_classic_cache_of_0_3_6x_all_go_between_prompts() -> None:
    unet = _Patcher(3 * GIB)
    clip = types.SimpleNamespace(patcher=_Patcher(GIB // 2))
    vae = types.SimpleNamespace(patcher=_Patcher(GIB // 4))
    cache = types.SimpleNamespace(
        cache={"ckpt": [[unet], [clip], [vae]], "latent": [[object()]]},
        subcaches={},
    )
    found = host.cached_models(_executor(cache))
    assert [(m.key, m.bytes, m.active) for m in found] == [("ckpt", 3 * GIB + GIB // 2 + GIB // 4, True)]
    host._drop(found[0])
    assert list(cache.cache) == ["latent"]


def test_in_0_28s_ram_pressure_cache_a_running_prompt_keeps_its_own_models() -> None:
    entry = types.SimpleNamespace  # CacheEntry(ui, outputs)
    old = _Patcher(2 * GIB)
    mine = _Patcher(GIB)
    on_gpu = _Patcher(GIB, device="cuda", loaded=GIB)
    cache = types.SimpleNamespace(
        cache={
            "old": entry(ui={}, outputs=[[old]]),
            "mine": entry(ui={}, outputs=[[mine]]),
            "gpu": entry(ui={}, outputs=[[on_gpu]]),
        },
        used_generation={"old": 3, "mine": 4, "gpu": 3},
        timestamps={"old": 1.0, "mine": 2.0, "gpu": 1.5},
        children={},
        generation=4,
        subcaches={},
    )
    found = host.cached_models(_executor(cache))
    # A model loaded on the GPU takes no RAM; the earlier prompt's model is inactive.
    assert [(m.key, m.bytes, m.active) for m in found] == [("old", 2 * GIB, False), ("mine", GIB, True)]
    host._drop(found[0])
    assert "old" not in cache.cache and "old" not in cache.used_generation and "old" not in cache.timestamps


def test_safe_points_run_between_prompts_at_once_and_during_one_at_the_next_node_end() -> None:
    sp = host.SafePoints()
    sp.installed = True
    sp.install = lambda: True  # type: ignore[method-assign]
    off = hooks.subscribe(sp._on_event)
    try:
        ran: list[int] = []
        done, result = sp.call(lambda: ran.append(threading.get_ident()) or "now", 1.0)
        assert (done, result, ran) == (True, "now", [threading.get_ident()])
        # During a prompt (another thread holds the gate): queued until a node ends.
        hooks._gate.acquire()
        try:
            box: dict[str, Any] = {}
            t = threading.Thread(target=lambda: box.update(r=sp.call(lambda: "later", 10.0)))
            t.start()
            until(lambda: len(sp.pending) == 1, "the call queued")
            assert "r" not in box
            hooks.emit(hooks.ExecutionEvent("node_end", "p", time.monotonic(), "1", "KSampler", True))
            t.join(5)
            assert box["r"] == (True, "later")
        finally:
            hooks._gate.release()
    finally:
        off()


def test_comfyuis_ram_figures_see_the_binding_limit_and_nothing_else_changes() -> None:
    svmem = __import__("collections").namedtuple("svmem", "total available percent used free")
    real = types.SimpleNamespace(
        virtual_memory=lambda: svmem(64 * GIB, 60 * GIB, 6.2, 4 * GIB, 50 * GIB),
        swap_memory=lambda: "host swap",
    )
    figures = {"set_at": "memory.max of /g", "limit_bytes": 8 * GIB, "used_bytes": 5 * GIB, "at_ns": 0}
    reading = _native.Headroom.from_dict({"kind": "cgroup_max", "headroom_bytes": 3 * GIB, **figures})
    view = host._PsutilView(real, lambda: reading)
    vm = view.virtual_memory()
    assert (vm.total, vm.available, vm.used, vm.free, vm.percent) == (8 * GIB, 3 * GIB, 5 * GIB, 3 * GIB, 62.5)
    assert view.swap_memory() == "host swap"
    # Host-bound or unreadable: psutil's own figures.
    reading = _native.Headroom.from_dict({"kind": "host", "headroom_bytes": 3 * GIB, **figures})
    assert view.virtual_memory().total == 64 * GIB
    broken = host._PsutilView(real, lambda: (_ for _ in ()).throw(OSError("gone")))
    assert broken.virtual_memory().total == 64 * GIB


def test_bad_guard_settings_change_nothing(tmp_path: Path) -> None:
    before = guard.current()
    with pytest.raises(memwarden.InvalidInput, match="unknown guard setting"):
        guard.start(reservee="1G")
    with pytest.raises(memwarden.InvalidInput, match="reserve"):
        guard.start(reserve="lots", history_file=str(tmp_path / "h"))
    with pytest.raises(memwarden.InvalidInput, match="pageout"):
        guard.start(pageout="yes", history_file=str(tmp_path / "h"))
    assert guard.current() is before
    with pytest.raises(memwarden.InvalidInput):
        _native.plan_load("x", -1, _native.HeadroomWatch().read(), 0, 0)


def test_the_guard_reports_its_watch_and_stops(tmp_path: Path) -> None:
    st = guard.start(reserve="300M", history_file=str(tmp_path / "h.jsonl"))
    try:
        assert st.running and st.reserve_bytes == 300 * MIB
        assert st.reading is not None and st.reading.headroom_bytes > 0
        assert "memwarden headroom guard: on" in st.text and "300.00 MiB kept free" in st.text
        assert "reads paced for" in st.watching
    finally:
        assert guard.stop()
    assert not guard.stop()
    assert not guard.status().running


@pytest.mark.skipif(sys.platform != "linux", reason="/proc/self/status")
def test_the_headroom_command_and_the_api_agree() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "memwarden", "headroom", "--json"], capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr
    cli = json.loads(out.stdout)
    api = _native.HeadroomWatch().read()
    assert cli["reading"]["kind"] == api.kind and cli["reading"]["limit_bytes"] == api.limit_bytes
    assert os.path.exists("/proc/self/status")


def test_the_guard_starts_in_comfyui_unless_a_setting_or_the_environment_turns_it_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("MEMWARDEN_GUARD", raising=False)
    monkeypatch.delenv("MEMWARDEN_COMFY_RAM_FIGURES", raising=False)
    assert _native.guard_start(None) == (True, None, True, None)
    text = json.dumps({"Comfy.Locale": "en", "memwarden.Guard.ReserveMB": 1024, "memwarden.Guard.Enabled": True})
    assert _native.guard_start(text) == (True, 1 << 30, True, None)
    # the caller's reserve (the settings dialog's, 0: the default) wins over the file's
    assert _native.guard_start(text, asked=True, reserve_mb=0) == (True, None, True, None)
    off = json.dumps({"memwarden.Guard.Enabled": False, "memwarden.Guard.ContainerRamFigures": False})
    assert _native.guard_start(off) == (False, None, False, None)
    assert _native.guard_start(off, asked=True) == (True, None, False, None)
    monkeypatch.setenv("MEMWARDEN_GUARD", " Off ")
    monkeypatch.setenv("MEMWARDEN_COMFY_RAM_FIGURES", "0")
    assert _native.guard_start(text) == (False, 1 << 30, False, None)
    # a settings file ComfyUI could not have written: the defaults, and why
    monkeypatch.delenv("MEMWARDEN_GUARD")
    on, reserve, _, problem = _native.guard_start("{broken")
    assert (on, reserve) == (True, None)
    assert problem is not None and problem.startswith("not valid JSON")
    said = _native.guard_started("cgroup v1", "hooked", "prompt worker", problem)
    assert said.startswith("headroom guard on (cgroup v1); loads: hooked; safe points: prompt worker; ")
    assert "settings file not read (not valid JSON" in said
    assert _native.guard_off() == "headroom guard off (setting memwarden.Guard.Enabled or MEMWARDEN_GUARD=0)"
