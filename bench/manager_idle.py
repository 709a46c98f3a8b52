"""Idle overhead of the background manager: CPU and RSS, side by side.

    .venv/bin/python bench/manager_idle.py [--seconds 120]

Starts three Python processes at once, each importing memwarden (and torch, as
ComfyUI's process has it) and taking one snapshot: one without the manager, one
with it watching pressure through the PSI trigger (thresholds checked every 5 s),
one with the 1 Hz sampling fallback (``use_psi=False``: what a kernel without
PSI triggers gets). After a 5 s settle each measures its own CPU time (utime +
stime of every thread, /proc/self/stat) over ``--seconds`` and its RSS before
the manager started and at the end. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

CHILD = r"""
import json, os, sys, tempfile, time
import torch  # noqa: F401 - ComfyUI's process has it loaded
import memwarden, memwarden.manager as mm

def cpu():
    f = open("/proc/self/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")

def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024

mode, seconds = sys.argv[1], float(sys.argv[2])
memwarden.snapshot(top=0)
rss0 = rss()
watch = "none"
if mode != "off":
    hist = os.path.join(tempfile.mkdtemp(), "history.jsonl")
    st = mm.start(history_file=hist, use_psi=(mode == "psi"))
    watch = st.watch
time.sleep(5)
c0, t0 = cpu(), time.monotonic()
time.sleep(seconds)
c1, t1 = cpu(), time.monotonic()
out = {"mode": mode, "watch": watch, "cpu_s": c1 - c0, "wall_s": t1 - t0, "rss0": rss0, "rss1": rss()}
if mode != "off":
    st = mm.status()
    out["wakes"] = st.wakes
    out["actions"] = [(a.trigger, a.mode, round(a.duration_ms, 1)) for a in mm.history()]
    mm.stop()
print(json.dumps(out))
"""


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=120.0)
    args = ap.parse_args()
    procs = {
        m: subprocess.Popen([sys.executable, "-c", CHILD, m, str(args.seconds)], stdout=subprocess.PIPE, text=True)
        for m in ("off", "psi", "sampling")
    }
    res = {}
    for m, p in procs.items():
        out, _ = p.communicate(timeout=args.seconds + 120)
        res[m] = json.loads(out.strip().splitlines()[-1])
    load = os.getloadavg()[0]
    print(f"{args.seconds:.0f} s idle, load {load:.2f}, {time.strftime('%Y-%m-%d %H:%M:%SZ', time.gmtime())}\n")
    print("| process | pressure watch | wakes | actions | CPU (% of one core) | CPU over no manager | RSS growth |")
    print("|---|---|---|---|---:|---:|---:|")
    base = res["off"]["cpu_s"] / res["off"]["wall_s"] * 100
    for m in ("off", "psi", "sampling"):
        r = res[m]
        pct = r["cpu_s"] / r["wall_s"] * 100
        grow = (r["rss1"] - r["rss0"]) / 2**20
        watch = r["watch"].split(" (")[0] if m != "off" else "-"
        label = {"off": "no manager", "psi": "manager (PSI trigger)", "sampling": "manager (1 Hz sampling)"}[m]
        wakes = ", ".join(f"{k} {v}" for k, v in sorted(r.get("wakes", {}).items())) or "-"
        acts = "; ".join(f"{t} {m} {ms:.0f} ms" for t, m, ms in r.get("actions", [])) or "none"
        print(f"| {label} | {watch} | {wakes} | {acts} | {pct:.3f} % | {pct - base:+.3f} % | {grow:+.2f} MiB |")
    Path(os.environ.get("MEMWARDEN_BENCH_JSON", "/dev/null")).write_text(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
