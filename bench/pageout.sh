#!/usr/bin/env bash
# Pageout throughput of `memwarden trim` against the raw sequential write speed of
# the filesystem that holds the swap file.
#
#  - holds an exclusive lock on /tmp/memwarden-swap.lock for the whole run (the test
#    suite takes the same lock: nothing else creates, enables or expects swap
#    meanwhile);
#  - creates a 3 GiB swap file under /var/tmp (dd from /dev/zero, chmod 600, mkswap,
#    swapon) and, on every exit path, turns it off and removes it (trap);
#  - measures the raw write speed of that filesystem: dd if=/dev/zero bs=1M
#    count=2048 oflag=direct into a new scratch file, then once more over the same
#    blocks (conv=notrunc: no block allocation, like swap writes); deleted afterwards;
#  - starts target/release/examples/alloc_child 2048 (2 GiB of written anonymous
#    memory; prints `ready PID`), runs `memwarden trim --pid PID --json` and reads
#    rss_before_bytes, rss_after_bytes, freed_bytes and duration_ms; three runs, the
#    child touching its memory back in (`touch` -> `ok`) between them. After each
#    trim it also waits for the kernel's swap writeback (/proc/meminfo Writeback) to
#    drain, so the table shows both when the process's RSS was gone and when the
#    data was on the device.
#
# Usage: bench/pageout.sh [MIB]   (default 2048 MiB per run; needs root for swapon)
# Raw results: target/bench-results/pageout.json; the markdown goes to stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
MIB=${1:-2048}
case "$MIB" in '' | *[!0-9]*) echo "usage: bench/pageout.sh [MIB]" >&2; exit 2 ;; esac
[ "$(id -u)" = 0 ] || { echo "bench/pageout.sh needs root (swapon)" >&2; exit 1; }
[ "$MIB" -le 2560 ] || { echo "MIB must fit the 3 GiB swap file (<= 2560)" >&2; exit 2; }
OUT=target/bench-results
mkdir -p "$OUT"
echo "bench/pageout.sh: building (release)" >&2
cargo build -q --release -p memwarden-cli --bins --examples

SWAP=/var/tmp/memwarden-bench.swap
DD=/var/tmp/memwarden-bench.dd
LOCK=/tmp/memwarden-swap.lock
locked=0
swap_on=0
cleanup() {
  # Before the lock is held the files may belong to another run: leave them alone.
  [ "$locked" = 1 ] || return 0
  if [ "$swap_on" = 1 ]; then swapoff "$SWAP" || echo "swapoff $SWAP failed" >&2; fi
  rm -f "$SWAP" "$DD"
}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

exec 9>"$LOCK"
echo "bench/pageout.sh: waiting for $LOCK" >&2
flock -x 9
locked=1
other_swap=$(swapon --noheadings --show=NAME | grep -vx "$SWAP" | tr '\n' ' ' || true)
[ -z "$other_swap" ] || echo "bench/pageout.sh: note: other swap active: $other_swap" >&2

# The swap file: written out completely (a swap file must have no holes) and synced,
# so its writeback does not overlap the measurements.
echo "bench/pageout.sh: creating a 3 GiB swap file" >&2
# A leftover of a run that was killed outright (SIGKILL skips the trap): the lock is
# ours now, so it is nobody else's.
if swapon --noheadings --show=NAME | grep -qx "$SWAP"; then swapoff "$SWAP"; fi
rm -f "$SWAP"
dd if=/dev/zero of="$SWAP" bs=1M count=3072 conv=fsync status=none
chmod 600 "$SWAP"
mkswap -q "$SWAP"
swap_on=1
swapon "$SWAP"

# First into a new file (the filesystem allocates blocks and converts unwritten
# extents as it goes), then over the same, now allocated, blocks (conv=notrunc): a
# swap file's blocks are allocated up front and swap writes bypass the filesystem, so
# the overwrite is the device's own speed. Both are reported.
echo "bench/pageout.sh: dd raw write, 2 GiB O_DIRECT (new file, then overwrite)" >&2
DD_LOG=$OUT/pageout-dd.txt
DD_OVER_LOG=$OUT/pageout-dd-overwrite.txt
dd if=/dev/zero of="$DD" bs=1M count=2048 oflag=direct 2>"$DD_LOG"
dd if=/dev/zero of="$DD" bs=1M count=2048 oflag=direct conv=notrunc 2>"$DD_OVER_LOG"
rm -f "$DD"
sync

python3 - "$MIB" "$SWAP" "$DD_LOG" "$DD_OVER_LOG" "$OUT/pageout.json" <<'PY'
from __future__ import annotations

import json, os, re, subprocess, sys, time

mib, swap, dd_log, dd_over_log, out = int(sys.argv[1]), *sys.argv[2:6]
GB, GIB = 1e9, 2**30

def meminfo() -> dict:
    with open("/proc/meminfo") as f:
        return {l.split(":")[0]: int(l.split()[1]) * 1024 for l in f}

def dd_result(path: str) -> tuple[int, float]:
    m = re.search(r"^(\d+) bytes .* copied, ([\d.]+) s", open(path).read(), re.M)
    return int(m.group(1)), float(m.group(2))

(dd_bytes, dd_s), (ddo_bytes, ddo_s) = dd_result(dd_log), dd_result(dd_over_log)
fs = subprocess.run(["df", "--output=source,fstype", swap], capture_output=True, text=True).stdout.split()[-2:]
stat_file = f"/sys/class/block/{os.path.basename(os.path.realpath(fs[0]))}/stat"

def sectors_written() -> int | None:
    """Sectors (512 B) written to the swap file's block device so far (others' writes included)."""
    try:
        with open(stat_file) as f:
            return int(f.read().split()[6])
    except (OSError, IndexError, ValueError):
        return None

child = subprocess.Popen(["target/release/examples/alloc_child", str(mib)],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
runs = []
try:
    line = child.stdout.readline().split()
    assert line[:1] == ["ready"], f"alloc_child said {line!r}"
    pid = int(line[1])
    for run in range(1, 4):
        time.sleep(1)
        w0 = sectors_written()
        t0 = time.perf_counter()
        res = subprocess.run(["target/release/memwarden", "trim", "--pid", str(pid), "--json",
                              "--min-swap-free", "0"], capture_output=True, text=True)
        wall_ms = (time.perf_counter() - t0) * 1e3
        if res.returncode != 0:
            sys.exit(f"memwarden trim failed ({res.returncode}): {res.stdout}{res.stderr}")
        r = json.loads(res.stdout)
        # Time until the swap writeback the trim submitted has landed on the device.
        while meminfo()["Writeback"] > 4 << 20 and time.perf_counter() - t0 < 120:
            time.sleep(0.005)
        drained_ms = (time.perf_counter() - t0) * 1e3
        w1 = sectors_written()
        runs.append({
            "run": run,
            "rss_before_bytes": r["rss_before_bytes"],
            "rss_after_bytes": r["rss_after_bytes"],
            "freed_bytes": r["freed_bytes"],
            "swap_after_bytes": r.get("swap_after_bytes"),
            "duration_ms": r["duration_ms"],
            "trim_wall_ms": wall_ms,
            "writeback_drained_ms": drained_ms,
            "device_written_bytes": None if w0 is None or w1 is None else (w1 - w0) * 512,
        })
        child.stdin.write("touch\n")
        child.stdin.flush()
        reply = child.stdout.readline().strip()
        assert reply == "ok", f"alloc_child said {reply!r} after touch"
    child.stdin.write("exit\n")
    child.stdin.flush()
    child.wait(timeout=60)
finally:
    if child.poll() is None:
        child.kill()
        child.wait()

json.dump({"mib": mib, "dd_bytes": dd_bytes, "dd_seconds": dd_s, "dd_overwrite_bytes": ddo_bytes,
           "dd_overwrite_seconds": ddo_s, "filesystem": fs, "runs": runs},
          open(out, "w"), indent=1)
dd_gbs = dd_bytes / dd_s / GB
print(f"## Pageout of {mib} MiB of anonymous memory vs the swap filesystem\n")
print(f"Swap file {swap} (3 GiB) on {fs[0]} ({fs[1]}); kernel {os.uname().release}.\n")
ddo_gbs = ddo_bytes / ddo_s / GB
print("| run | RSS before | RSS after | freed | trim duration_ms | pageout GB/s | "
      "until writeback drained | written to the device | vs dd new file | vs dd overwrite |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for r in runs:
    gbs = r["freed_bytes"] / (r["duration_ms"] / 1e3) / GB
    w = r["device_written_bytes"]
    written = "?" if w is None else f"{w / GIB:.2f} GiB"
    print(f"| {r['run']} | {r['rss_before_bytes'] / GIB:.2f} GiB | {r['rss_after_bytes'] / 2**20:.1f} MiB | "
          f"{r['freed_bytes'] / GIB:.2f} GiB | {r['duration_ms']:.0f} ms | **{gbs:.2f}** | "
          f"{r['writeback_drained_ms']:.0f} ms | {written} | {gbs / dd_gbs:.2f}x | {gbs / ddo_gbs:.2f}x |")
print(f"| `dd bs=1M oflag=direct`, new file | | | {dd_bytes / GIB:.2f} GiB written | {dd_s * 1e3:.0f} ms | "
      f"**{dd_gbs:.2f}** | | | 1.00x | |")
print(f"| `dd bs=1M oflag=direct conv=notrunc`, same blocks again | | | {ddo_bytes / GIB:.2f} GiB written | "
      f"{ddo_s * 1e3:.0f} ms | **{ddo_gbs:.2f}** | | | | 1.00x |")
PY
