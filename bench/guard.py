"""Benchmarks of the headroom guard, side by side with ComfyUI alone, in one run.

    sudo python bench/guard.py survival|cannot-fit|room|predict COMFYUI_DIR COMFYUI_PYTHON [--json OUT]
    sudo python bench/guard.py latency|idle [--json OUT]

Run with the Python that runs ComfyUI for the first four (ComfyUI trees and venvs
from scripts/comfyui-env; bench/guard.sh runs them all for both generations),
with .venv's for the last two. Every ComfyUI runs on the CPU in a cgroup v1 memory
group of its own (no swap for the group), the checkpoints are full-size SD1.5 with
random weights (tests/e2e/sd_checkpoint.py).

- ``survival``: ComfyUI idles with an SD1.5 checkpoint cached (3.8 GiB in RAM) in a
  7 GiB group; a neighbour process in the group takes 3 GiB at 100, 400, 2048 MiB/s
  and as fast as it can touch pages. ComfyUI alone, and with the pack in each
  privilege mode (root with the cgroup fs writable, read-only, an ordinary user):
  who was OOM-killed, what the guard gave back.
- ``cannot-fit``: a prompt loading the checkpoint at limits of 4 to 6 GiB: ComfyUI
  alone vs with the pack (refused: after how long, with how much allocated).
- ``room``: no limit, two checkpoints A then B, three rounds: RSS after each and
  prompt times, ComfyUI alone vs with the pack.
- ``predict``: each test model loaded by its loader node: the guard's prediction
  vs the peak of ComfyUI's anonymous RSS sampled every 2 ms during the load.
- ``latency``: 200 trials in a 1.5 GiB group: a guarded process holds 512 MiB its
  host may give back; a neighbour takes memory in 2 MiB steps at 1 GiB/s until the
  guard gives back; latency = from when the group's working set went past limit -
  reserve (sampled from outside every 0.5 ms) to when the give-back started (the
  release callback's own clock), and to when the 512 MiB were freed; with the kernel's usage threshold (root, the
  cgroup fs writable) and with paced reads only (an ordinary user).
- ``idle``: the guard idle for 120 s in a process with a cgroup limit: CPU of its
  thread and the RSS it added.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "e2e"))
import comfyui_e2e as e2e  # noqa: E402
import crash_e2e as crash  # noqa: E402

GIB = 1 << 30
MIB = 1 << 20
NEIGHBOUR = REPO / "target" / "release" / "examples" / "neighbour"
MODELS = REPO / "target" / "models"


def checkpoint(comfy_dir: Path, python: str, name: str, *args: str) -> Path:
    path = MODELS / name
    subprocess.run(
        [python, str(REPO / "tests" / "e2e" / "sd_checkpoint.py"), str(comfy_dir), str(path), *args],
        check=True,
        capture_output=True,
    )
    return path


class Pack:
    """The node pack linked into ComfyUI (or not: ComfyUI alone)."""

    def __init__(self, comfy_dir: Path, on: bool) -> None:
        self.link = comfy_dir / "custom_nodes" / e2e.LINK_NAME
        self.on = on

    def __enter__(self) -> Pack:
        if self.link.is_symlink():
            self.link.unlink()
        if self.on:
            self.link.symlink_to(REPO, target_is_directory=True)
        return self

    def __exit__(self, *_: object) -> None:
        if self.link.is_symlink():
            self.link.unlink()


def end(nb: subprocess.Popen[str]) -> None:
    """Let the neighbour go (it may have been killed already)."""
    try:
        if nb.poll() is None and nb.stdin is not None:
            nb.stdin.write("exit\n")
            nb.stdin.flush()
    except BrokenPipeError:
        pass
    nb.wait(30)


def comfy_in_group(comfy_dir: Path, python: str, mode: str, limit: int | None) -> crash.Mode:
    m = crash.Mode(mode, comfy_dir, python, MODELS)
    if limit is not None:
        m.group.set_limit(limit)
    m.start()
    return m


def survival(comfy_dir: Path, python: str) -> list[dict[str, Any]]:
    checkpoint(comfy_dir, python, crash.CKPT)
    rows = []
    for rate in (100, 400, 2048, 0):
        for who in ("alone", "rw", "ro", "user"):
            with Pack(comfy_dir, who != "alone"):
                m = comfy_in_group(comfy_dir, python, "rw" if who == "alone" else who, 7 * GIB)
                row: dict[str, Any] = {"rate_mib_s": rate or "fastest", "who": who}
                try:
                    assert m.api is not None and m.server is not None
                    ok = crash.outcome(crash.run_prompt(m.api, crash.ckpt_prompt(crash.CKPT)))
                    row["cached_gib"] = round(crash.status_of(m.server.pid)["RssAnon"] / GIB, 2)
                    row["first_prompt"] = ok
                    actions0 = len(crash.history(m.out))
                    nb = subprocess.Popen(
                        m.group.enter("rw", [str(NEIGHBOUR), "3072", str(rate), "64"]),
                        stdin=subprocess.PIPE,
                        stdout=subprocess.PIPE,
                        text=True,
                    )
                    done = crash.taken(nb)
                    time.sleep(1.0)
                    row["neighbour"] = "alive" if done and nb.poll() is None else f"killed ({nb.poll()})"
                    row["neighbour_mib_s"] = done.get("mib_per_s")
                    row["comfyui"] = "alive" if m.alive() else f"killed ({m.server.poll()})"
                    row["oom_kills"] = m.group.oom_kills()
                    gave = [a for a in crash.history(m.out)[actions0:] if a["trigger"] == "headroom"]
                    row["givebacks"] = len(gave)
                    row["latency_ms"] = [round(a["latency_ms"], 2) for a in gave if a.get("latency_ms") is not None]
                    end(nb)
                finally:
                    m.stop()
                print(json.dumps(row), flush=True)
                rows.append(row)
    return rows


def cannot_fit(comfy_dir: Path, python: str) -> list[dict[str, Any]]:
    checkpoint(comfy_dir, python, crash.CKPT)
    rows = []
    for limit_gib in (4.0, 4.5, 5.0, 6.0):
        for who in ("alone", "pack"):
            with Pack(comfy_dir, who == "pack"):
                m = comfy_in_group(comfy_dir, python, "rw", int(limit_gib * GIB))
                row: dict[str, Any] = {"limit_gib": limit_gib, "who": who}
                try:
                    assert m.api is not None and m.server is not None
                    before = crash.status_of(m.server.pid)["RssAnon"]
                    try:
                        entry = crash.run_prompt(m.api, crash.ckpt_prompt(crash.CKPT), timeout=300)
                        row["prompt"] = crash.outcome(entry)[:60]
                        start = crash.messages(entry, "execution_start")
                        err = crash.messages(entry, "execution_error")
                        if start and err:
                            row["refused_after_ms"] = err[0]["timestamp"] - start[0]["timestamp"]
                        if m.alive():
                            row["allocated_mib"] = round((crash.status_of(m.server.pid)["RssAnon"] - before) / MIB)
                    except e2e.Failed as e:
                        row["prompt"] = f"no answer: {str(e)[:60]}"
                    row["comfyui"] = "alive" if m.alive() else f"killed ({m.server.poll()})"
                    row["oom_kills"] = m.group.oom_kills()
                    if m.alive():
                        row["next_prompt"] = crash.outcome(crash.run_prompt(m.api, crash.small_prompt(0x777777)))
                finally:
                    m.stop()
                print(json.dumps(row), flush=True)
                rows.append(row)
    return rows


def room(comfy_dir: Path, python: str) -> list[dict[str, Any]]:
    a = checkpoint(comfy_dir, python, crash.CKPT)
    b = checkpoint(comfy_dir, python, "sd15-fp16-b.safetensors", "--seed", "2")
    rows = []
    for rnd in range(3):
        for who in ("alone", "pack") if rnd % 2 == 0 else ("pack", "alone"):
            with Pack(comfy_dir, who == "pack"):
                m = comfy_in_group(comfy_dir, python, "rw", None)
                try:
                    assert m.api is not None and m.server is not None
                    idle = crash.status_of(m.server.pid)["VmRSS"]
                    row: dict[str, Any] = {"round": rnd, "who": who}
                    for name in (a.name, b.name):
                        t0 = time.monotonic()
                        ok = crash.outcome(crash.run_prompt(m.api, crash.ckpt_prompt(name)))
                        row[f"{name}_s"] = round(time.monotonic() - t0, 2)
                        row[f"{name}_rss_above_idle_gib"] = round(
                            (crash.status_of(m.server.pid)["VmRSS"] - idle) / GIB, 3
                        )
                        row[f"{name}_ok"] = ok
                finally:
                    m.stop()
                print(json.dumps(row), flush=True)
                rows.append(row)
    return rows


class Sampler:
    """``read()`` every ``period_s`` on a thread of its own, each with its time."""

    def __init__(self, read: Any, period_s: float) -> None:
        self.samples: list[tuple[int, int]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(read, period_s))
        self.thread.start()

    def _run(self, read: Any, period_s: float) -> None:
        while not self.stop.is_set():
            try:
                self.samples.append((time.monotonic_ns(), int(read())))
            except OSError:
                return
            time.sleep(period_s)

    def done(self) -> list[tuple[int, int]]:
        self.stop.set()
        self.thread.join()
        return self.samples


def predict(comfy_dir: Path, python: str) -> list[dict[str, Any]]:
    def part(name: str, *args: str) -> Path:
        return checkpoint(comfy_dir, python, name, *args)

    models = [
        ("CheckpointLoaderSimple", "ckpt_name", part(crash.CKPT)),
        ("CheckpointLoaderSimple", "ckpt_name", part("sd15-fp32.safetensors", "--dtype", "fp32")),
        ("UNETLoader", "unet_name", part("sd15-unet-fp16.safetensors", "--part", "unet")),
        ("VAELoader", "vae_name", part("sd15-vae-fp32.safetensors", "--part", "vae", "--dtype", "fp32")),
    ]
    rows = []
    with Pack(comfy_dir, True):
        for node, field, path in models:
            m = crash.Mode("rw", comfy_dir, python, MODELS)
            try:
                m.start()
                assert m.api is not None and m.server is not None
                pid = m.server.pid
                idle = crash.status_of(pid)["RssAnon"]
                sampler = Sampler(lambda pid=pid: crash.status_of(pid)["RssAnon"], 0.002)
                inputs: dict[str, Any] = {field: path.name}
                if node == "UNETLoader":
                    inputs["weight_dtype"] = "default"
                prompt = {"1": {"class_type": node, "inputs": inputs}, **_consumer(node)}
                ok = crash.outcome(crash.run_prompt(m.api, prompt))
                peak = max([idle, *(v for _, v in sampler.done())])
                line = [x for x in m.api.log().splitlines() if f"loading {path.name}" in x and "predicted" in x]
                predicted = _bytes_of(line[0]) if line else None
                measured = peak - idle
                row = {
                    "model": path.name,
                    "node": node,
                    "file_gib": round(path.stat().st_size / GIB, 2),
                    "predicted_gib": round(predicted / GIB, 3) if predicted else None,
                    "measured_peak_gib": round(measured / GIB, 3),
                    "error_percent": round(100 * (predicted - measured) / measured, 1) if predicted else None,
                    "prompt": ok[:60],
                }
            finally:
                m.stop()
            print(json.dumps(row), flush=True)
            rows.append(row)
    return rows


def _consumer(node: str) -> dict[str, Any]:
    """A node that makes ComfyUI run the loader (it runs only what an output needs)."""
    latent = {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}}
    if node == "VAELoader":
        return {
            "2": latent,
            "3": {"class_type": "VAEDecode", "inputs": {"samples": ["2", 0], "vae": ["1", 0]}},
            "4": {"class_type": "PreviewImage", "inputs": {"images": ["3", 0]}},
        }
    # The model's output, through a memwarden node that passes anything through.
    return {"2": {"class_type": "MemoryMonitor", "inputs": {"anything": ["1", 0], "warning_threshold": 80.0,
                                                          "detailed_report": False, "top_processes": 0}}}  # fmt: skip


def _bytes_of(line: str) -> int:
    """The predicted figure of a guard's log line: ``predicted 3.74 GiB (...)``."""
    import re

    m = re.search(r"predicted ([\d.]+) (B|KiB|MiB|GiB)", line)
    assert m, line
    unit = {"B": 1, "KiB": 1 << 10, "MiB": MIB, "GiB": GIB}[m.group(2)]
    return int(float(m.group(1)) * unit)


LATENCY_GUARDED = """
import json, sys, time
import memwarden.guard as g
host = g.PlainHost()
state = {}
def fill():
    b = bytearray(512 << 20)
    for i in range(0, len(b), 4096):
        b[i] = 1
    state["buf"] = b
def release():
    started = time.monotonic_ns()
    state.pop("buf", None)
    print(json.dumps({"released_ns": started, "freed_ns": time.monotonic_ns()}), flush=True)
fill()
host.register("buffer", lambda: len(state.get("buf", b"")), release)
g.start(host=host, reserve="256M", history_file=sys.argv[1])
print(json.dumps({"ready": True, "watching": g.status().watching}), flush=True)
for line in sys.stdin:
    if line.strip() == "fill":
        fill()
        print(json.dumps({"filled": True}), flush=True)
"""


def latency(trials: int) -> list[dict[str, Any]]:
    rows = []
    for mode in ("rw", "user"):
        g = crash.Group(f"memwarden-bench-latency-{os.getpid()}-{mode}")
        try:
            limit = 1536 * MIB
            g.set_limit(limit)
            tmp = Path(tempfile.mkdtemp())
            os.chmod(tmp, 0o777)
            py = str(REPO / ".venv" / "bin" / "python")
            cmd = g.enter(mode, [py, "-c", LATENCY_GUARDED, str(tmp / "h.jsonl")])
            p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=tmp)
            assert p.stdout is not None and p.stdin is not None
            ready = json.loads(p.stdout.readline())
            reserve = 256 * MIB
            lat, own, woken, freed = [], [], [], []
            for _ in range(trials):
                time.sleep(0.3)
                sampler = Sampler(lambda group=g: _working_set(group), 0.0005)
                nb = subprocess.Popen(
                    g.enter("rw", [str(NEIGHBOUR), str(limit // MIB), "1024", "2"]),
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                )
                assert nb.stdout is not None and nb.stdin is not None
                said = json.loads(p.stdout.readline())
                released = said["released_ns"]
                samples = sampler.done()
                end(nb)
                # When the group's working set (usage less inactive file cache, the
                # guard's own measure) first went past limit - reserve, sampled here.
                crossing = next((t for t, ws in samples if ws > limit - reserve and t <= released), None)
                if crossing is not None:
                    lat.append((released - crossing) / 1e6)
                    freed.append((said["freed_ns"] - crossing) / 1e6)
                p.stdin.write("fill\n")
                p.stdin.flush()
                while "filled" not in json.loads(p.stdout.readline()):
                    pass
            hist = [json.loads(x) for x in (tmp / "h.jsonl").read_text().splitlines()]
            for a in hist:
                if a["trigger"] == "headroom" and a.get("latency_ms") is not None and a["steps"]:
                    if a["steps"][0]["name"] == "Release cached models" and (a["steps"][0]["freed_bytes"] or 0) > 0:
                        own.append(a["latency_ms"])
                        woken.append("kernel event" if "kernel event" in a["reason"] else "paced read")
            p.stdin.close()
            p.wait(30)
            q = statistics.quantiles(lat, n=100) if len(lat) > 2 else [float("nan")] * 99
            row = {
                "mode": mode,
                "watching": ready["watching"][:160],
                "trials": len(lat),
                "p50_ms": round(statistics.median(lat), 2),
                "p99_ms": round(q[98], 2),
                "max_ms": round(max(lat), 2),
                "freed_p50_ms": round(statistics.median(freed), 2),
                "freed_p99_ms": round(statistics.quantiles(freed, n=100)[98], 2) if len(freed) > 2 else None,
                "guard_own_estimate_p50_ms": round(statistics.median(own), 3) if own else None,
                "woken_by": {k: woken.count(k) for k in set(woken)},
            }
        finally:
            g.remove()
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


def _working_set(g: crash.Group) -> int:
    """The group's usage less its inactive file cache (the guard's own measure)."""
    return g.usage() - g.stat().get("total_inactive_file", 0)


IDLE = """
import json, os, sys, threading, time
import memwarden.guard as g
def anon():
    for l in open("/proc/self/status"):
        if l.startswith("VmRSS:"):
            return int(l.split()[1]) * 1024
before = anon()
g.start(reserve="256M", history_file=sys.argv[1])
time.sleep(1)
tid = g.current().thread.native_id
def cpu():
    f = open(f"/proc/self/task/{tid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
c0, t0 = cpu(), time.monotonic()
time.sleep(float(sys.argv[2]))
c1, t1 = cpu(), time.monotonic()
print(json.dumps({"cpu_percent_of_a_core": 100 * (c1 - c0) / (t1 - t0), "rss_added_mib": (anon() - before) / 2**20,
                  "watching": g.status().watching}))
"""


def idle(seconds: float) -> list[dict[str, Any]]:
    g = crash.Group(f"memwarden-bench-idle-{os.getpid()}")
    try:
        g.set_limit(7 * GIB)
        tmp = Path(tempfile.mkdtemp())
        py = str(REPO / ".venv" / "bin" / "python")
        out = subprocess.run(
            g.enter("rw", [py, "-c", IDLE, str(tmp / "h.jsonl"), str(seconds)]),
            capture_output=True,
            text=True,
            check=True,
        )
        row = json.loads(out.stdout.strip().splitlines()[-1])
        row["seconds"] = seconds
    finally:
        g.remove()
    print(json.dumps(row), flush=True)
    return [row]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("what", choices=["survival", "cannot-fit", "room", "predict", "latency", "idle"])
    ap.add_argument("comfy_dir", nargs="?", type=Path)
    ap.add_argument("python", nargs="?")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--trials", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=120.0)
    a = ap.parse_args()
    why = crash.preflight() if a.what not in ("latency", "idle") else None
    if os.geteuid() != 0:
        why = "needs root (memory cgroups)"
    if why:
        print(f"SKIPPED: bench/guard.py: {why}")
        return 0
    os.environ.setdefault("MEMWARDEN_NEIGHBOUR", str(NEIGHBOUR))
    if a.what in ("latency", "idle"):
        rows = latency(a.trials) if a.what == "latency" else idle(a.seconds)
    else:
        if a.comfy_dir is None or a.python is None:
            ap.error(f"{a.what} needs COMFYUI_DIR and COMFYUI_PYTHON")
        os.environ["COMFYUI_DIR"] = str(a.comfy_dir)
        fn = {"survival": survival, "cannot-fit": cannot_fit, "room": room, "predict": predict}[a.what]
        rows = fn(a.comfy_dir.resolve(), a.python)
    if a.json:
        a.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
