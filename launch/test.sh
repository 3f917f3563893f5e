#!/usr/bin/env bash
# Set-up and build, then every test through ctest, in two builds:
#  1. build-asan/ (NSL_SANITIZE=ON: AddressSanitizer + UndefinedBehaviorSanitizer on everything
#     we compile): the unit and MPI suites (labels unit, mpi) without the long end-to-end programs
#     (label e2e, NSL_E2E_TESTS=OFF: not even built). A failure stops here.
#  2. build/ (Release, what users run): every test (labels unit, mpi, e2e, multihost, slurm, fuzz).
# Exits non-zero on any failure; the last thing printed is a ctest summary. Arguments are passed to
# the second ctest (e.g. -L unit). NSL_SANITIZE_TESTS=0 skips the sanitizer build (quick loops).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
# The test packages too (clang, Boost.Test, Chromium, Slurm, ...), for both builds below.
export NSL_SETUP_TESTS=1
launch/setup.sh
BUILD_DIR=${NSL_BUILD_DIR:-build}
echo "test: clang-format check"
launch/check_format.sh
echo "test: set-up, build and format check took $(( $(date +%s) - start )) s"

if [ "${NSL_SANITIZE_TESTS:-1}" != 0 ]; then
  asan_start=$(date +%s)
  ASAN_DIR=${NSL_ASAN_BUILD_DIR:-build-asan}
  # The fuzz targets are built (and run) by the Release build already; no NCCL back end here.
  NSL_BUILD_DIR=$ASAN_DIR NSL_CMAKE_ARGS="-DNSL_SANITIZE=ON -DNSL_WITH_NCCL=OFF -DNSL_FUZZ=OFF -DNSL_E2E_TESTS=OFF" \
    launch/setup.sh
  echo "test: sanitizer build took $(( $(date +%s) - asan_start )) s; running its unit and MPI tests"
  (cd "$ASAN_DIR" && ctest --output-on-failure --timeout 1200 -L 'unit|mpi')
  echo "test: sanitizer build and tests took $(( $(date +%s) - asan_start )) s"
fi

cd "$BUILD_DIR"
echo "test: running ctest in $BUILD_DIR"
# ctest's own summary stays the last thing printed; its exit code is the script's.
exec ctest --output-on-failure --timeout 900 "$@"
