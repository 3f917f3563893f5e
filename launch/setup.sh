#!/usr/bin/env bash
# Installs the Debian packages nsl_dist needs (idempotent: skips apt when all are present), then
# configures and builds Release into build/. Binaries: build/nsl_dist and the test programs.
# Environment: NSL_BUILD_DIR (default build), NSL_CMAKE_ARGS (extra cmake arguments), NSL_JOBS,
# NSL_BUILD_TARGET (build only this target, e.g. nsl_dist; default: everything),
# NSL_SETUP_TESTS (1: also install what the tests need and configure them; 0: only what building
# and running nsl_dist needs, tests configured only if their packages are all there already;
# default 1 when everything is built, 0 with NSL_BUILD_TARGET; launch/test.sh sets 1,
# launch/demo.sh 0), NSL_CONFIGURE_ONLY=1 (stop after cmake's configure step: set-up checks).
set -euo pipefail
cd "$(dirname "$0")/.."
setup_start=$(date +%s)

# Building and running nsl_dist and launch/demo.sh: compiler, CMake, LibTorch, MPI, HDF5, the
# parsers, OpenCV's core/imgproc/imgcodecs only (libopencv-dev would add ~50 packages: data/ finds
# the three libraries without its CMake config), matio, FAISS, gnuplot and a font for the report.
DEMO_PACKAGES=(
  g++ make ninja-build cmake ccache pkg-config
  libtorch-dev libopenblas0-openmp
  libopenmpi-dev openmpi-bin
  libhdf5-dev
  libyaml-cpp-dev nlohmann-json3-dev libcli11-dev
  libopencv-core-dev libopencv-imgproc-dev libopencv-imgcodecs-dev
  libmatio-dev libfaiss-dev
  gnuplot-nox fonts-dejavu-core
)
# Only the tests (launch/test.sh): the format check, clang for the fuzz targets, Boost.Test,
# OpenCV's CMake config (tests/cli), HDF5's tools, ip netns (multi-host), headless Chromium (the
# report test), Slurm, and the Python export checks (tests/python).
TEST_PACKAGES=(
  clang-format clang libclang-rt-14-dev
  libboost-test-dev libopencv-dev
  hdf5-tools iproute2 chromium
  slurm-wlm munge
  python3 python3-numpy python3-torch python3-torchvision python3-h5py python3-onnx python3-pil
)

if [ -z "${NSL_SETUP_TESTS:-}" ]; then
  NSL_SETUP_TESTS=$([ -n "${NSL_BUILD_TARGET:-}" ] && echo 0 || echo 1)
fi

missing_packages() {
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"
  done
}

PACKAGES=("${DEMO_PACKAGES[@]}")
what="build and run"
if [ "$NSL_SETUP_TESTS" = 1 ]; then
  PACKAGES+=("${TEST_PACKAGES[@]}")
  what="build, run and test"
fi
mapfile -t missing < <(missing_packages "${PACKAGES[@]}")
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing the packages to $what nsl_dist: ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: packages are missing and this is not root: run as root or install: ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
  echo "setup: installed ${#missing[@]} packages (and their dependencies) in $(($(date +%s) - setup_start)) s"
else
  echo "setup: all ${#PACKAGES[@]} packages to $what nsl_dist present"
fi

# The tests (Boost.Test, clang's fuzz targets, OpenCV's config) are configured with their packages:
# always under NSL_SETUP_TESTS=1; otherwise left as they are where every test package is already
# installed, and off where not (a first demo needs none of them).
if [[ "${NSL_CMAKE_ARGS:-}" != *NSL_BUILD_TESTS* ]]; then
  if [ "$NSL_SETUP_TESTS" = 1 ]; then
    NSL_CMAKE_ARGS="${NSL_CMAKE_ARGS:-} -DNSL_BUILD_TESTS=ON"
  elif [ -n "$(missing_packages "${TEST_PACKAGES[@]}")" ]; then
    echo "setup: the test packages are not all installed: configuring without the tests" \
         "(launch/test.sh, or NSL_SETUP_TESTS=1 launch/setup.sh, installs them and builds the tests)"
    NSL_CMAKE_ARGS="${NSL_CMAKE_ARGS:-} -DNSL_BUILD_TESTS=OFF"
  fi
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
build_start=$(date +%s)
# A new build folder uses Ninja (it starts a library's files while the one before it still links:
# about 20% off a first build on 2 cores); an existing one keeps the generator it was made with.
GENERATOR_ARGS=()
if [ ! -f "$BUILD_DIR/CMakeCache.txt" ] && command -v ninja >/dev/null; then
  GENERATOR_ARGS=(-G Ninja)
fi
# shellcheck disable=SC2086
cmake "${GENERATOR_ARGS[@]}" -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release ${NSL_CMAKE_ARGS:-}
if [ "${NSL_CONFIGURE_ONLY:-0}" = 1 ]; then
  echo "setup: configured $BUILD_DIR (NSL_CONFIGURE_ONLY=1: not building)"
  exit 0
fi
if [ -n "${NSL_BUILD_TARGET:-}" ]; then
  cmake --build "$BUILD_DIR" -j "$JOBS" --target "$NSL_BUILD_TARGET"
else
  cmake --build "$BUILD_DIR" -j "$JOBS"
fi
echo "setup: built $BUILD_DIR/nsl_dist (target ${NSL_BUILD_TARGET:-all}; configure and build $(($(date +%s) - build_start)) s)"
