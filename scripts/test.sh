#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds, runs every Boost.Test suite via ctest.
# Extra arguments go to CMake's configure step (e.g. -DKSERDE_NATIVE_ARCH=OFF).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/build.sh "$@"
cd "${KSERDE_BUILD_DIR:-build}"
ctest --output-on-failure -j "$(nproc 2>/dev/null || echo 2)"
