"""Cost of the leak detector's per-node accounting, in-process, per node execution.

    .venv/bin/python bench/leak_node_overhead.py [EXECUTIONS]

Emits node_start/node_end pairs through memwarden.comfy.hooks (what the patched
executor does around every node) with no subscriber, with the LeakDetector and
per-node accounting off, and with it on (one RSS read and one torch query at each
end, one record per execution), and prints the median cost per execution of 5
rounds, plus the memory the records of a full history take (300 prompts x 20 nodes).
"""

from __future__ import annotations

import statistics
import sys
import time
import tracemalloc

from memwarden.comfy import hooks
from memwarden.leak import LeakDetector


def per_execution_us(n: int, subscriber: LeakDetector | None) -> float:
    stop = hooks.subscribe(subscriber.on_event) if subscriber is not None else None
    start_ev = hooks.ExecutionEvent("node_start", "p", 0.0, "7", "KSampler")
    end_ev = hooks.ExecutionEvent("node_end", "p", 0.0, "7", "KSampler", True)
    t0 = time.perf_counter()
    for _ in range(n):
        hooks.emit(start_ev)
        hooks.emit(end_ev)
    took = time.perf_counter() - t0
    if stop is not None:
        stop()
    if subscriber is not None:
        subscriber.records.clear()
    return took / n * 1e6


def records_bytes(prompts: int = 300, nodes: int = 20) -> int:
    det = LeakDetector(keep=prompts)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    stop = hooks.subscribe(det.on_event)
    for p in range(prompts):
        det.prompt_index = p
        for i in range(nodes):
            hooks.emit(hooks.ExecutionEvent("node_start", "p", 0.0, str(i), f"Type{i}"))
            hooks.emit(hooks.ExecutionEvent("node_end", "p", 0.0, str(i), f"Type{i}", True))
    stop()
    size = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return size


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    rows = {
        "hook only (no subscriber)": None,
        "detector, per-node off": LeakDetector(per_node=False),
        "detector, per-node on": LeakDetector(per_node=True),
    }
    print(f"| configuration | µs per node execution (median of 5 x {n}) |")
    print("|---|---:|")
    for name, det in rows.items():
        runs = [per_execution_us(n, det) for _ in range(5)]
        print(f"| {name} | {statistics.median(runs):.2f} |")
    print(f"\nrecords of 300 prompts x 20 nodes: {records_bytes() / 2**20:.2f} MB (tracemalloc)")


if __name__ == "__main__":
    main()
