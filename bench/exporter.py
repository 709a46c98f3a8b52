#!/usr/bin/env python3
"""Cost of `memwarden serve` against node_exporter's meminfo collector, side by side.

Both exporters run on loopback at the same time and are scraped once a second each
for the same N seconds (alternating, a new connection per scrape). For each:
CPU in percent of one core (utime + stime from /proc/PID/stat over the run), RSS
(VmRSS, the largest seen), scrape latency (median and 95th percentile, from the
request to the last byte), and the answer's size and number of samples.

    cargo build --release -p memwarden-cli
    python3 bench/exporter.py [--seconds 120] [--memwarden target/release/memwarden]

node_exporter: the Debian package prometheus-node-exporter, run as
`prometheus-node-exporter --collector.disable-defaults --collector.meminfo`.
Extra `memwarden serve` flags go after `--` (e.g. `-- --top 5`).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


@dataclass
class Exporter:
    name: str
    cmd: list[str]
    port: int
    proc: subprocess.Popen[bytes] | None = None
    latencies: list[float] = field(default_factory=list)
    max_rss_kib: int = 0
    ticks0: int = 0
    body: bytes = b""

    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/metrics"

    def start(self) -> None:
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            try:
                self.scrape()
                return
            except OSError:
                time.sleep(0.1)
        raise SystemExit(f"{self.name} did not answer on {self.url()}")

    def scrape(self) -> float:
        t0 = time.perf_counter()
        with urllib.request.urlopen(self.url(), timeout=10) as r:
            self.body = r.read()
        return time.perf_counter() - t0

    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid


def run(exporters: list[Exporter], seconds: int) -> float:
    """Scrape each exporter once a second; returns the wall time of the run."""
    for e in exporters:
        e.ticks0 = cpu_ticks(e.pid())
    start = time.monotonic()
    for i in range(seconds):
        for e in exporters:
            e.latencies.append(e.scrape())
            e.max_rss_kib = max(e.max_rss_kib, rss_kib(e.pid()))
        time.sleep(max(0.0, start + i + 1 - time.monotonic()))
    return time.monotonic() - start


def report(exporters: list[Exporter], wall: float) -> None:
    hz = os.sysconf("SC_CLK_TCK")
    print(f"{len(exporters[0].latencies)} scrapes each, one per second, over {wall:.0f} s")
    cols = ["exporter", "CPU (% of a core)", "RSS max (MiB)", "scrape median (ms)", "scrape p95 (ms)"]
    print("| " + " | ".join([*cols, "answer (KiB)", "samples"]) + " |")
    print("|---|---|---|---|---|---|---|")
    for e in exporters:
        cpu = (cpu_ticks(e.pid()) - e.ticks0) / hz / wall * 100
        lat = sorted(e.latencies)
        p95 = lat[min(len(lat) - 1, int(len(lat) * 0.95))]
        samples = sum(1 for ln in e.body.decode().splitlines() if ln and not ln.startswith("#"))
        print(
            f"| {e.name} | {cpu:.3f} | {e.max_rss_kib / 1024:.1f} | {statistics.median(lat) * 1e3:.2f} "
            f"| {p95 * 1e3:.2f} | {len(e.body) / 1024:.1f} | {samples} |"
        )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=int, default=120)
    ap.add_argument("--memwarden", default="target/release/memwarden")
    ap.add_argument("serve_args", nargs="*", help="extra `memwarden serve` flags, after --")
    a = ap.parse_args()
    node = shutil.which("prometheus-node-exporter") or shutil.which("node_exporter")
    if not node:
        print("bench/exporter.py: prometheus-node-exporter is not installed (Debian package)", file=sys.stderr)
        return 2
    mw_port, node_port = free_port(), free_port()
    exporters = [
        Exporter(
            "memwarden serve " + " ".join(a.serve_args),
            [a.memwarden, "serve", "--listen", f"127.0.0.1:{mw_port}", *a.serve_args],
            mw_port,
        ),
        Exporter(
            "node_exporter (meminfo only)",
            [
                node,
                "--collector.disable-defaults",
                "--collector.meminfo",
                f"--web.listen-address=127.0.0.1:{node_port}",
            ],
            node_port,
        ),
    ]
    try:
        for e in exporters:
            e.start()
        report(exporters, run(exporters, a.seconds))
    finally:
        for e in exporters:
            if e.proc is not None:
                e.proc.terminate()
                e.proc.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
