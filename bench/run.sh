#!/usr/bin/env bash
# Snapshot benchmarks, memwarden against what the seed scripts use (psutil), side
# by side in one run on a machine with at least 500 processes:
#  1. in-process: memwarden_core::collect vs psutil (virtual_memory, swap_memory,
#     process_iter top 10), N calls each after a warm-up;
#  2. whole process: `memwarden check --json` and `memwarden status` vs
#     `python3 bench/psutil_check.py`, with hyperfine;
#  3. the cleanup of a process holding 1 GiB of freed-but-retained heap:
#     memwarden's cleanup vs the seeds' gc + torch cache (bench/heap_workload.py).
# Usage: bench/run.sh [N]   (results: docs/benchmarks.md)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-300}

[ -x .venv/bin/python ] || python3 -m venv .venv
PY=.venv/bin/python
"$PY" -m pip install -q psutil maturin
"$PY" -c 'import memwarden' 2>/dev/null || "$PY" -m pip install -q .
command -v hyperfine >/dev/null || { apt-get install -y -qq hyperfine >/dev/null 2>&1 || true; }
cargo build -q --release -p memwarden-cli
cargo build -q --release -p memwarden-core --example bench_snapshot

# At least 500 user processes: start idle sleepers, and stop exactly those.
sleepers=()
cleanup() { [ ${#sleepers[@]} -eq 0 ] || kill "${sleepers[@]}" 2>/dev/null || true; }
trap cleanup EXIT
have=$(ls /proc | grep -c '^[0-9]')
while [ "$have" -lt 560 ]; do sleep 3600 & sleepers+=($!); have=$((have + 1)); done
sleep 1

echo "## machine"
echo "- $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB RAM, kernel $(uname -r)"
echo "- $(ls /proc | grep -c '^[0-9]') entries in /proc, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "- psutil $("$PY" -c 'import psutil; print(psutil.__version__)'), Python $("$PY" -c 'import sys; print(sys.version.split()[0])')"
echo
echo "## in-process snapshot ($N calls each)"
target/release/examples/bench_snapshot "$N"
"$PY" bench/psutil_check.py --bench "$N"
echo
echo "## whole process"
if command -v hyperfine >/dev/null; then
  hyperfine -N --warmup 5 --runs 50 --export-markdown /tmp/memwarden-hyperfine.md \
    'target/release/memwarden check --json' \
    'target/release/memwarden status' \
    "$PY bench/psutil_check.py" >/dev/null
  cat /tmp/memwarden-hyperfine.md
else
  for cmd in "target/release/memwarden check --json" "$PY bench/psutil_check.py"; do
    s=$(date +%s%N); for _ in $(seq 20); do $cmd >/dev/null; done; e=$(date +%s%N)
    echo "- $cmd: $(( (e - s) / 20000000 )) ms per run"
  done
fi
echo
echo "## cleanup of 1 GiB freed-but-retained heap (bytes + torch CPU tensors)"
if "$PY" -c 'import torch' 2>/dev/null; then flag=--torch; else flag=; fi
for approach in seed memwarden; do
  "$PY" bench/heap_workload.py --approach "$approach" --mib 2048 $flag
done
