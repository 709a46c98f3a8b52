"""What the seed scripts do for `cleanup_ram.py --check`, with psutil.

    python bench/psutil_check.py              # one check, printed as JSON
    python bench/psutil_check.py --bench 300  # in-process timing, JSON per variant

The check: virtual_memory(), swap_memory(), this process's memory_info(), and the
top 10 processes by RSS through process_iter(['pid', 'name', 'memory_info']).
psutil caches Process objects between process_iter() calls, so the benchmark
reports both a cold variant (cache cleared before each call, what a one-shot
script pays) and the warm steady state of a long-lived process.
"""

from __future__ import annotations

import json
import statistics
import sys
import time

import psutil


def check() -> dict:
    vm = psutil.virtual_memory()
    sw = psutil.swap_memory()
    me = psutil.Process().memory_info()
    procs = []
    for p in psutil.process_iter(["pid", "name", "memory_info"]):
        mi = p.info["memory_info"]
        if mi is not None and mi.rss > 0:
            procs.append((mi.rss, p.info["pid"], p.info["name"]))
    procs.sort(reverse=True)
    return {
        "total": vm.total,
        "available": vm.available,
        "percent": vm.percent,
        "swap_total": sw.total,
        "swap_used": sw.used,
        "self_rss": me.rss,
        "scanned": len(procs),
        "top": [{"pid": pid, "name": name, "rss": rss} for rss, pid, name in procs[:10]],
    }


def quantile(sorted_samples: list[float], p: float) -> float:
    return sorted_samples[round((len(sorted_samples) - 1) * p)]


def bench(n: int) -> None:
    for variant, cold in (("cold process_iter cache (one-shot script)", True), ("warm process_iter cache", False)):
        for _ in range(5):
            check()
        samples = []
        scanned = 0
        for _ in range(n):
            if cold:
                psutil.process_iter.cache_clear()
            t = time.perf_counter()
            scanned = check()["scanned"]
            samples.append((time.perf_counter() - t) * 1e3)
        samples.sort()
        print(
            json.dumps(
                {
                    "impl": "psutil " + psutil.__version__,
                    "variant": variant,
                    "n": n,
                    "processes": scanned,
                    "median_ms": round(statistics.median(samples), 3),
                    "p10_ms": round(quantile(samples, 0.1), 3),
                    "p90_ms": round(quantile(samples, 0.9), 3),
                }
            )
        )


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--bench":
        bench(int(sys.argv[2]))
    else:
        print(json.dumps(check()))
