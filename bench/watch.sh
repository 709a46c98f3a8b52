#!/usr/bin/env bash
# The cost of `memwarden watch` against the live views users run instead, measured
# side by side over the same minute: `memwarden watch` (1 s refresh; sorted by
# memory, the default, and by PID), `top -d 1`
# and `htop -d 10` (htop counts tenths of a second: 1 s too), each in its own
# detached tmux session of the same size (120x40) on a private tmux server.
#
#  - CPU: utime + stime of the tool's process (/proc/PID/stat, in clock ticks)
#    at the start and the end of the minute, in percent of one core over the
#    wall time between the two readings;
#  - RSS: VmRSS (/proc/PID/status) sampled every second, mean and maximum;
#  - each tool runs `exec`ed in its pane (the pane's PID is the tool's), with
#    HOME set to a scratch directory so top and htop neither read nor write the
#    user's configuration; the screens are captured at the end to show that each
#    tool was drawing.
#
# Usage: bench/watch.sh [SECONDS]   (default 60)
# Environment: PROCS (0): start idle `sleep`s until at least this many processes
#   with resident memory exist (each tool reads every process; the trap stops
#   exactly the sleeps started here); WARM (3): seconds each tool runs before the
#   minute starts.
# Raw results: target/bench-results/watch.tsv; the markdown goes to stdout.
# Needs: Linux, cargo, tmux (Debian package tmux); top (procps) and htop (Debian
# package htop) are measured where installed, and the output says which is not.
set -euo pipefail
cd "$(dirname "$0")/.."

SECS=${1:-60}
case "$SECS" in '' | *[!0-9]* | 0) echo "usage: bench/watch.sh [SECONDS]" >&2; exit 2 ;; esac
PROCS=${PROCS:-0}
WARM=${WARM:-3}
W=120
H=40
OUT=target/bench-results
mkdir -p "$OUT"
log() { echo "bench/watch.sh: $*" >&2; }

command -v tmux >/dev/null || { log "needs tmux (Debian package tmux)"; exit 1; }
log "building the release binary"
cargo build --release --locked -q -p memwarden-cli
BIN=$PWD/target/release/memwarden

TMP=$(mktemp -d)
SOCK=$TMP/tmux.socket
mkdir -p "$TMP/home"
sleepers=()
cleanup() {
  tmux -S "$SOCK" kill-server 2>/dev/null || true
  if [ ${#sleepers[@]} -gt 0 ]; then
    kill "${sleepers[@]}" 2>/dev/null || true
    wait "${sleepers[@]}" 2>/dev/null || true
    sleepers=()
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

# Processes with resident memory (kernel threads show 0 in statm).
user_procs() {
  local n=0 d rss
  for d in /proc/[0-9]*; do
    rss=$(cut -d' ' -f2 "$d/statm" 2>/dev/null) || continue
    [ "${rss:-0}" -gt 0 ] && n=$((n + 1))
  done
  echo "$n"
}
have=$(user_procs)
need=$((PROCS - have))
if [ "$need" -gt 0 ]; then
  log "$have processes: starting $need sleep processes"
  for ((i = 0; i < need; i++)); do
    sleep 86400 </dev/null >/dev/null 2>&1 &
    sleepers+=($!)
  done
  sleep 1
fi

# Sorted by memory (the default), watch reads /proc/PID/status only for the rows
# on screen; sorted by PID it reads every process's, as top and htop do.
names=("memwarden watch" "memwarden watch --sort pid")
cmds=("$BIN watch" "$BIN watch --sort pid")
missing=()
if command -v top >/dev/null; then names+=("top -d 1"); cmds+=("top -d 1"); else missing+=("top (procps)"); fi
if command -v htop >/dev/null; then names+=("htop -d 10"); cmds+=("htop -d 10"); else missing+=("htop (Debian package htop)"); fi

pids=()
for i in "${!cmds[@]}"; do
  pid=$(env -u TMUX tmux -f /dev/null -S "$SOCK" new-session -d -P -F '#{pane_pid}' \
    -s "s$i" -x "$W" -y "$H" "exec env HOME=$TMP/home ${cmds[$i]}")
  pids+=("$pid")
done
sleep "$WARM"

ticks() { # utime + stime of PID, from the fields after the command name
  local stat
  stat=$(cat "/proc/$1/stat")
  stat=${stat##*") "}
  awk '{print $12 + $13}' <<<"$stat"
}
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
hz=$(getconf CLK_TCK)
procs=$(user_procs)

declare -A t0 sum max n
for p in "${pids[@]}"; do t0[$p]=$(ticks "$p"); sum[$p]=0; max[$p]=0; n[$p]=0; done
w0=$(date +%s.%N)
for ((s = 0; s < SECS; s++)); do
  sleep 1
  for p in "${pids[@]}"; do
    r=$(rss_kib "$p") || { log "PID $p exited during the run"; exit 1; }
    sum[$p]=$((sum[$p] + r))
    n[$p]=$((n[$p] + 1))
    [ "$r" -gt "${max[$p]}" ] && max[$p]=$r
  done
done
w1=$(date +%s.%N)
declare -A t1
for p in "${pids[@]}"; do t1[$p]=$(ticks "$p"); done
load=$(cut -d' ' -f1-3 /proc/loadavg)

for i in "${!pids[@]}"; do
  tmux -S "$SOCK" capture-pane -p -t "s$i" >"$OUT/watch-screen-$i.txt"
done

printf 'tool\tcpu_percent_of_a_core\trss_mean_kib\trss_max_kib\n' >"$OUT/watch.tsv"
echo "Run: $(date -u '+%Y-%m-%d %H:%M UTC'), ${SECS} s per tool, all at once in ${W}x${H} tmux sessions,"
echo "$procs processes with resident memory, $(nproc) CPUs, load $load at the end."
echo
echo "| tool | CPU, % of one core | RSS mean | RSS max |"
echo "|---|---:|---:|---:|"
for i in "${!pids[@]}"; do
  p=${pids[$i]}
  cpu=$(awk -v a="${t0[$p]}" -v b="${t1[$p]}" -v hz="$hz" -v w0="$w0" -v w1="$w1" \
    'BEGIN {printf "%.2f", (b - a) / hz / (w1 - w0) * 100}')
  mean=$((sum[$p] / n[$p]))
  printf '%s\t%s\t%s\t%s\n' "${names[$i]}" "$cpu" "$mean" "${max[$p]}" >>"$OUT/watch.tsv"
  awk -v t="${names[$i]}" -v c="$cpu" -v m="$mean" -v x="${max[$p]}" \
    'BEGIN {printf "| `%s` | %s %% | %.1f MiB | %.1f MiB |\n", t, c, m / 1024, x / 1024}'
done
for m in "${missing[@]}"; do echo; echo "Not measured: $m is not installed."; done
for i in "${!pids[@]}"; do
  grep -q . "$OUT/watch-screen-$i.txt" || { log "${names[$i]} drew nothing"; exit 1; }
done
