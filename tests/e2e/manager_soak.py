"""Soak of the background manager inside a real ComfyUI.

    COMFYUI_DIR=/path/to/ComfyUI python tests/e2e/manager_soak.py [--prompts 300] [--manager off]
        [--work 128x128x1] [--json OUT]

Starts ComfyUI on CPU (127.0.0.1, a free port, temporary user/output folders; the
harness of tests/e2e/comfyui_e2e.py), with this checkout linked into
custom_nodes/ and one more single-file node pack of its own (written there for the
run and removed after) that injects faults into the running manager. With the
manager on it:

1. runs the **Smart Memory Manager** node once (the manager starts, one per
   process), then sets ``min_freed_bytes=0`` through the Python API so the manager
   trims after every prompt instead of backing off (more actions to soak);
2. queues ``--prompts`` small CPU workflows one after another (EmptyImage of
   ``--work`` WIDTHxHEIGHTxBATCH, 128x128x1 by default, with a new colour each time,
   so nothing is served from the cache → ImageScale to 32x32 → ImageInvert →
   PreviewImage), reading ComfyUI's RSS after each one, with a 0.5 s pause after
   every 10th (a gap between prompts, as a user's queue has);
3. injects three faults along the way: a step that raises (the heap trim), NVML
   lost (the manager's memory reading raises Unsupported), and the manager's
   thread dying (SystemExit);
4. checks: the RSS series is flat (Theil-Sen slope over the second half, computed
   here), the manager is still running and reports the three faults and the
   restart (node output and the history file in ComfyUI's user directory), and its
   prompt-end actions ran.

The RSS check measures the manager, not the host: each prompt is deleted from
ComfyUI's history once read (ComfyUI keeps 10000 by design), and the default work is
small (a 192 KiB image) because ComfyUI's own caches hold a varying number of past
outputs (0.28's RAM-pressure cache releases old ones in bursts): with 512x512x4
images (12 MiB each) the series steps by tens of MiB either way, and a slope over
150 prompts means nothing. The benchmark (bench/manager_overhead.sh) passes
``--work 512x512x4``.

With ``--manager off`` it runs the same prompts without the manager (for the
overhead comparison in bench/manager_overhead.py) and checks nothing about it.
The last line is the summary, ending in " 0 failed" when everything passed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import comfyui_e2e as e2e  # the shared harness beside this file

FAULT_PACK = "memwarden_soak_faults.py"
FAULT_PACK_SOURCE = '''"""Written by memwarden's tests/e2e/manager_soak.py for one run; removed after."""
import sys

import memwarden.manager as mm
from memwarden import _native
from memwarden.comfy import hooks


def _once(owner, name, replacement):
    original = getattr(owner, name)

    def wrapper(*args, **kwargs):
        setattr(owner, name, original)
        return replacement(*args, **kwargs)

    setattr(owner, name, wrapper)


def _raise(exc):
    def fail(*_args, **_kwargs):
        raise exc

    return fail


class MemwardenSoakControl:
    FUNCTION = "run"
    CATEGORY = "memwarden/testing"
    OUTPUT_NODE = True
    RETURN_TYPES = ("STRING",)

    @classmethod
    def INPUT_TYPES(cls):
        actions = ["trim_every_prompt", "step_raises", "nvml_lost", "thread_dies"]
        return {"required": {"action": (actions,), "nonce": ("INT", {"default": 0, "min": 0, "max": 10**9})}}

    def run(self, action, nonce):
        m = mm.current()
        if m is None:
            raise RuntimeError("the manager is not running")
        if action == "trim_every_prompt":
            hooks.install()
            mm.start(min_freed_bytes=0, settle_s=0.2)
        elif action == "step_raises":
            failure = _raise(RuntimeError("injected by the soak: heap trim failed"))
            _once(sys.modules["memwarden.cleanup"], "trim_heap_detail", failure)
        elif action == "nvml_lost":
            _once(m, "snapshot", _raise(_native.Unsupported("NVML: GPU is lost (injected by the soak)")))
        elif action == "thread_dies":
            _once(m, "handle", _raise(SystemExit("injected by the soak: the manager thread dies")))
        return {"ui": {"text": [mm.status().text]}, "result": (mm.status().text,)}


NODE_CLASS_MAPPINGS = {"MemwardenSoakControl": MemwardenSoakControl}
'''


#: With the manager on, every 10th prompt is followed by this pause (longer than
#: the manager's settle time of 0.2 s), so that the trims between prompts do not depend on how fast the
#: machine runs them back to back.
PAUSE_S = 0.5


def smart_manager_prompt(enabled: bool = True) -> dict[str, Any]:
    inputs = {
        "enabled": enabled,
        "management_mode": "Balanced",
        "warning_threshold": 80.0,
        "critical_threshold": 92.0,
        "vram_warning_threshold": 85.0,
        "vram_critical_threshold": 95.0,
        "auto_escalate": True,
        "cooldown_seconds": 30.0,
        "allow_cache_drop": False,
        "history_entries": 20,
    }
    return {"1": {"class_type": "SmartMemoryManager", "inputs": inputs}}


def control_prompt(action: str, nonce: int) -> dict[str, Any]:
    return {"1": {"class_type": "MemwardenSoakControl", "inputs": {"action": action, "nonce": nonce}}}


def work_prompt(i: int, work: tuple[int, int, int]) -> dict[str, Any]:
    """Small CPU work, never served from the cache (a new colour each time)."""
    width, height, batch = work
    empty = {"width": width, "height": height, "batch_size": batch, "color": (i * 7919) % 0xFFFFFF}
    scale = {"image": ["1", 0], "upscale_method": "area", "width": 32, "height": 32, "crop": "disabled"}
    return {
        "1": {"class_type": "EmptyImage", "inputs": empty},
        "2": {"class_type": "ImageScale", "inputs": scale},
        "3": {"class_type": "ImageInvert", "inputs": {"image": ["2", 0]}},
        "4": {"class_type": "PreviewImage", "inputs": {"images": ["3", 0]}},
    }


def work_size(text: str) -> tuple[int, int, int]:
    """``--work``: WIDTHxHEIGHTxBATCH, e.g. 128x128x1."""
    parts = text.lower().split("x")
    if len(parts) != 3 or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise argparse.ArgumentTypeError(f"{text!r} is not WIDTHxHEIGHTxBATCH with three positive whole numbers")
    return int(parts[0]), int(parts[1]), int(parts[2])


def run_prompt(api: e2e.Comfy, prompt: dict[str, Any], timeout: float = 120) -> dict[str, Any]:
    """Submit and wait (polling /history every 20 ms) for a successful end."""
    code, body = api.post("/prompt", {"prompt": prompt, "client_id": "memwarden-soak"})
    if code != 200:
        raise e2e.Failed(f"/prompt refused the workflow: {code} {json.dumps(body)[:2000]}")
    pid = body["prompt_id"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        hist = api.get(f"/history/{pid}")
        status = hist.get(pid, {}).get("status", {})
        if status.get("completed") is not None:
            if status.get("status_str") != "success":
                raise e2e.Failed(f"prompt failed: {json.dumps(status)[:3000]}")
            # ComfyUI keeps up to 10000 prompts in its history by design (a few KiB
            # each): delete this one, so that the RSS series measures the manager and
            # not the host's history.
            api.post("/history", {"delete": [pid]})
            return dict(hist[pid])
        time.sleep(0.02)
    raise e2e.Failed(f"prompt {pid} did not finish in {timeout} s")


def exec_ms(entry: dict[str, Any]) -> float:
    """The prompt's execution time from ComfyUI's own status messages."""
    stamps = {name: msg.get("timestamp") for name, msg in entry["status"].get("messages", [])}
    start, end = stamps.get("execution_start"), stamps.get("execution_success")
    return float(end - start) if start is not None and end is not None else float("nan")


def proc_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise e2e.Failed(f"no VmRSS for {pid}")


def proc_cpu_s(pid: int) -> float:
    """utime + stime of ``pid`` (every thread), seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def theil_sen(ys: list[float]) -> float:
    """Median of the pairwise slopes (per sample): robust to the odd spike."""
    slopes = sorted((ys[j] - ys[i]) / (j - i) for i in range(len(ys)) for j in range(i + 1, len(ys)))
    return slopes[len(slopes) // 2] if slopes else 0.0


def manager_cpu_s(server_pid: int, status_text: str) -> float:
    """CPU time (utime + stime) of the manager's own threads, by the thread ids its
    status lists."""
    m = re.search(r"threads        : (.*)", status_text)
    total = 0.0
    for part in m.group(1).split(", ") if m else []:
        tid = part.split()[-1]
        stat = Path(f"/proc/{server_pid}/task/{tid}/stat")
        if stat.exists():
            fields = stat.read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def soak(api: e2e.Comfy, server_pid: int, n: int, mode: str, work: tuple[int, int, int]) -> dict[str, Any]:
    manager = mode == "on"
    faults_at = {n // 4: "step_raises", n // 2: "nvml_lost", 3 * n // 4: "thread_dies"}
    status0 = ""
    if mode != "off":
        e2e.info("Smart Memory Manager node started the manager")
        status0 = run_prompt(api, smart_manager_prompt())["outputs"]["1"]["text"][0]
    if manager:
        run_prompt(api, control_prompt("trim_every_prompt", 0))
    for k in range(3):  # warm-up: ComfyUI's first prompts import and allocate
        run_prompt(api, work_prompt(10_000_000 + k, work))
    if mode != "off":  # its threads are all up by now: their ids for the CPU figure
        status0 = run_prompt(api, smart_manager_prompt())["outputs"]["1"]["text"][0]
    rss, ms = [], []
    cpu0, t0 = proc_cpu_s(server_pid), time.monotonic()
    mgr0 = manager_cpu_s(server_pid, status0)
    for i in range(n):
        if manager and i in faults_at:
            run_prompt(api, control_prompt(faults_at[i], i))
        entry = run_prompt(api, work_prompt(i, work))
        ms.append(exec_ms(entry))
        rss.append(proc_rss(server_pid))
        if manager and i % 10 == 9:  # a pause now and then, as a user's queue has: a gap to trim in
            time.sleep(PAUSE_S)
        if i % 50 == 0:
            print(f"  prompt {i}: RSS {rss[-1] / 2**20:.1f} MiB, {ms[-1]:.0f} ms", flush=True)
    time.sleep(1.5)  # let the last prompt's manager action finish
    cpu = proc_cpu_s(server_pid) - cpu0
    wall = time.monotonic() - t0
    mgr_cpu = manager_cpu_s(server_pid, status0) - mgr0 if mode == "plain" else float("nan")
    half = rss[len(rss) // 2 :]
    ms_sorted = sorted(m for m in ms if not math.isnan(m))
    return {
        "prompts": n,
        "manager": mode,
        "work": "x".join(map(str, work)),
        "rss_first_mib": rss[0] / 2**20,
        "rss_last_mib": rss[-1] / 2**20,
        "rss_max_mib": max(rss) / 2**20,
        "rss_slope_kib_per_prompt_second_half": theil_sen([r / 1024 for r in half]),
        "rss_mib_every_25": [round(r / 2**20, 1) for r in rss[::25]],
        "exec_ms_median": ms_sorted[len(ms_sorted) // 2],
        "exec_ms_mean": sum(ms_sorted) / len(ms_sorted),
        "cpu_s": cpu,
        "wall_s": wall,
        "cpu_ms_per_prompt": cpu * 1e3 / n,
        "manager_threads_cpu_ms_per_prompt": mgr_cpu * 1e3 / n,
        "manager_threads_cpu_share_of_prompt_cpu": mgr_cpu / cpu if cpu else float("nan"),
    }


def check_manager(api: e2e.Comfy, user_dir: Path, n: int) -> None:
    entry = run_prompt(api, smart_manager_prompt())
    text = entry["outputs"]["1"]["text"][0]
    print("  " + "\n  ".join(text.splitlines()[:9]), flush=True)
    e2e.check(text.startswith("memwarden manager: running"), "the manager is still running after the faults")
    e2e.check("thread restarts 1" in text, "its thread died once and the supervisor restarted it")
    path = user_dir / "memwarden" / "history.jsonl"
    lines = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    errors = [a.get("error") or "" for a in lines if a["outcome"] == "failed"]
    e2e.check(any("injected by the soak: heap trim failed" in e for e in errors), "the failing step was recorded")
    e2e.check(any("NVML: GPU is lost (injected by the soak)" in e for e in errors), "NVML lost was recorded")
    e2e.check(any("manager thread restarted" in e for e in errors), "the restart was recorded")
    seen = re.search(r"prompt ends    : (\d+) seen, (\d+) handled with a later one", text)
    count = int(seen.group(1)) if seen else 0
    e2e.check(count >= n, f"every prompt end reached the manager ({count} for {n} prompts and the setup)")
    trims = [a for a in lines if a["trigger"] == "prompt_end" and a["outcome"] != "failed"]
    # Back-to-back prompts leave no gap between them: the manager trims only
    # where the next prompt has not started yet (never during a running node).
    e2e.check(len(trims) >= 10, f"prompt-end trims ran between prompts: {len(trims)} for {n} prompts")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--prompts", type=int, default=300)
    ap.add_argument(
        "--manager",
        choices=["on", "off", "plain"],
        default="on",
        help="plain: the manager as the Smart Memory Manager node starts it, no faults, no checks (benchmark)",
    )
    ap.add_argument(
        "--work",
        type=work_size,
        default=(128, 128, 1),
        metavar="WxHxB",
        help="the EmptyImage each prompt makes: width x height x batch (default 128x128x1)",
    )
    ap.add_argument("--json", type=Path, help="write the figures there")
    args = ap.parse_args()
    comfy_dir = Path(os.environ.get("COMFYUI_DIR", "")).expanduser().resolve()
    python = os.environ.get("COMFYUI_PYTHON", sys.executable)
    problem, made_link = e2e.preflight(comfy_dir, python)
    if problem:
        print(problem)
        return 2
    signal.signal(signal.SIGTERM, e2e._terminate)
    link = comfy_dir / "custom_nodes" / e2e.LINK_NAME
    pack = comfy_dir / "custom_nodes" / FAULT_PACK
    out_dir = Path(tempfile.mkdtemp(prefix="memwarden-soak-"))
    failed = 0
    try:
        if made_link:
            link.symlink_to(e2e.REPO, target_is_directory=True)
        pack.write_text(FAULT_PACK_SOURCE)
        figures = run_server(comfy_dir, python, out_dir, args)
        print(json.dumps(figures, indent=1), flush=True)
        if args.json:
            args.json.write_text(json.dumps(figures, indent=1) + "\n")
    except e2e.Failed as e:
        print(f"FAIL {e}")
        failed += 1
    finally:
        pack.unlink(missing_ok=True)
        if made_link and link.is_symlink():
            link.unlink()
        failed += e2e.CHECKS["failed"]
        if failed and (out_dir / "comfyui.log").exists():
            print(f"--- ComfyUI log (tail; kept in {out_dir}) ---\n{(out_dir / 'comfyui.log').read_text()[-6000:]}")
        else:
            shutil.rmtree(out_dir, ignore_errors=True)
    print(f"manager soak: {e2e.CHECKS['ok']} checks ok, {failed} failed")
    return 1 if failed else 0


def run_server(comfy_dir: Path, python: str, out_dir: Path, args: argparse.Namespace) -> dict[str, Any]:
    port = e2e.free_port()
    (out_dir / "input").mkdir()
    (out_dir / "extra_model_paths.yaml").write_text(f"memwarden_soak:\n  base_path: {json.dumps(str(out_dir))}\n")
    cmd = e2e.comfy_command(python, comfy_dir, out_dir, port)
    with open(out_dir / "comfyui.log", "w") as log:
        server = subprocess.Popen(cmd, cwd=comfy_dir, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            api = e2e.Comfy(f"http://127.0.0.1:{port}", port, out_dir / "comfyui.log")
            e2e.wait_for_object_info(api, server)
            figures = soak(api, server.pid, args.prompts, args.manager, args.work)
            if args.manager == "on":
                slope = figures["rss_slope_kib_per_prompt_second_half"]
                # Flat: growing less than 4 KiB per prompt over the second half (1.2 MiB
                # per 300 prompts; a leak of one 32x32 preview per prompt is 12 KiB).
                e2e.check(slope < 4.0, f"RSS flat: Theil-Sen slope {slope:.2f} KiB/prompt over the second half")
                check_manager(api, out_dir / "user", args.prompts)
            return figures
        finally:
            e2e.stop(server)


if __name__ == "__main__":
    sys.exit(main())
