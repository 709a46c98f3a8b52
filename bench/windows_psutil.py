"""memwarden's snapshot against psutil doing the same job, on Windows (or under
Wine, see bench/windows_wine.sh; .github/workflows/windows.yml runs it on a real
Windows runner).

    python bench/windows_psutil.py [--reps N] [--top 10] [--spawn K] [--json FILE]

The job, once per call: system memory, swap (page files), this process's memory,
and every process's memory with the top N by working set and their names.

- memwarden: ``memwarden.snapshot(top=N, gpu=False)`` (no GPU probe: psutil has none).
- psutil: ``virtual_memory()``, ``swap_memory()``, ``Process().memory_info()``,
  ``process_iter(['pid', 'memory_info'])``, sorted, then ``name()`` of the top N.
  Under Wine ``name()`` and ``exe()`` raise OSError (WinError 87 from
  NtQuerySystemInformation) for every process and ``swap_memory()`` raises
  RuntimeError (no performance counters): where they fail, the name falls back to
  ``cmdline()[0]``'s file name, and swap is left out of psutil's job (the output
  says which). psutil reuses the Process objects of the previous ``process_iter``
  call, so it is timed twice: ``cached`` (a long-lived process) and ``fresh``
  (``process_iter.cache_clear()`` before each call, outside the timed region).

``--spawn K`` starts K idle child processes (this Python sleeping) first, so the
process list is not the handful a bare Wine prefix has; they are terminated at the
end (they are this script's own children). Quantiles are nearest-rank.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import time
from typing import Any, Callable

import memwarden
import psutil

WARMUP = 10


def quantile(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[max(0, math.ceil(q * len(s)) - 1)]


def probe_psutil() -> dict[str, str]:
    """Which of psutil's calls work here: the ones that fail are named with why."""
    broken = {}
    try:
        psutil.swap_memory()
    except (OSError, RuntimeError) as e:
        broken["swap_memory"] = f"{type(e).__name__}: {e}"
    try:
        psutil.Process().name()
    except OSError as e:
        broken["name"] = f"{type(e).__name__}: {e}"
    return broken


def name_of(p: psutil.Process, names_work: bool) -> str:
    if names_work:
        return p.name()
    try:
        argv = p.cmdline()
    except (psutil.Error, OSError):
        return ""
    return os.path.basename(argv[0]) if argv else ""


def psutil_job(top: int, swap: bool, names_work: bool) -> list[tuple[int, int, str]]:
    psutil.virtual_memory()
    if swap:
        psutil.swap_memory()
    psutil.Process().memory_info()
    procs = []
    for p in psutil.process_iter(["pid", "memory_info"]):
        mi = p.info["memory_info"]
        if mi is not None:
            procs.append((mi.rss, p))
    procs.sort(key=lambda t: t[0], reverse=True)
    return [(rss, p.pid, name_of(p, names_work)) for rss, p in procs[:top]]


def memwarden_job(top: int) -> list[tuple[int, int, str]]:
    snap = memwarden.snapshot(top=top, gpu=False)
    return [(p.rss_bytes, p.pid, p.name) for p in snap.top_processes.processes]


def timed(fn: Callable[[], Any], reps: int, before: Callable[[], None] | None = None) -> list[float]:
    for _ in range(WARMUP):
        if before:
            before()
        fn()
    out = []
    for _ in range(reps):
        if before:
            before()
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1e3)
    return out


def spawn(k: int) -> list[subprocess.Popen]:
    code = "import time; time.sleep(3600)"
    return [subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.DEVNULL) for _ in range(k)]


def summary(name: str, ms: list[float], base: float | None) -> dict[str, Any]:
    med = quantile(ms, 0.5)
    row = {"variant": name, "calls": len(ms), "median_ms": med, "p95_ms": quantile(ms, 0.95)}
    if base is not None:
        row["ratio_to_memwarden"] = med / base
    return row


def run(args: argparse.Namespace) -> dict[str, Any]:
    broken = probe_psutil()
    swap, names_work = "swap_memory" not in broken, "name" not in broken
    mw = timed(lambda: memwarden_job(args.top), args.reps)
    cached = timed(lambda: psutil_job(args.top, swap, names_work), args.reps)
    fresh = timed(lambda: psutil_job(args.top, swap, names_work), args.reps, psutil.process_iter.cache_clear)
    base = quantile(mw, 0.5)
    snap = memwarden.snapshot(top=args.top, gpu=False)
    return {
        "platform": f"{snap.kernel}, Python {platform.python_version()}, psutil {psutil.__version__}",
        "processes": {"memwarden_scanned": snap.top_processes.scanned, "psutil_listed": len(psutil.pids())},
        "psutil_calls_failing_here": broken,
        "top_memwarden": memwarden_job(3),
        "top_psutil": psutil_job(3, swap, names_work),
        "results": [
            summary(f"memwarden {memwarden.__version__} snapshot(top={args.top}, gpu=False)", mw, None),
            summary("psutil cached process_iter", cached, base),
            summary("psutil fresh process_iter", fresh, base),
        ],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=300)
    ap.add_argument("--top", type=int, default=10)
    ap.add_argument("--spawn", type=int, default=0)
    ap.add_argument("--json", help="also write the results to this file")
    args = ap.parse_args()
    children = spawn(args.spawn)
    try:
        time.sleep(2 if children else 0)
        out = run(args)
    finally:
        for c in children:
            c.terminate()
            c.wait()
    print(out["platform"], "|", json.dumps(out["processes"]))
    for call, why in out["psutil_calls_failing_here"].items():
        print(f"psutil {call}() fails here: {why}")
    print("top 3 by working set: memwarden", out["top_memwarden"], "| psutil", out["top_psutil"])
    print("| variant | calls | median | p95 | psutil median / memwarden median |")
    print("|---|---:|---:|---:|---:|")
    for r in out["results"]:
        ratio = f"{r['ratio_to_memwarden']:.1f}x" if "ratio_to_memwarden" in r else ""
        print(f"| {r['variant']} | {r['calls']} | {r['median_ms']:.2f} ms | {r['p95_ms']:.2f} ms | {ratio} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
