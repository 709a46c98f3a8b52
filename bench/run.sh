#!/usr/bin/env bash
# Snapshot benchmarks: memwarden against what the seed scripts use (psutil), side by
# side in one run, on a machine with at least 500 user processes.
#
#  1. in-process: memwarden_core::collect (examples/bench_snapshot) vs psutil
#     (bench/psutil_check.py --bench): N calls each after a warm-up;
#  2. whole process: `memwarden check --json` and `memwarden status` vs
#     `python3 bench/psutil_check.py` (the venv's python), with hyperfine, or a
#     small timing loop where hyperfine cannot be installed.
#  3. (--heap only) cleanup of 1 GiB of freed-but-retained heap, memwarden's Python
#     cleanup vs the seeds' gc + torch cache (bench/heap_workload.py; builds and
#     installs the memwarden wheel into the venv).
#
#  4. (--against REV) the same measurements for the memwarden of git revision REV,
#     built in a worktree under target/, in the same run: before/after figures of a
#     change (with --heap, REV's wheel cleans up the same heap in its own venv).
#
# Usage: bench/run.sh [N] [--heap] [--against REV]   N = in-process calls per variant (300)
# Environment: RUNS (hyperfine runs per command, 50), MIN_PROCS (500),
#   MAX_LOAD (1.0) and LOAD_WAIT_S (600): wait, polling every 30 s, for the 1-minute
#   load to drop to MAX_LOAD before measuring (LOAD_WAIT_S=0 skips the wait).
# Raw results land in target/bench-results/; the markdown goes to stdout.
# Needs: Linux, cargo, python3 with venv. Results: docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."

N=300
HEAP=0
AGAINST=
while [ $# -gt 0 ]; do
  case "$1" in
    --heap) HEAP=1 ;;
    --against) AGAINST=${2:?--against takes a git revision}; shift ;;
    '' | *[!0-9]*) echo "usage: bench/run.sh [N] [--heap] [--against REV]" >&2; exit 2 ;;
    *) N=$1 ;;
  esac
  shift
done
RUNS=${RUNS:-50}
MIN_PROCS=${MIN_PROCS:-500}
MAX_LOAD=${MAX_LOAD:-1.0}
LOAD_WAIT_S=${LOAD_WAIT_S:-600}
OUT=target/bench-results
VENV=target/bench-venv
PY=$VENV/bin/python
MW=target/release/memwarden
mkdir -p "$OUT"

log() { echo "bench/run.sh: $*" >&2; }

# --- setup: venv with psutil, release builds ------------------------------------
if [ ! -x "$PY" ]; then
  log "creating $VENV"
  python3 -m venv "$VENV"
fi
"$PY" -m pip install -q --disable-pip-version-check psutil
log "building (release)"
cargo build -q --release -p memwarden-cli --bins --examples
cargo build -q --release -p memwarden-core --example bench_snapshot

# --against: REV built in its own worktree and target directory.
OLD_MW=
if [ -n "$AGAINST" ]; then
  REV=$(git rev-parse --short "$AGAINST")
  WT=target/bench-against/$REV
  [ -d "$WT" ] || git worktree add -q --detach "$WT" "$REV"
  log "building $REV (release) in $WT"
  (cd "$WT" && CARGO_TARGET_DIR=../target cargo build -q --release -p memwarden-cli --bins &&
    CARGO_TARGET_DIR=../target cargo build -q --release -p memwarden-core --example bench_snapshot)
  OLD_MW=target/bench-against/target/release/memwarden
  OLD_BENCH=target/bench-against/target/release/examples/bench_snapshot
fi

if ! command -v hyperfine >/dev/null && command -v apt-get >/dev/null; then
  log "installing hyperfine"
  apt-get install -y -qq hyperfine >/dev/null 2>&1 ||
    { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq hyperfine >/dev/null 2>&1; } ||
    log "hyperfine could not be installed: falling back to a timing loop"
fi

# --- at least MIN_PROCS user processes --------------------------------------------
# Counted the way both implementations count them: a PID whose statm shows resident
# pages (kernel threads show 0). Idle `sleep`s fill the gap; the trap stops exactly
# the ones started here, on every exit path.
sleepers=()
waiter=
cleanup() {
  if [ -n "$waiter" ]; then kill "$waiter" 2>/dev/null || true; waiter=; fi
  if [ ${#sleepers[@]} -gt 0 ]; then
    kill "${sleepers[@]}" 2>/dev/null || true
    wait "${sleepers[@]}" 2>/dev/null || true
    sleepers=()
  fi
}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

user_procs() {
  "$PY" - <<'PY'
import os
n = 0
for d in os.listdir("/proc"):
    if d.isdigit():
        try:
            with open(f"/proc/{d}/statm") as f:
                n += int(f.read().split()[1]) > 0
        except (OSError, IndexError, ValueError):
            pass
print(n)
PY
}
have=$(user_procs)
need=$((MIN_PROCS + 20 - have)) # a margin for processes that come and go
if [ "$need" -gt 0 ]; then
  log "$have user processes: starting $need sleep processes"
  for ((i = 0; i < need; i++)); do
    sleep 86400 </dev/null >/dev/null 2>&1 &
    sleepers+=($!)
  done
  sleep 1
fi

# --- quiet machine ---------------------------------------------------------------
load1() { cut -d' ' -f1 /proc/loadavg; }
waited=0
while awk -v l="$(load1)" -v m="$MAX_LOAD" 'BEGIN { exit !(l > m) }'; do
  if [ "$waited" -ge "$LOAD_WAIT_S" ]; then
    log "load $(load1) still above $MAX_LOAD after ${waited}s: measuring anyway"
    break
  fi
  log "1-minute load $(load1) > $MAX_LOAD: waiting 30 s"
  # In the background so that a signal ends the wait at once (the trap runs then).
  sleep 30 &
  waiter=$!
  wait "$waiter" || true
  waiter=
  waited=$((waited + 30))
done

{
  echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "nproc=$(nproc)"
  echo "mem_total_kib=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)"
  echo "kernel=$(uname -r)"
  echo "cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
  echo "user_processes=$(user_procs)"
  echo "proc_entries=$(find /proc -maxdepth 1 -name '[0-9]*' | wc -l)"
  echo "sleepers_started=${#sleepers[@]}"
  echo "load_before=$(cut -d' ' -f1-3 /proc/loadavg)"
  echo "python=$("$PY" -c 'import sys; print(sys.version.split()[0])')"
  echo "psutil=$("$PY" -c 'import psutil; print(psutil.__version__)')"
  echo "memwarden=$("$MW" --version)"
} >"$OUT/machine.env"

# --- 1. in-process ----------------------------------------------------------------
log "in-process: $N calls per variant"
target/release/examples/bench_snapshot "$N" >"$OUT/inprocess.jsonl"
if [ -n "$OLD_MW" ]; then
  # Tagged "memwarden@REV" so the report tells the two builds apart.
  "$OLD_BENCH" "$N" | sed -E "s/\"impl\": ?\"memwarden/\"impl\":\"memwarden@$REV/" >>"$OUT/inprocess.jsonl"
fi
"$PY" bench/psutil_check.py --bench "$N" >>"$OUT/inprocess.jsonl"
echo "load_after_inprocess=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/machine.env"

# --- 2. whole process -------------------------------------------------------------
# hyperfine measures one command after another: with --against, each of REV's
# commands runs right before this tree's, so drift over the run cannot favour one.
CMDS=("$MW check --json" "$MW status")
[ -z "$OLD_MW" ] || CMDS=("$OLD_MW check --json" "$MW check --json" "$OLD_MW status" "$MW status")
CMDS+=("$PY bench/psutil_check.py" "$PY -c 'import psutil'")
rm -f "$OUT/whole.json"
if command -v hyperfine >/dev/null; then
  log "whole process: hyperfine, $RUNS runs per command"
  hyperfine -N --warmup 5 --runs "$RUNS" --style none --export-json "$OUT/whole.json" \
    "${CMDS[@]}" >/dev/null
  echo "whole_process_tool=hyperfine $(hyperfine --version | cut -d' ' -f2)" >>"$OUT/machine.env"
else
  log "whole process: timing loop, $RUNS runs per command"
  "$PY" - "$RUNS" "$OUT/whole.json" "${CMDS[@]}" <<'PY'
import json, shlex, statistics, subprocess, sys, time
runs, out, cmds = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
results = []
for cmd in cmds:
    argv = shlex.split(cmd)
    for _ in range(5):
        subprocess.run(argv, stdout=subprocess.DEVNULL, check=True)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - t)
    results.append({"command": cmd, "mean": statistics.mean(times), "stddev": statistics.stdev(times),
                    "median": statistics.median(times), "min": min(times), "max": max(times), "times": times})
json.dump({"results": results}, open(out, "w"))
PY
  echo "whole_process_tool=python subprocess loop" >>"$OUT/machine.env"
fi
echo "load_after=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/machine.env"
cleanup

# --- report -----------------------------------------------------------------------
"$PY" - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
env = dict(l.rstrip("\n").split("=", 1) for l in open(f"{out}/machine.env") if "=" in l)
rows = {(r["impl"].split()[0], r["key"]): r for r in map(json.loads, open(f"{out}/inprocess.jsonl"))}
whole = {r["command"]: r for r in json.load(open(f"{out}/whole.json"))["results"]}

print("## Machine\n")
print(f"- {env['nproc']} cores ({env['cpu']}), {int(env['mem_total_kib']) / 2**20:.1f} GiB RAM, kernel {env['kernel']}")
print(f"- {env['user_processes']} user processes ({env['proc_entries']} PIDs in /proc; "
      f"{env['sleepers_started']} idle `sleep`s started for the run)")
print(f"- load average before: {env['load_before']}; after in-process: {env['load_after_inprocess']}; "
      f"after whole-process: {env['load_after']}")
print(f"- {env['memwarden']}, Python {env['python']}, psutil {env['psutil']}, {env['whole_process_tool']}, {env['date']}\n")

mw, mw_sys = rows[("memwarden", "full")], rows[("memwarden", "system")]
ps_fresh, ps_cached = rows[("psutil", "fresh")], rows[("psutil", "cached")]
n = mw["n"]
print(f"## In-process snapshot ({n} calls per variant after a warm-up, ms)\n")
print("| implementation | variant | processes | median | p10 | p90 | psutil median / memwarden median |")
print("|---|---|---:|---:|---:|---:|---:|")
for r in (mw, mw_sys, ps_cached, ps_fresh):
    ratio = f"**{r['median_ms'] / mw['median_ms']:.1f}x**" if r["impl"].startswith("psutil") else ""
    print(f"| {r['impl']} | {r['variant']} | {r['processes']} | {r['median_ms']:.3f} | {r['p10_ms']:.3f} | "
          f"{r['p90_ms']:.3f} | {ratio} |")
first = mw.get("first_call_ms")
if first is not None:
    print(f"\nmemwarden's first call in a fresh process (opens every statm, tries NVML): {first:.3f} ms")
if "gpu" in mw:
    print(f"\nGPU probe: {mw['gpu']}")
r_cached = ps_cached["median_ms"] / mw["median_ms"]
r_fresh = ps_fresh["median_ms"] / mw["median_ms"]
verdict = "met" if r_cached >= 10 else "MISSED"
aim = "aim of 20x reached" if r_cached >= 20 else "aim of 20x not reached"
print(f"\nTarget (library >= 10x psutil in-process, aim 20x): {verdict} -- {r_cached:.1f}x against psutil's "
      f"cached steady state, {r_fresh:.1f}x against a fresh process_iter; {aim}.\n")

print("## Whole process (ms)\n")
ref = next(c for c in whole if c.endswith("bench/psutil_check.py"))
print("| command | mean ± sd | median | min | max | python+psutil median / this median |")
print("|---|---:|---:|---:|---:|---:|")
for cmd, r in whole.items():
    ms = {k: r[k] * 1e3 for k in ("mean", "stddev", "median", "min", "max")}
    ratio = whole[ref]["median"] / r["median"]
    print(f"| `{cmd}` | {ms['mean']:.1f} ± {ms['stddev']:.1f} | {ms['median']:.1f} | {ms['min']:.1f} | "
          f"{ms['max']:.1f} | {ratio:.1f}x |")
check = next(c for c in whole if c.endswith("check --json"))
rm = whole[ref]["median"] / whole[check]["median"]
rmean = whole[ref]["mean"] / whole[check]["mean"]
verdict = "met" if min(rm, rmean) >= 10 else ("MISSED" if max(rm, rmean) < 10 else "borderline")
print(f"\nTarget (`memwarden check --json` >= 10x python3 + psutil as a whole process): {verdict} -- "
      f"{rm:.1f}x by median, {rmean:.1f}x by mean.")

old = {k[1]: r for k, r in rows.items() if k[0].startswith("memwarden@")}
if old:
    rev = next(k[0] for k in rows if k[0].startswith("memwarden@")).split("@")[1]
    print(f"\n## Before / after: memwarden@{rev} against this tree (medians, ms)\n")
    print(f"| measurement | memwarden@{rev} | this tree | after / before |")
    print("|---|---:|---:|---:|")
    for key in ("full", "system"):
        b, a = old[key]["median_ms"], rows[("memwarden", key)]["median_ms"]
        print(f"| in-process snapshot, {key} | {b:.3f} | {a:.3f} | {a / b:.2f} |")
    for sub in ("check --json", "status"):
        b = next(r for c, r in whole.items() if "bench-against" in c and c.endswith(sub))["median"] * 1e3
        a = next(r for c, r in whole.items() if "bench-against" not in c and c.endswith(sub) and "memwarden" in c)["median"] * 1e3
        print(f"| whole process, `memwarden {sub}` | {b:.2f} | {a:.2f} | {a / b:.2f} |")
PY

# --- 3. heap cleanup (opt-in) -----------------------------------------------------
if [ "$HEAP" = 1 ]; then
  "$PY" -m pip install -q --disable-pip-version-check maturin
  # This tree's wheel, whatever an earlier run installed.
  "$PY" -m pip install -q --force-reinstall --no-deps .
  if "$PY" -c 'import torch' 2>/dev/null; then flag=--torch; else flag=; fi
  echo
  echo "## Cleanup of 1 GiB freed-but-retained heap"
  echo
  rm -f "$OUT/heap.jsonl"
  "$PY" bench/heap_workload.py --approach seed --mib 2048 $flag >>"$OUT/heap.jsonl"
  if [ -n "$OLD_MW" ]; then
    # REV's wheel in its own venv (torch, when used, from the main venv's packages).
    OLD_VENV=target/bench-against/venv-$REV
    [ -x "$OLD_VENV/bin/python" ] || python3 -m venv "$OLD_VENV"
    "$OLD_VENV/bin/python" -m pip install -q --disable-pip-version-check maturin
    "$OLD_VENV/bin/python" -c 'import memwarden' 2>/dev/null ||
      "$OLD_VENV/bin/python" -m pip install -q "$WT"
    site=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    echo "$site" >"$("$OLD_VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/main-venv.pth"
  fi
  # Five rounds, this tree and REV alternating, each in a fresh process.
  for _ in 1 2 3 4 5; do
    "$PY" bench/heap_workload.py --approach memwarden --mib 2048 $flag >>"$OUT/heap.jsonl"
    [ -z "$OLD_MW" ] ||
      "$OLD_VENV/bin/python" bench/heap_workload.py --approach memwarden --mib 2048 $flag |
      sed -E "s/\"approach\": ?\"memwarden/\"approach\": \"memwarden@$REV/" >>"$OUT/heap.jsonl"
  done
  "$PY" - "$OUT/heap.jsonl" <<'PY'
import json, statistics, sys
runs = {}
for r in map(json.loads, open(sys.argv[1])):
    runs.setdefault(r["approach"], []).append(r)
print("| approach | runs | RSS after / live (median) | cleanup time, median s |")
print("|---|---:|---:|---:|")
for name, rs in runs.items():
    ratio = statistics.median(r["after_over_live"] for r in rs)
    took = statistics.median(r["cleanup_s"] for r in rs)
    print(f"| {name} | {len(rs)} | {ratio:.3f} | {took:.3f} |")
PY
fi
