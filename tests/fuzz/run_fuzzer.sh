#!/usr/bin/env bash
# run_fuzzer.sh TARGET CORPUS_DIR SECONDS MIN_RUNS
# Runs one libFuzzer target for SECONDS on a scratch copy of the seed corpus CORPUS_DIR (fuzzing
# never writes into the source tree; every seed, crash-* regression inputs included, runs first)
# and fails when the fuzzer reports a crash, leak, timeout or out-of-memory, or when it ran fewer
# than MIN_RUNS inputs (parsed from libFuzzer's final "Done N runs in S second(s)" lines). On a
# busy machine that fell short in SECONDS it goes on, from the corpus it grew, for the missing
# inputs (at most 3 x SECONDS more), so a shared CI runner does not fail a healthy target.
# tests/fuzz/dict/<target>.dict is passed as -dict= when it exists. Failing inputs and the full log
# are kept under $NSL_FUZZ_ARTIFACTS/<target>/ (default: ./fuzz-artifacts/<target>/).
set -uo pipefail

if [ $# -ne 4 ]; then
  echo "usage: $0 TARGET CORPUS_DIR SECONDS MIN_RUNS" >&2
  exit 2
fi
target=$1
corpus=$2
seconds=$3
min_runs=$4
name=$(basename "$target")
here=$(cd "$(dirname "$0")" && pwd)

if [ ! -x "$target" ]; then
  echo "run_fuzzer: $target is not an executable: build the fuzz targets first" >&2
  exit 2
fi
if [ ! -d "$corpus" ]; then
  echo "run_fuzzer: seed corpus $corpus is not a folder" >&2
  exit 2
fi

artifacts=$(mkdir -p "${NSL_FUZZ_ARTIFACTS:-$PWD/fuzz-artifacts}/$name" &&
  cd "${NSL_FUZZ_ARTIFACTS:-$PWD/fuzz-artifacts}/$name" && pwd) || exit 2
rm -f "$artifacts"/crash-* "$artifacts"/leak-* "$artifacts"/timeout-* "$artifacts"/oom-* \
  "$artifacts"/slow-unit-*
log=$artifacts/$name.log

scratch=$(mktemp -d "${TMPDIR:-/tmp}/nsl_$name.XXXXXX") || exit 2
trap 'rm -rf "$scratch"' EXIT
mkdir "$scratch/corpus"
cp -R "$corpus"/. "$scratch/corpus/"

args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
  -artifact_prefix="$artifacts/")
if [ -f "$here/dict/$name.dict" ]; then
  args+=(-dict="$here/dict/$name.dict")
fi
# Shorter allocation stacks and a smaller quarantine than ASan's defaults (30 frames, 256 MiB):
# recording every allocation's stack is the biggest single cost of these allocation-heavy parsers.
# Options already in the environment come last, so they win.
export ASAN_OPTIONS="detect_leaks=1:malloc_context_size=10:quarantine_size_mb=64${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"

echo "run_fuzzer: $target ${args[*]} $scratch/corpus (seeds: $corpus)"
"$target" "${args[@]}" "$scratch/corpus" >"$log" 2>&1
rc=$?

runs_in() { grep -E '^Done [0-9]+ runs in [0-9]+ second' "$1" | tail -n 1 | sed -nE 's/^Done ([0-9]+) runs.*/\1/p'; }
found_files() {
  ls "$artifacts"/crash-* "$artifacts"/leak-* "$artifacts"/timeout-* "$artifacts"/oom-* 2>/dev/null
}
done_line=$(grep -E '^Done [0-9]+ runs in [0-9]+ second' "$log" | tail -n 1)
runs=$(runs_in "$log")
if [ $rc -eq 0 ] && [ -z "$(found_files)" ] && [ -n "$runs" ] && [ "$runs" -lt "$min_runs" ]; then
  more=$((min_runs - runs))
  echo "run_fuzzer: $runs inputs in $seconds s (a busy machine?): $more more, at most $((3 * seconds)) s"
  extra=(-max_total_time="$((3 * seconds))" -runs="$more" -timeout=10 -rss_limit_mb=2048
    -print_final_stats=1 -artifact_prefix="$artifacts/")
  if [ -f "$here/dict/$name.dict" ]; then extra+=(-dict="$here/dict/$name.dict"); fi
  "$target" "${extra[@]}" "$scratch/corpus" >"$log.more" 2>&1
  rc=$?
  cat "$log.more" >>"$log"
  more_runs=$(runs_in "$log.more")
  rm -f "$log.more"
  runs=$((runs + ${more_runs:-0}))
  seconds="$seconds + up to $((3 * seconds))"
  done_line="Done $runs runs in all"
fi
found=$(found_files)

if [ $rc -ne 0 ] || [ -n "$found" ]; then
  tail -n 100 "$log"
  echo
  echo "run_fuzzer: FAILED: $name exited with status $rc (crash, leak, timeout or out of memory)"
  if [ -n "$found" ]; then
    for f in $found; do echo "run_fuzzer: the failing input was saved as $f"; done
    echo "run_fuzzer: reproduce with: $target <that file>; after fixing the bug, copy it into" \
      "$corpus/ as a regression input"
  else
    echo "run_fuzzer: no failing input was saved; see the log $log"
  fi
  exit 1
fi

grep -E '^stat::|^#[0-9]+.*DONE' "$log"
echo "$done_line"
if [ -z "$runs" ]; then
  echo "run_fuzzer: FAILED: no 'Done N runs' line in the log $log" >&2
  exit 1
fi
if [ "$runs" -lt "$min_runs" ]; then
  echo "run_fuzzer: FAILED: $name ran $runs inputs in $seconds s, fewer than the $min_runs" \
    "required: the target or the machine is too slow (see $log)" >&2
  exit 1
fi
echo "run_fuzzer: OK: $name ran $runs inputs in $seconds s without a failure" \
  "(corpus: $(ls "$scratch/corpus" | wc -l) inputs)"
