#!/usr/bin/env bash
# Configures and builds kserde into ${KSERDE_BUILD_DIR:-build} (Release with debug info, tests on).
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir="${KSERDE_BUILD_DIR:-build}"
jobs="$(nproc 2>/dev/null || echo 2)"
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
cmake --build "$build_dir" -j "$jobs"
