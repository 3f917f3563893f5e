#!/usr/bin/env bash
# tests/bench/same_metrics.sh A/metrics.jsonl B/metrics.jsonl
# Exit 0 when the two runs' metrics are identical, every value of every epoch compared exactly,
# except the wall-clock fields (seconds, images_per_s); otherwise prints the differing lines.
# Used to check that a refactor leaves training unchanged (same config, same seed). Needs jq.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 A/metrics.jsonl B/metrics.jsonl" >&2; exit 2; }
strip() { jq -c -S 'del(.seconds, .images_per_s)' "$1"; }
a=$(strip "$1")
b=$(strip "$2")
if [ "$a" = "$b" ]; then
  echo "same_metrics: identical ($(printf '%s\n' "$a" | wc -l) epochs; seconds and images_per_s ignored)"
else
  echo "same_metrics: the runs differ:" >&2
  diff <(printf '%s\n' "$a") <(printf '%s\n' "$b") >&2 || true
  exit 1
fi
