#!/usr/bin/env bash
# Installs every Debian package nsl_dist needs (idempotent: skips apt when all are present), then
# configures and builds Release into build/. Binaries: build/nsl_dist and the test programs.
# Environment: NSL_BUILD_DIR (default build), NSL_CMAKE_ARGS (extra cmake arguments), NSL_JOBS,
# NSL_BUILD_TARGET (build only this target, e.g. nsl_dist; default: everything).
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  build-essential cmake ccache pkg-config clang-format
  clang libclang-rt-14-dev
  libtorch-dev libopenblas0-openmp
  libopenmpi-dev openmpi-bin
  libhdf5-dev hdf5-tools
  libyaml-cpp-dev nlohmann-json3-dev libcli11-dev
  libboost-test-dev
  libopencv-dev libmatio-dev libfaiss-dev
  iproute2
  gnuplot-nox chromium fonts-dejavu-core
  slurm-wlm munge
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: packages are missing and this is not root: run as root or install: ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "setup: all ${#PACKAGES[@]} packages present"
fi

# The NCCL back end is compiled and linked wherever CUDA with NCCL is installed (it runs only where
# there is a GPU); NSL_CMAKE_ARGS=-DNSL_WITH_NCCL=OFF turns it off.
CUDA_ROOT=${CUDA_ROOT:-/usr/local/cuda}
if [ -f "$CUDA_ROOT/include/nccl.h" ] && [[ "${NSL_CMAKE_ARGS:-}" != *NSL_WITH_NCCL* ]]; then
  echo "setup: CUDA with NCCL found at $CUDA_ROOT: building the NCCL back end"
  NSL_CMAKE_ARGS="${NSL_CMAKE_ARGS:-} -DNSL_WITH_NCCL=ON"
fi

BUILD_DIR=${NSL_BUILD_DIR:-build}
JOBS=${NSL_JOBS:-$(nproc)}
export CCACHE_DIR=${CCACHE_DIR:-${HOME:-/root}/.cache/ccache}
# Relative paths in ccache's keys: clones in other folders reuse each other's objects.
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD}
# Every translation unit uses the precompiled header: without these, ccache refuses all of them
# ("could not use precompiled header") and caches nothing.
export CCACHE_SLOPPINESS=${CCACHE_SLOPPINESS:-pch_defines,time_macros,include_file_mtime,include_file_ctime}
# shellcheck disable=SC2086
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release ${NSL_CMAKE_ARGS:-}
if [ -n "${NSL_BUILD_TARGET:-}" ]; then
  cmake --build "$BUILD_DIR" -j "$JOBS" --target "$NSL_BUILD_TARGET"
else
  cmake --build "$BUILD_DIR" -j "$JOBS"
fi
echo "setup: built $BUILD_DIR/nsl_dist"
