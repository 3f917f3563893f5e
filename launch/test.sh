#!/usr/bin/env bash
# Set-up and build, then every test through ctest (labels: unit, mpi). Exits non-zero on any
# failure. Arguments are passed to ctest (e.g. -L unit).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
launch/setup.sh
BUILD_DIR=${NSL_BUILD_DIR:-build}
echo "test: clang-format check"
launch/check_format.sh
cd "$BUILD_DIR"
echo "test: set-up, build and format check took $(( $(date +%s) - start )) s; running ctest"
# ctest's own summary stays the last thing printed; its exit code is the script's.
exec ctest --output-on-failure --timeout 900 "$@"
