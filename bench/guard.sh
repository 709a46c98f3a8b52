#!/usr/bin/env bash
# The headroom guard's benchmarks (bench/guard.py) for both ComfyUI generations,
# side by side with ComfyUI alone, in one run; as root (memory cgroups).
#
#     sudo bench/guard.sh [survival cannot-fit room predict latency idle]   (all by default)
#
# The ComfyUIs and their venvs come from scripts/comfyui-env (set up when missing),
# the memwarden wheel is built into each venv, the neighbour binary with cargo.
# Raw results: target/bench-results/guard-<what>-<generation>.json; what each
# measures: bench/guard.py's docstring. Needs a quiet machine: the neighbour's rate
# and the reaction latency depend on the CPU being free.
set -euo pipefail
cd "$(dirname "$0")/.."
what=("$@")
[ ${#what[@]} -gt 0 ] || what=(survival cannot-fit room predict latency idle)
out=target/bench-results
mkdir -p "$out"
cargo build -q --release -p memwarden-cli --example neighbour
export MEMWARDEN_NEIGHBOUR=$PWD/target/release/examples/neighbour
for w in "${what[@]}"; do
  case $w in
    latency | idle)
      [ -x .venv/bin/python ] || { echo "bench/guard.sh: run scripts/test once first (it makes .venv)" >&2; exit 2; }
      .venv/bin/python -m pip install -q --no-deps --force-reinstall .
      echo "== $w"
      .venv/bin/python bench/guard.py "$w" --json "$out/guard-$w.json"
      ;;
    *)
      for id in $(scripts/comfyui-env list | cut -d' ' -f1); do
        scripts/comfyui-env setup "$id" >/dev/null
        py=$(scripts/comfyui-env python "$id")
        "$py" -m pip install -q --no-deps --force-reinstall .
        echo "== $w in ComfyUI $id"
        "$py" bench/guard.py "$w" "$(scripts/comfyui-env dir "$id")" "$py" --json "$out/guard-$w-$id.json"
      done
      ;;
  esac
done
