#!/usr/bin/env bash
# Per-prompt overhead of the background manager in a real ComfyUI: the same 300
# small CPU prompts (tests/e2e/manager_soak.py) without the manager and with it as
# the Smart Memory Manager node starts it (defaults, no faults), alternated,
# ROUNDS times each (default 2). Prints one JSON object per run.
#
#     COMFYUI_DIR=/path/to/ComfyUI bench/manager_overhead.sh [ROUNDS]
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
py=${COMFYUI_PYTHON:-$repo/.venv/bin/python}
rounds=${1:-2}
out=$(mktemp -d)
for r in $(seq "$rounds"); do
    for mode in off plain; do
        "$py" "$repo/tests/e2e/manager_soak.py" --prompts 300 --work 512x512x4 --manager "$mode" --json "$out/$mode-$r.json" >/dev/null
        python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); d.pop("rss_mib_every_25"); print(json.dumps(d))' "$out/$mode-$r.json"
    done
done
rm -rf "$out"
