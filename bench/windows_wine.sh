#!/usr/bin/env bash
# bench/windows_psutil.py under Wine: memwarden's snapshot against psutil in the
# official Windows embeddable CPython 3.12 (what ComfyUI portable ships), both
# from their win_amd64 wheels. Wine is not Windows (every call goes through
# wineserver); the number to cite is the one .github/workflows/windows.yml
# prints on a real Windows runner.
#   bench/windows_wine.sh [REPS=300] [SPAWN=40]
# WHEEL=path uses that win_amd64 wheel; otherwise one is built with
# `maturin build --release --target x86_64-pc-windows-gnu` into target/bench-win-wheel.
# Prints SKIPPED with the reason and exits 0 when something it needs is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
REPS=${1:-300}
SPAWN=${2:-40}
skip() {
  echo "SKIPPED: the Windows benchmark under Wine: $1"
  exit 0
}
command -v wine >/dev/null 2>&1 || skip "wine is missing (Debian: wine, wine64)"
MATURIN=$(command -v maturin || echo "$ROOT/target/wheel-tools/bin/maturin")
if [ -z "${WHEEL:-}" ]; then
  [ -x "$MATURIN" ] || skip "no maturin (pip install maturin, or run scripts/test-wheels once)"
  rm -rf target/bench-win-wheel
  "$MATURIN" build --release --target x86_64-pc-windows-gnu --out target/bench-win-wheel
  WHEEL=$(ls target/bench-win-wheel/memwarden-*-win_amd64.whl)
fi
# The embeddable CPython with the wheel in it, checked (prints SKIPPED itself).
OUT=$(scripts/test-windows-python "$WHEEL")
grep '^SKIPPED: ' <<<"$OUT" && exit 0
tail -n1 <<<"$OUT"
SITE=target/win-python/cp312/Lib/site-packages
python3 -m pip download -q --no-deps --only-binary=:all: --platform win_amd64 \
  --python-version 3.12 psutil -d target/win-python/dl || skip "could not download psutil from PyPI"
PSUTIL=$(ls target/win-python/dl/psutil-*-win_amd64.whl | sort -V | tail -n1)
python3 -m zipfile -e "$PSUTIL" "$SITE"
export WINEPREFIX="$ROOT/target/wine-prefix" WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
mkdir -p target/bench-results
echo "== $(basename "$PSUTIL"); load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
# Output through a pipe: Wine's python.exe cannot use a regular file as stdout.
wine target/win-python/cp312/python.exe bench/windows_psutil.py --reps "$REPS" --spawn "$SPAWN" \
  --json 'target\bench-results\windows_wine.json' </dev/null 2>&1 | cat
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg); raw: target/bench-results/windows_wine.json"
