"""End-to-end test of the Memory Leak Detector in a real ComfyUI (CPU, 127.0.0.1).

    COMFYUI_DIR=/path/to/ComfyUI [COMFYUI_PYTHON=python] python tests/e2e/leak_e2e.py [--overhead]

Links this checkout (the memwarden node pack) and the test pack
tests/e2e/fixtures/leaky_node into ComfyUI's custom_nodes/, then, each time in a
fresh ComfyUI process with its own temporary user directory:

1. leak: a workflow whose MemwardenTestLeakyBuffer keeps 8 MB per execution, with the
   Memory Leak Detector (scheduled, tracemalloc on) after it, queued PROMPTS times
   through /prompt; the detector's figures are read from /history. It must flag a
   leak within PROMPTS prompts, name MemwardenTestLeakyBuffer as the only suspect and
   the fixture's allocation line as the top growing site.
2. control: the same with MemwardenTestBufferTwin (allocates the same 8 MB and lets it
   go): no alarm at any prompt, no suspect, no growing site.
3. with --overhead: a CPU image workload (EmptyImage, ImageBlur, ImageScaleBy, the
   twin) without and with the detector (per-node accounting on, tracemalloc off):
   ComfyUI's CPU time per prompt and its RSS after the run, side by side.

The last line ends in " 0 failed" when every check passed.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from comfyui_e2e import (  # the harness next to this file
    CHECKS,
    LINK_NAME,
    REPO,
    Comfy,
    Failed,
    _terminate,
    check,
    comfy_command,
    free_port,
    info,
    preflight,
    stop,
    wait_for_object_info,
)

FIXTURE = REPO / "tests" / "e2e" / "fixtures" / "leaky_node"
FIXTURE_LINK = "memwarden-leak-fixture"
PROMPTS = 16
LEAK_MB = 8
LEAKY, TWIN, DETECTOR = "MemwardenTestLeakyBuffer", "MemwardenTestBufferTwin", "MemoryLeakDetector"


def leak_site_line() -> int:
    for i, line in enumerate((FIXTURE / "__init__.py").read_text().splitlines(), 1):
        if "# LEAK-SITE" in line:
            return i
    raise Failed("no LEAK-SITE marker in the fixture")


@contextmanager
def comfyui(comfy_dir: Path, python: str, name: str) -> Iterator[tuple[Comfy, int]]:
    """A fresh ComfyUI with a fresh user directory; (api, pid)."""
    out_dir = Path(tempfile.mkdtemp(prefix=f"memwarden-leak-{name}-"))
    (out_dir / "extra_model_paths.yaml").write_text(f"memwarden_leak:\n  base_path: {json.dumps(str(out_dir))}\n")
    port = free_port()
    cmd = comfy_command(python, comfy_dir, out_dir, port)
    log = open(out_dir / "comfyui.log", "w")  # closed in finally
    server = subprocess.Popen(cmd, cwd=comfy_dir, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    ok = False
    try:
        if os.environ.get("MEMWARDEN_E2E_PIDFILE"):
            Path(os.environ["MEMWARDEN_E2E_PIDFILE"]).write_text(f"{server.pid}\n")
        api = Comfy(f"http://127.0.0.1:{port}", port, out_dir / "comfyui.log")
        node_info = wait_for_object_info(api, server)
        for node in (LEAKY, TWIN, DETECTOR):
            check(node in node_info, f"[{name}] /object_info lists {node}")
        yield api, server.pid
        ok = True
    finally:
        stop(server)
        log.close()
        if ok:
            shutil.rmtree(out_dir, ignore_errors=True)
        else:
            print(f"--- ComfyUI log (tail; kept in {out_dir}) ---\n{(out_dir / 'comfyui.log').read_text()[-5000:]}")


def queue_all(api: Comfy, prompts: list[dict[str, Any]], timeout: float = 600) -> list[dict[str, Any]]:
    """Queue every prompt at once, wait for all; their /history entries in order."""
    ids = []
    for p in prompts:
        code, body = api.post("/prompt", {"prompt": p, "client_id": "memwarden-leak-e2e"})
        if code != 200:
            raise Failed(f"/prompt refused the workflow: {code} {json.dumps(body)[:2000]}")
        ids.append(body["prompt_id"])
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        hist = api.get(f"/history/{ids[-1]}")
        if ids[-1] in hist and hist[ids[-1]].get("status", {}).get("completed") is not None:
            break
        time.sleep(0.2)
    else:
        raise Failed(f"{len(ids)} prompts did not finish in {timeout} s")
    entries = []
    for pid in ids:
        entry = api.get(f"/history/{pid}")[pid]
        if entry["status"].get("status_str") != "success":
            raise Failed(f"prompt failed: {json.dumps(entry['status'])[:3000]}")
        entries.append(entry)
    return entries


def detector_workflow(node: str) -> dict[str, Any]:
    return {
        "1": {"class_type": node, "inputs": {"mb": LEAK_MB}},
        "2": {
            "class_type": DETECTOR,
            "inputs": {
                "anything": ["1", 0],
                "mode": "scheduled",
                "threshold_mb": 1.0,
                "warmup_prompts": 2,
                "tracemalloc": True,
                "snapshot_interval": 1,
                "per_node": True,
            },
        },
    }


def verdicts(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The detector's figures of every prompt (its "leak" UI output in /history)."""
    out = []
    for e in entries:
        if "2" not in e["outputs"]:
            raise Failed(f"the detector did not run (ComfyUI dropped it?): {json.dumps(e)[:2000]}")
        out.append(dict(e["outputs"]["2"]["leak"][0]))
    return out


def run_leak(comfy_dir: Path, python: str) -> None:
    # the path ComfyUI imported the fixture from (through the link in custom_nodes/)
    site = f"{comfy_dir / 'custom_nodes' / FIXTURE_LINK / '__init__.py'}:{leak_site_line()} "
    print(f"leak: {LEAKY} keeps {LEAK_MB} MB per execution; {PROMPTS} prompts", flush=True)
    with comfyui(comfy_dir, python, "leak") as (api, _pid):
        entries = queue_all(api, [detector_workflow(LEAKY)] * PROMPTS)
    found = verdicts(entries)
    first = next((i + 1 for i, v in enumerate(found) if v["leak_detected"]), None)
    last = found[-1]
    report = str(entries[-1]["outputs"]["2"]["text"][0])
    print("\n".join(f"    | {line}" for line in report.splitlines()), flush=True)
    check(first is not None, f"leak flagged within {PROMPTS} prompts (first at prompt {first})")
    info(f"slope at prompt {PROMPTS}: {last['slope_mb_per_prompt']:.2f} MB/prompt ({LEAK_MB} MB kept per prompt)")
    check(
        abs(last["slope_mb_per_prompt"] - LEAK_MB) < 2.0,
        f"slope {last['slope_mb_per_prompt']:.2f} ≈ {LEAK_MB} MB/prompt",
    )
    check(last["suspect_nodes"] == [LEAKY], f"the suspect node type is {LEAKY}: {last['suspect_nodes']}")
    top = last["top_sites"][0] if last["top_sites"] else "(none)"
    check(top.startswith(site), f"top growing allocation site is the fixture's LEAK-SITE line: {top}")


def run_control(comfy_dir: Path, python: str) -> None:
    print(f"control: {TWIN} allocates {LEAK_MB} MB per execution and lets it go; {PROMPTS} prompts", flush=True)
    with comfyui(comfy_dir, python, "control") as (api, _pid):
        entries = queue_all(api, [detector_workflow(TWIN)] * PROMPTS)
    found = verdicts(entries)
    alarms = [i + 1 for i, v in enumerate(found) if v["leak_detected"]]
    report = str(entries[-1]["outputs"]["2"]["text"][0])
    print("\n".join(f"    | {line}" for line in report.splitlines()), flush=True)
    check(alarms == [], f"no alarm at any of the {PROMPTS} prompts (alarms at: {alarms})")
    check(found[-1]["suspect_nodes"] == [], f"no suspect node type: {found[-1]['suspect_nodes']}")
    check(found[-1]["top_sites"] == [], f"no growing allocation site: {found[-1]['top_sites']}")


def cpu_and_rss(pid: int) -> tuple[float, int]:
    """(user + system CPU seconds, VmRSS bytes) of ``pid``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return cpu, int(line.split()[1]) * 1024
    raise Failed("no VmRSS")


def workload(i: int, per_node: bool) -> dict[str, Any]:
    """A small CPU image workflow and the detector; the color changes every prompt so
    nothing is served from ComfyUI's cache."""
    return {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 512, "height": 512, "batch_size": 1, "color": i}},
        "2": {"class_type": "ImageBlur", "inputs": {"image": ["1", 0], "blur_radius": 15, "sigma": 3.0}},
        "3": {"class_type": "ImageScaleBy", "inputs": {"image": ["2", 0], "upscale_method": "bicubic", "scale_by": 2}},
        "4": {"class_type": "ImageBlur", "inputs": {"image": ["3", 0], "blur_radius": 9, "sigma": 2.0}},
        "5": {"class_type": TWIN, "inputs": {"mb": LEAK_MB, "anything": ["4", 0]}},
        "6": {
            "class_type": DETECTOR,
            "inputs": {"anything": ["5", 0], "mode": "scheduled", "threshold_mb": 1.0, "warmup_prompts": 2,
                       "tracemalloc": False, "snapshot_interval": 5, "per_node": per_node},
        },
    }  # fmt: skip


def measure(comfy_dir: Path, python: str, per_node: bool, n: int, warm: int) -> tuple[float, float, int]:
    """(CPU ms per prompt, wall ms per prompt, RSS after) of one fresh ComfyUI."""
    name = f"overhead-per-node-{'on' if per_node else 'off'}"
    with comfyui(comfy_dir, python, name) as (api, pid):
        queue_all(api, [workload(10_000 + i, per_node) for i in range(warm)])
        cpu0, _ = cpu_and_rss(pid)
        t0 = time.monotonic()
        queue_all(api, [workload(i, per_node) for i in range(n)])
        wall = time.monotonic() - t0
        cpu1, rss = cpu_and_rss(pid)
        last = queue_all(api, [workload(20_000, per_node)])[0]["outputs"]["6"]["leak"][0]
    if per_node:
        info(f"per-node accounting timed inside ComfyUI: {last['accounting_ms_per_prompt']:.3f} ms/prompt")
    row = ((cpu1 - cpu0) / n * 1000, wall / n * 1000, rss)
    info(f"per-node accounting {'on ' if per_node else 'off'}: {row[0]:.1f} ms CPU/prompt, "
         f"{row[1]:.1f} ms wall/prompt, RSS {rss / 2**20:.1f} MB")  # fmt: skip
    return row


def run_overhead(comfy_dir: Path, python: str, n: int = 30, warm: int = 5, rounds: int = 2) -> None:
    """Per-node accounting off and on, alternating, each in a fresh ComfyUI (ComfyUI's
    torch on one thread, OMP_NUM_THREADS=1, so CPU time is not thread spinning)."""
    print(f"overhead: {n} prompts of an image workload (after {warm} warm-up), per-node accounting "
          f"off and on, {rounds} rounds", flush=True)  # fmt: skip
    os.environ["OMP_NUM_THREADS"] = "1"
    rows: dict[bool, list[tuple[float, float, int]]] = {False: [], True: []}
    for r in range(rounds):  # off, on, on, off, ...: a drifting machine load hits both alike
        for per_node in (False, True) if r % 2 == 0 else (True, False):
            rows[per_node].append(measure(comfy_dir, python, per_node, n, warm))
    off = [r[0] for r in rows[False]]
    on = [r[0] for r in rows[True]]
    rss_off = sum(r[2] for r in rows[False]) / rounds
    rss_on = sum(r[2] for r in rows[True]) / rounds
    c0, c1 = sum(off) / rounds, sum(on) / rounds
    info(f"per-node accounting: CPU {c1 - c0:+.2f} ms/prompt ({(c1 - c0) / c0 * 100:+.2f} %) "
         f"[off {', '.join(f'{x:.1f}' for x in off)}; on {', '.join(f'{x:.1f}' for x in on)}], "
         f"RSS {(rss_on - rss_off) / 2**20:+.1f} MB (mean of {rounds})")  # fmt: skip
    check(c0 > 0 and c1 > 0, "CPU time measured in every run")


def main() -> int:
    comfy_dir = Path(os.environ.get("COMFYUI_DIR", "")).expanduser().resolve()
    python = os.environ.get("COMFYUI_PYTHON", sys.executable)
    problem, made_link = preflight(comfy_dir, python)
    if problem:
        print(f"NOT RUN: {problem}")
        return 2
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    links = [(comfy_dir / "custom_nodes" / FIXTURE_LINK, FIXTURE)]
    if made_link:
        links.append((comfy_dir / "custom_nodes" / LINK_NAME, REPO))
    made = []
    started = time.monotonic()
    failed = 0
    try:
        for link, target in links:
            if not link.is_symlink():
                link.symlink_to(target, target_is_directory=True)
                made.append(link)
        groups = [run_leak, run_control] + ([run_overhead] if "--overhead" in sys.argv else [])
        for group in groups:
            try:
                group(comfy_dir, python)
            except Failed:  # check() printed it
                failed += 1
    finally:
        for link in made:
            link.unlink()
    took = time.monotonic() - started
    print(f"leak e2e: {CHECKS['ok']} checks ok in {took:.0f} s; {CHECKS['failed']} failed")
    return 1 if CHECKS["failed"] or failed else 0


if __name__ == "__main__":
    sys.exit(main())
