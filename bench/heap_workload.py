"""A process that holds freed-but-retained heap, then cleans up one of two ways.

    python bench/heap_workload.py --approach memwarden|seed [--mib 2048] [--torch]

Allocates MIB MiB as 64 KiB blocks (below glibc's mmap threshold, so they live in
the heap: half Python bytes, half torch CPU tensors with --torch), frees every
other block (MIB/2 of freed-but-retained heap, MIB/2 live), then runs either
memwarden's cleanup ("balanced") or the seeds' approach (three gc passes and the
torch cache: what the seed nodes do without their Windows-only OS trim). Prints
one JSON object with RSS at each point and the live bytes.
"""

from __future__ import annotations

import argparse
import gc
import json
import time


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--approach", choices=["memwarden", "seed"], required=True)
    ap.add_argument("--mib", type=int, default=2048)
    ap.add_argument("--torch", action="store_true")
    a = ap.parse_args()

    torch = None
    if a.torch:
        import torch as _torch

        torch = _torch
    import memwarden

    block = 64 << 10
    n = (a.mib << 20) // block
    gc.collect()
    base = rss()
    blocks: list[object] = []
    for i in range(n):
        if torch is not None and i % 2 == 1:
            blocks.append(torch.ones(block // 4, dtype=torch.float32))
        else:
            blocks.append(b"\x01" * block)
    peak = rss()
    kept = blocks[::2]  # every other block stays live
    live = sum(len(b) if isinstance(b, bytes) else b.nbytes for b in kept)  # type: ignore[attr-defined]
    del blocks
    retained = rss()

    t0 = time.perf_counter()
    if a.approach == "memwarden":
        report = memwarden.cleanup("balanced")
        detail = [f"[{s.index}/7] {s.name}: {s.detail}" for s in report.steps]
    else:
        for _ in range(3):
            gc.collect()
        if torch is not None and torch.cuda.is_available():
            torch.cuda.empty_cache()
            torch.cuda.ipc_collect()
        detail = ["gc.collect() x3", "torch.cuda.empty_cache() (when CUDA)"]
    took = time.perf_counter() - t0
    after = rss()
    print(
        json.dumps(
            {
                "approach": a.approach,
                "torch": bool(a.torch),
                "mib": a.mib,
                "baseline_rss": base,
                "peak_rss": peak,
                "retained_rss": retained,
                "after_rss": after,
                "live_bytes": live,
                "freed_retained_bytes": retained - base - live,
                "after_over_live": (after - base) / live,
                "cleanup_s": took,
                "steps": detail,
            }
        )
    )
    assert len(kept) > 0


if __name__ == "__main__":
    main()
