"""Crash prevention in a real ComfyUI inside a memory-limited cgroup (v1), as root.

    COMFYUI_DIR=/path/to/ComfyUI COMFYUI_PYTHON=... python tests/e2e/crash_e2e.py \\
        [--modes rw,ro,user] [--rate 0] [--json OUT]

For each privilege mode ComfyUI runs in its own memory cgroup v1 group, with the
pack linked into custom_nodes/ and no memwarden node in any workflow (the
headroom guard is on by default):

- ``rw``: as root, the cgroup filesystem writable (the guard may register a v1
  usage threshold);
- ``ro``: as root in a mount namespace where /sys/fs/cgroup/memory is mounted
  read-only (what Docker and Kubernetes give a container);
- ``user``: as an ordinary user (nobody), the cgroup files readable only.

In each mode, in one ComfyUI:

1. **A prompt that cannot fit.** The group's limit is 4 GiB; a prompt loads a
   full-size SD1.5 checkpoint (2.1 GB fp16, 3.8 GiB in RAM at fp32 on the CPU,
   tests/e2e/sd_checkpoint.py). The guard refuses it before it allocates: the prompt
   fails with the figures (HeadroomRefused), under 5 % of the model is allocated,
   nothing is OOM-killed, and the next prompt that fits succeeds.
2. **The limit raised at run time** to 7 GiB: the guard sees it (its log).
3. **A neighbour needs memory.** The checkpoint is loaded and stays cached; another
   process in the group (tests' ``neighbour`` example) takes 3 GiB at ``--rate``
   MiB/s (0: as fast as it can touch pages). The guard gives back the cached model:
   nothing is OOM-killed, both processes live, the history says what was given back
   and when; after the neighbour leaves, the model loads again and a prompt runs.

Needs root, cgroup v1's memory hierarchy at /sys/fs/cgroup/memory, util-linux's
unshare and setpriv; without them it prints ``SKIPPED: <why>`` and exits 0. The
neighbour binary comes from MEMWARDEN_NEIGHBOUR (scripts/e2e builds it). The last
line is the summary, ending in " 0 failed" when everything passed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import comfyui_e2e as e2e  # the shared harness beside this file

REPO = e2e.REPO
V1 = Path("/sys/fs/cgroup/memory")
GIB = 1 << 30
MIB = 1 << 20
CKPT = "sd15-fp16.safetensors"
NOBODY = 65534


def skip(why: str) -> int:
    print(f"SKIPPED: tests/e2e/crash_e2e.py: {why}")
    return 0


def preflight() -> str | None:
    if os.geteuid() != 0:
        return "needs root (it makes memory cgroups and runs ComfyUI as another user)"
    if not (V1 / "memory.limit_in_bytes").exists() and not any(V1.glob("*/memory.limit_in_bytes")):
        return f"no cgroup v1 memory hierarchy at {V1} (the cgroup v2 watch is tested in the VM)"
    for tool in ("unshare", "setpriv"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (util-linux)"
    if not Path(os.environ.get("MEMWARDEN_NEIGHBOUR", "")).is_file():
        return "MEMWARDEN_NEIGHBOUR does not name the neighbour binary (scripts/e2e builds it)"
    return None


class Group:
    """A cgroup v1 memory group made for one mode, removed after."""

    def __init__(self, name: str) -> None:
        self.dir = V1 / name
        self.dir.mkdir()

    def set_limit(self, nbytes: int) -> None:
        # memory+swap first when lowering... the order the kernel accepts: memsw >= memory.
        memsw = self.dir / "memory.memsw.limit_in_bytes"
        cur = int((self.dir / "memory.limit_in_bytes").read_text())
        if memsw.exists() and nbytes > cur:
            memsw.write_text(str(nbytes))
        (self.dir / "memory.limit_in_bytes").write_text(str(nbytes))
        if memsw.exists():
            memsw.write_text(str(nbytes))  # no swap for the group: a full group OOMs

    def oom_kills(self) -> int:
        m = re.search(r"^oom_kill (\d+)", (self.dir / "memory.oom_control").read_text(), re.M)
        return int(m.group(1)) if m else 0

    def usage(self) -> int:
        return int((self.dir / "memory.usage_in_bytes").read_text())

    def stat(self) -> dict[str, int]:
        """The group's memory.stat, by name."""
        lines = (self.dir / "memory.stat").read_text().splitlines()
        return {k: int(v) for k, v in (line.split() for line in lines)}

    def enter(self, mode: str, argv: list[str]) -> list[str]:
        """``argv`` run in this group, in ``mode``."""
        join = f"echo $$ > {self.dir}/cgroup.procs"
        if mode == "ro":
            remount = f"mount --bind {V1} {V1} && mount -o remount,bind,ro {V1}"
            return [
                "unshare",
                "-m",
                "--propagation",
                "private",
                "sh",
                "-c",
                f'{join} && {remount} && exec "$@"',
                "sh",
                *argv,
            ]
        if mode == "user":
            drop = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--inh-caps=-all"]
            return ["sh", "-c", f'{join} && exec "$@"', "sh", *drop, *argv]
        return ["sh", "-c", f'{join} && exec "$@"', "sh", *argv]

    def remove(self) -> None:
        for _ in range(300):
            procs = (self.dir / "cgroup.procs").read_text().split()
            if not procs:
                break
            time.sleep(0.1)
        try:
            self.dir.rmdir()
        except OSError as e:
            left = (self.dir / "cgroup.procs").read_text().split()
            print(f"  info could not remove {self.dir}: {e} (processes left: {left})")


def ckpt_prompt(name: str) -> dict[str, Any]:
    """Load the checkpoint, encode a prompt, one sampling step on a 64x64 latent."""
    return {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": name}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "a lighthouse", "clip": ["1", 1]}},
        "3": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "4": {
            "class_type": "KSampler",
            "inputs": {
                "model": ["1", 0],
                "positive": ["2", 0],
                "negative": ["2", 0],
                "latent_image": ["3", 0],
                "seed": 1,
                "steps": 1,
                "cfg": 1.0,
                "sampler_name": "euler",
                "scheduler": "normal",
                "denoise": 1.0,
            },
        },
        "5": {"class_type": "VAEDecode", "inputs": {"samples": ["4", 0], "vae": ["1", 2]}},
        "6": {"class_type": "PreviewImage", "inputs": {"images": ["5", 0]}},
    }


def small_prompt(seed: int) -> dict[str, Any]:
    """A prompt that fits anywhere (a new colour each time: never cached)."""
    return {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": seed}},
        "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}},
    }


def run_prompt(api: e2e.Comfy, prompt: dict[str, Any], timeout: float = 600) -> dict[str, Any]:
    """Submit and wait; the /history entry whether it succeeded or failed."""
    code, body = api.post("/prompt", {"prompt": prompt, "client_id": "memwarden-crash"})
    if code != 200:
        raise e2e.Failed(f"/prompt refused: {code} {json.dumps(body)[:1500]}")
    pid = body["prompt_id"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            hist = api.get(f"/history/{pid}")
        except OSError as e:
            raise e2e.Failed(f"ComfyUI stopped answering: {e}") from e
        if pid in hist and hist[pid].get("status", {}).get("completed") is not None:
            return dict(hist[pid])
        time.sleep(0.2)
    raise e2e.Failed(f"prompt {pid} did not finish in {timeout} s")


def messages(entry: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [m[1] for m in entry.get("status", {}).get("messages", []) if m[0] == kind]


def outcome(entry: dict[str, Any]) -> str:
    """``success``, or the error ComfyUI reported."""
    if entry["status"].get("status_str") == "success":
        return "success"
    errors = messages(entry, "execution_error")
    if errors:
        return f"{errors[0].get('exception_type')}: {str(errors[0].get('exception_message'))[:400]}"
    return json.dumps(entry["status"])[:400]


def status_of(pid: int) -> dict[str, int]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        k, _, v = line.partition(":")
        if k in ("RssAnon", "VmRSS"):
            out[k] = int(v.split()[0]) * 1024
    return out


def history(out_dir: Path) -> list[dict[str, Any]]:
    path = out_dir / "user" / "memwarden" / "history.jsonl"
    try:
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    except OSError:
        return []


class Mode:
    """One ComfyUI in one group and privilege mode."""

    def __init__(self, mode: str, comfy_dir: Path, python: str, models: Path) -> None:
        self.mode = mode
        self.comfy_dir = comfy_dir
        self.python = python
        self.group = Group(f"memwarden-crash-{os.getpid()}-{mode}")
        self.out = Path(tempfile.mkdtemp(prefix=f"memwarden-crash-{mode}-"))
        self.models = models
        self.server: subprocess.Popen[bytes] | None = None
        self.api: e2e.Comfy | None = None
        self.results: dict[str, Any] = {"mode": mode}

    def start(self) -> e2e.Comfy:
        (self.out / "extra_model_paths.yaml").write_text(
            f"memwarden_crash:\n  base_path: {json.dumps(str(self.models))}\n"
            "  checkpoints: .\n  vae: .\n  unet: .\n  diffusion_models: .\n"
        )
        port = e2e.free_port()
        cmd = e2e.comfy_command(self.python, self.comfy_dir, self.out, port)
        env = {**os.environ, "HOME": str(self.out), "PYTHONDONTWRITEBYTECODE": "1"}
        for sub in ("input", "output", "temp"):
            (self.out / sub).mkdir(exist_ok=True)
        if self.mode == "user":
            for p in [self.out, *self.out.rglob("*")]:
                os.chown(p, NOBODY, NOBODY)
        log = open(self.out / "comfyui.log", "w")
        self.server = subprocess.Popen(
            self.group.enter(self.mode, cmd),
            cwd=self.comfy_dir,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
        )
        if os.environ.get("MEMWARDEN_E2E_PIDFILE"):
            Path(os.environ["MEMWARDEN_E2E_PIDFILE"]).write_text(f"{self.server.pid}\n")
        self.api = e2e.Comfy(f"http://127.0.0.1:{port}", port, self.out / "comfyui.log")
        e2e.wait_for_object_info(self.api, self.server)
        return self.api

    def alive(self) -> bool:
        return self.server is not None and self.server.poll() is None

    def stop(self) -> None:
        if self.server is not None:
            e2e.stop(self.server)
        self.group.remove()


def guard_line(api: e2e.Comfy) -> str:
    m = re.search(r"\[memwarden\] headroom guard on: .*", api.log())
    return m.group(0) if m else ""


def check_started(m: Mode, api: e2e.Comfy) -> None:
    line = guard_line(api)
    e2e.check(bool(line), f"[{m.mode}] the headroom guard started with the pack, no node needed")
    e2e.check(str(m.group.dir) in line, f"[{m.mode}] it watches the group's limit: {line[:200]}")
    expect = {
        "rw": "an eventfd threshold on",
        "ro": "read-only",
        "user": "only root may write it",
    }[m.mode]
    e2e.check(expect in line, f"[{m.mode}] kernel events as this mode allows ({expect!r})")


def cannot_fit(m: Mode, api: e2e.Comfy) -> None:
    """At 4 GiB the checkpoint is refused before it allocates; the next prompt runs."""
    assert m.server is not None
    before = status_of(m.server.pid)
    t0 = time.monotonic()
    entry = run_prompt(api, ckpt_prompt(CKPT))
    wall = time.monotonic() - t0
    after = status_of(m.server.pid)
    errors = messages(entry, "execution_error")
    e2e.check(entry["status"].get("status_str") == "error" and bool(errors), f"[{m.mode}] the prompt failed")
    err = errors[0] if errors else {}
    e2e.check("HeadroomRefused" in str(err.get("exception_type")), f"[{m.mode}] refused: {err.get('exception_type')}")
    text = str(err.get("exception_message", ""))
    e2e.check(
        "memwarden refused loading sd15-fp16.safetensors (CheckpointLoaderSimple): it needs" in text
        and "under the 4.00 GiB limit" in text,
        f"[{m.mode}] the message names what it needs, what is free and the limit: {text[:300]}",
    )
    grew = after["RssAnon"] - before["RssAnon"]
    model = 3.7 * GIB
    e2e.check(grew < 0.05 * model, f"[{m.mode}] {grew / MIB:.0f} MiB allocated: under 5 % of the model")
    e2e.check(m.alive() and m.group.oom_kills() == 0, f"[{m.mode}] ComfyUI alive, no OOM kill")
    start = messages(entry, "execution_start")
    took = (err.get("timestamp", 0) - start[0].get("timestamp", 0)) if start and err else None
    nxt = run_prompt(api, small_prompt(0x123456))
    e2e.check(nxt["status"].get("status_str") == "success", f"[{m.mode}] the next prompt that fits succeeds")
    m.results["cannot_fit"] = {"refused_ms": took, "prompt_wall_s": round(wall, 3), "allocated_mib": grew / MIB}
    e2e.info(f"[{m.mode}] refused {took} ms after the prompt started; {grew / MIB:.0f} MiB allocated")


def limit_raised(m: Mode, api: e2e.Comfy) -> None:
    m.group.set_limit(7 * GIB)
    deadline = time.monotonic() + 10
    seen = False
    while time.monotonic() < deadline and not seen:
        seen = (
            "headroom guard: the limit changed" in api.log()
            and "7.00 GiB" in api.log().split("headroom guard: the limit changed")[-1][:400]
        )
        time.sleep(0.1)
    e2e.check(seen, f"[{m.mode}] the guard saw the limit raised to 7 GiB at run time")


def neighbour(m: Mode, api: e2e.Comfy, rate: float) -> None:
    """The model cached, a neighbour takes 3 GiB: the model is given back, both live."""
    assert m.server is not None
    first = outcome(run_prompt(api, ckpt_prompt(CKPT)))
    e2e.check(first == "success", f"[{m.mode}] the checkpoint prompt ran at 7 GiB ({first})")
    held = settled_anon(m.server.pid)
    cached = held > 2.5 * GIB
    if cached:
        e2e.info(f"[{m.mode}] ComfyUI holds {held / GIB:.2f} GiB anonymous with the model cached")
    else:
        e2e.info(
            f"[{m.mode}] ComfyUI holds {held / GIB:.2f} GiB: its own RAM-pressure cache, judging by the group's "
            "limit through memwarden's figures, already gave the model back after the prompt"
        )
    kills0 = m.group.oom_kills()
    actions0 = len(history(m.out))
    cmd = m.group.enter("rw", [os.environ["MEMWARDEN_NEIGHBOUR"], "3072", str(rate), "64"])
    nb = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        done = taken(nb)
        during = group_stat(m)  # while the neighbour holds its 3 GiB
        after = status_of(m.server.pid)["RssAnon"] if m.alive() else held
        e2e.check(bool(done) and nb.poll() is None, f"[{m.mode}] the neighbour got its 3 GiB and lives ({done})")
        e2e.check(m.alive(), f"[{m.mode}] ComfyUI lives")
        e2e.check(m.group.oom_kills() == kills0, f"[{m.mode}] no OOM kill in the group")
    finally:
        if nb.poll() is None and nb.stdin is not None:
            nb.stdin.write("exit\n")
            nb.stdin.flush()
        nb.wait(30)
    time.sleep(0.5)
    gave = [a for a in history(m.out)[actions0:] if a["trigger"] == "headroom"]
    steps = [s for a in gave for s in a["steps"]]
    released = [s for s in steps if s["name"] == "Release cached models" and (s["freed_bytes"] or 0) > 0]
    said = [(a["reason"], [(s["name"], s["detail"]) for s in a["steps"]]) for a in gave]
    if cached and not released and held - after > GIB:
        # Both live, no OOM kill, and ComfyUI's memory went down by more than a GiB
        # with no give-back: something else made the room first (ComfyUI letting go
        # of what it held, or pages it had freed lazily that the kernel took back).
        e2e.info(
            f"[{m.mode}] ComfyUI's anonymous memory went from {held / GIB:.2f} to {after / GIB:.2f} GiB "
            f"without a give-back: the room was made before the guard's line was crossed ({during})"
        )
    elif cached:
        e2e.check(bool(released), f"[{m.mode}] the guard gave back the cached model: {said} ({during})")
    failed = [a for a in gave if a["outcome"] == "failed"]
    e2e.check(not failed, f"[{m.mode}] no give-back failed: {[a.get('error') for a in failed]}")
    lat = [a["latency_ms"] for a in gave if a.get("latency_ms") is not None]
    m.results["neighbour"] = {
        "rate_mib_s": done.get("mib_per_s"),
        "comfy_anon_gib": held / GIB,
        "latency_ms": lat,
        "released_gib": sum(s["freed_bytes"] for s in released) / GIB,
        "cached_by_comfyui": cached,
    }
    e2e.info(f"[{m.mode}] neighbour at {done.get('mib_per_s')} MiB/s; give-back latency {lat} ms")
    again = outcome(run_prompt(api, ckpt_prompt(CKPT)))
    e2e.check(again == "success", f"[{m.mode}] after the neighbour left, the model loads again ({again})")


def settled_anon(pid: int, window_s: float = 1.0, limit_s: float = 10.0) -> int:
    """The process's anonymous RSS once it has moved less than 16 MiB over
    ``window_s`` (ComfyUI 0.28 collects garbage after it reports a prompt done)."""
    last = status_of(pid)["RssAnon"]
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        time.sleep(window_s)
        now = status_of(pid)["RssAnon"]
        if abs(now - last) < 16 * MIB:
            return now
        last = now
    return last


def group_stat(m: Mode) -> str:
    """The group's usage and its anonymous and inactive-file figures, for a report."""
    try:
        stat = m.group.stat()
        return (
            f"group: usage {m.group.usage() / GIB:.2f} GiB, rss {stat.get('total_rss', 0) / GIB:.2f} GiB, "
            f"inactive file {stat.get('total_inactive_file', 0) / GIB:.2f} GiB"
        )
    except (OSError, ValueError) as e:
        return f"group figures unreadable: {e}"


def taken(nb: subprocess.Popen[str]) -> dict[str, Any]:
    """The neighbour's closing line once it holds all it asked for; {} if it died."""
    assert nb.stdout is not None
    for line in nb.stdout:
        d = json.loads(line)
        if d.get("done"):
            return dict(d)
    return {}


def run_mode(m: Mode, rate: float) -> dict[str, Any]:
    """Every scenario in one ComfyUI started in ``m``'s mode; what was measured."""
    print(f"crash prevention, ComfyUI as {m.mode}: {m.group.dir}", flush=True)
    try:
        m.group.set_limit(4 * GIB)
        api = m.start()
        check_started(m, api)
        cannot_fit(m, api)
        limit_raised(m, api)
        neighbour(m, api, rate)
    except e2e.Failed:
        print(f"--- ComfyUI log (tail; all of it in {m.out}) ---")
        print((m.out / "comfyui.log").read_text(errors="replace")[-5000:])
    finally:
        m.stop()
        if not e2e.CHECKS["failed"]:
            shutil.rmtree(m.out, ignore_errors=True)
    return m.results


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--modes", default="rw,ro,user")
    ap.add_argument("--rate", type=float, default=0.0, help="neighbour MiB/s (0: as fast as it can)")
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    why = preflight()
    if why:
        return skip(why)
    comfy_dir = Path(os.environ["COMFYUI_DIR"]).resolve()
    python = os.environ.get("COMFYUI_PYTHON", sys.executable)
    models = REPO / "target" / "models"
    writer = [python, str(REPO / "tests" / "e2e" / "sd_checkpoint.py"), str(comfy_dir), str(models / CKPT)]
    made = subprocess.run(writer, capture_output=True, text=True, check=False)
    if made.returncode != 0:
        print(f"FAIL could not write the test checkpoint:\n{made.stdout}{made.stderr}")
        return 1
    link = comfy_dir / "custom_nodes" / e2e.LINK_NAME
    made_link = not link.exists()
    if made_link:
        link.symlink_to(REPO, target_is_directory=True)

    def terminate(signum: int, _frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminate)
    started = time.monotonic()
    try:
        results = [run_mode(Mode(mode, comfy_dir, python, models), a.rate) for mode in a.modes.split(",")]
    finally:
        if made_link and link.is_symlink():
            link.unlink()
    if a.json:
        a.json.write_text(json.dumps(results, indent=1))
    failed = e2e.CHECKS["failed"]
    print(f"crash e2e: {e2e.CHECKS['ok']} checks ok in {time.monotonic() - started:.0f} s; {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
