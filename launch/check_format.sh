#!/usr/bin/env bash
# Fails when clang-format (.clang-format) would change any C++ file the repository tracks.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files '*.cpp' '*.h' 2>/dev/null || find src dist data launch tests -name '*.cpp' -o -name '*.h')
[ ${#files[@]} -gt 0 ] || { echo "check_format: no files"; exit 0; }
if ! clang-format --dry-run --Werror "${files[@]}"; then
  echo "check_format: run clang-format -i on the files above" >&2
  exit 1
fi
echo "check_format: ${#files[@]} files formatted"
