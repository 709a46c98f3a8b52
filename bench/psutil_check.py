"""What the seed scripts do for `cleanup_ram.py --check`, with psutil.

    python bench/psutil_check.py              # one check, printed as one JSON object
    python bench/psutil_check.py --bench 300  # in-process timing, one JSON line per variant

The check: psutil.virtual_memory(), psutil.swap_memory(), this process's
Process().memory_info(), and the top 10 processes by RSS through
process_iter(['pid', 'name', 'memory_info']).

psutil caches the Process objects that process_iter() creates and reuses them on the
next call, so a long-lived process pays less per call than a fresh one. The
benchmark therefore reports two variants, both after a warm-up:

- fresh: the cache is cleared before every call (process_iter.cache_clear()), so
  every call builds a Process object per PID, as the first and only call of a
  one-shot `cleanup_ram.py --check` does;
- cached: the cache is kept: the steady state of a long-lived process (a ComfyUI
  node calling the check again and again).

The no-flag mode is the one-shot script itself, used for the whole-process comparison
(`python3 bench/psutil_check.py` against `memwarden check --json`).
"""

from __future__ import annotations

import json
import statistics
import sys
import time

import psutil

TOP = 10
WARMUP = 5


def check() -> dict:
    vm = psutil.virtual_memory()
    sw = psutil.swap_memory()
    me = psutil.Process().memory_info()
    procs = []
    for p in psutil.process_iter(["pid", "name", "memory_info"]):
        mi = p.info["memory_info"]
        # AccessDenied/zombie processes come back as None; kernel threads have RSS 0.
        if mi is not None and mi.rss > 0:
            procs.append((mi.rss, p.info["pid"], p.info["name"]))
    procs.sort(reverse=True)
    return {
        "total_bytes": vm.total,
        "available_bytes": vm.available,
        "percent_used": vm.percent,
        "swap_total_bytes": sw.total,
        "swap_used_bytes": sw.used,
        "self_rss_bytes": me.rss,
        "scanned": len(procs),
        "top": [{"pid": pid, "name": name, "rss_bytes": rss} for rss, pid, name in procs[:TOP]],
    }


def clear_process_cache() -> None:
    if hasattr(psutil.process_iter, "cache_clear"):  # psutil >= 6.0
        psutil.process_iter.cache_clear()
    else:  # older psutil keeps the cache in a module-level dict
        psutil._pmap.clear()  # type: ignore[attr-defined]


def quantile(sorted_samples: list[float], q: float) -> float:
    """Nearest-rank quantile, the same rule as the Rust example uses."""
    return sorted_samples[round((len(sorted_samples) - 1) * q)]


def bench(n: int) -> None:
    variants = (
        ("fresh", "fresh process_iter cache (one-shot script)", True),
        ("cached", "cached process_iter (long-lived process)", False),
    )
    for key, label, fresh in variants:
        for _ in range(WARMUP):
            if fresh:
                clear_process_cache()
            check()
        samples = []
        scanned = 0
        for _ in range(n):
            if fresh:
                clear_process_cache()  # outside the timed region
            t = time.perf_counter()
            scanned = check()["scanned"]
            samples.append((time.perf_counter() - t) * 1e3)
        samples.sort()
        print(
            json.dumps(
                {
                    "impl": "psutil " + psutil.__version__,
                    "key": key,
                    "variant": label,
                    "n": n,
                    "processes": scanned,
                    "median_ms": round(statistics.median(samples), 3),
                    "p10_ms": round(quantile(samples, 0.1), 3),
                    "p90_ms": round(quantile(samples, 0.9), 3),
                    "min_ms": round(samples[0], 3),
                }
            ),
            flush=True,
        )


def main(argv: list[str]) -> int:
    if argv[:1] == ["--bench"]:
        n = int(argv[1]) if len(argv) > 1 else 300
        if n <= 0:
            print("--bench N needs N > 0", file=sys.stderr)
            return 2
        bench(n)
    elif not argv:
        print(json.dumps(check()))
    else:
        print("usage: psutil_check.py [--bench N]", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
