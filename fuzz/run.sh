#!/usr/bin/env bash
# Run every fuzz target for SECONDS (default 60), seeded with the captured files.
set -euo pipefail
cd "$(dirname "$0")"
SECONDS_PER_TARGET=${1:-60}
export RUSTC_BOOTSTRAP=${RUSTC_BOOTSTRAP:-1}
data=../crates/memwarden-core/tests/data
for t in fuzz_meminfo fuzz_psi fuzz_proc_status fuzz_maps_smaps fuzz_cgroup fuzz_helper_answer fuzz_request; do
  mkdir -p "corpus/$t"
  cp "$data"/* "corpus/$t"/ 2>/dev/null || true
  rm -f "corpus/$t/SOURCES.md"
  echo "== $t (${SECONDS_PER_TARGET}s)"
  cargo fuzz run "$t" -- -max_total_time="$SECONDS_PER_TARGET" -print_final_stats=1 2>&1 \
    | grep -E "stat::number_of_executed_units|stat::peak_rss_mb|Done|ERROR|panicked" || true
done
