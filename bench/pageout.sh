#!/usr/bin/env bash
# Pageout throughput of `memwarden trim` against the raw write speed of the swap
# device's filesystem. Needs root. Creates a 3 GiB swap file under /var/tmp for
# the run and removes it on every exit path; holds /tmp/memwarden-swap.lock (the
# test suite takes the same lock) so nothing else adds or expects swap meanwhile.
# Usage: bench/pageout.sh [MIB]   (default 2048 MiB paged out per run, 3 runs)
set -euo pipefail
cd "$(dirname "$0")/.."
MIB=${1:-2048}
[ "$(id -u)" = 0 ] || { echo "bench/pageout.sh needs root (swapon)"; exit 1; }
cargo build -q --release -p memwarden-cli --example alloc_child

exec 9>/tmp/memwarden-swap.lock
flock 9
SWAP=/var/tmp/memwarden-bench.swap
DD=/var/tmp/memwarden-bench.dd
done_cleanup() { swapoff "$SWAP" 2>/dev/null || true; rm -f "$SWAP" "$DD"; }
trap done_cleanup EXIT

echo "## swap device: raw sequential write (dd, O_DIRECT, 2 GiB)"
dd_out=$(dd if=/dev/zero of="$DD" bs=1M count=2048 oflag=direct 2>&1 | tail -1)
rm -f "$DD"
echo "- $dd_out"
dd if=/dev/zero of="$SWAP" bs=1M count=3072 status=none
chmod 600 "$SWAP"; mkswap -q "$SWAP"; swapon "$SWAP"
echo "- swap file $(du -h "$SWAP" | cut -f1) on $(df --output=source "$SWAP" | tail -1) ($(stat -f -c %T "$SWAP"))"
echo
echo "## memwarden trim of a ${MIB} MiB anonymous allocation"
python3 - "$MIB" <<'PY'
import json, subprocess, sys, time
mib = int(sys.argv[1])
child = subprocess.Popen(["target/release/examples/alloc_child", str(mib)], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
pid = int(child.stdout.readline().split()[1])
print("| run | RSS before | RSS after | freed | time | throughput |")
print("|---|---|---|---|---|---|")
for run in range(1, 4):
    out = subprocess.run(["target/release/memwarden", "trim", "--pid", str(pid), "--json", "--min-swap-free", "0"],
                         capture_output=True, text=True, check=True)
    r = json.loads(out.stdout)
    gib = r["freed_bytes"] / 2**30
    print(f"| {run} | {r['rss_before_bytes']/2**30:.2f} GiB | {r['rss_after_bytes']/2**20:.1f} MiB | "
          f"{gib:.2f} GiB | {r['duration_ms']:.0f} ms | {gib / (r['duration_ms'] / 1e3):.2f} GiB/s |")
    child.stdin.write("touch\n"); child.stdin.flush()
    assert child.stdout.readline().strip() == "ok"
    time.sleep(1)
child.stdin.write("exit\n"); child.stdin.flush(); child.wait()
PY
