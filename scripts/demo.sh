#!/usr/bin/env bash
# The main job: installs, builds, then runs the seed workflow in C++ (build -> save -> load ->
# predict, with the proof that predictions and weights are identical), and loads a real
# Keras-written file from tests/golden to print its summary and predictions against Keras's own.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/build.sh
build_dir="${KSERDE_BUILD_DIR:-build}"
out="${KSERDE_DEMO_DIR:-demo-output}"
mkdir -p "$out"
"$build_dir/bin/kserde_seed_workflow" "$out" tests/golden
