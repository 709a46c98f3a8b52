"""Cost of the memwarden panel's feed, in one run (results: docs/benchmarks.md).

    COMFYUI_DIR=/path/to/ComfyUI .venv/bin/python bench/panel_feed.py [SECONDS] [N]

1. Per sample, in this process: what the feed does each tick (a snapshot without
   the process list, the panel's figures, the JSON text) against what a psutil-based
   monitor does (virtual_memory, swap_memory, this process's memory_info, JSON),
   N calls each after a warm-up; CPU time per call.
2. In ComfyUI (started as scripts/test-panel does: CPU, 127.0.0.1): CPU time and RSS of
   the ComfyUI process over SECONDS with no page connected, with the page connected
   and the memwarden tab closed, and with the tab open at 1 sample/s
   (bench/panel_feed.mjs drives headless Chromium; needs what scripts/test-panel needs).
Prints markdown.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "e2e"))
import panel_e2e  # noqa: E402


def per_call_ms(fn: Callable[[], Any], n: int) -> float:
    for _ in range(20):
        fn()
    t0 = time.process_time()
    for _ in range(n):
        fn()
    return (time.process_time() - t0) / n * 1000


def feed_sample() -> str:
    from memwarden.comfy import routes

    _, snap = routes.take_snapshot()
    return json.dumps({"figures": routes.figures(snap)})


def psutil_sample() -> str:
    import psutil

    vm, sw = psutil.virtual_memory(), psutil.swap_memory()
    rss = psutil.Process().memory_info().rss
    return json.dumps({"ram": [vm.total, vm.used, vm.available], "swap": [sw.total, sw.used], "rss": rss})


def in_comfyui(seconds: int) -> list[dict[str, Any]]:
    with panel_e2e.comfyui() as (api, server):
        out = subprocess.run(
            ["node", str(REPO / "bench" / "panel_feed.mjs"), api.base, str(server.pid), str(seconds)],
            env=panel_e2e.node_env(),
            capture_output=True,
            text=True,
            check=True,
        )
    return [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]


def main() -> int:
    seconds = int(sys.argv[1]) if len(sys.argv) > 1 else 60
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 300
    feed_ms, psutil_ms = per_call_ms(feed_sample, n), per_call_ms(psutil_sample, n)
    states = in_comfyui(seconds)
    print(f"Per sample ({n} calls, CPU time): memwarden feed {feed_ms:.3f} ms, psutil monitor {psutil_ms:.3f} ms\n")
    print("| state | wall s | ComfyUI CPU s | % of a core | RSS start MiB | RSS end MiB | samples sent |")
    print("|---|---|---|---|---|---|---|")
    for s in states:
        print(
            f"| {s['state']} | {s['wall_s']} | {s['cpu_s']} | {s['core_percent']} | {s['rss_start_mib']} "
            f"| {s['rss_end_mib']} | {s.get('samples_sent', '-')} |"
        )
    by = {s["state"]: s for s in states}
    if "page" in by and "feed" in by:
        cpu = by["feed"]["core_percent"] - by["page"]["core_percent"]
        rss = by["feed"]["rss_end_mib"] - by["page"]["rss_end_mib"]
        print(f"\nfeed - page: {cpu:+.3f} % of a core, RSS {rss:+.1f} MiB")
    print(f"\nmachine: {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
