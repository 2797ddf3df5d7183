#!/usr/bin/env bash
# Installs the Debian 12 packages kserde needs (only those missing). Run as root.
set -euo pipefail

packages=(
  g++ cmake ninja-build make pkg-config
  libboost-dev libboost-filesystem-dev libboost-test-dev   # Boost.DLL is header-only in libboost-dev
  rapidjson-dev libarchive-dev libeigen3-dev zlib1g-dev
  libhdf5-dev                                              # tests only: the independent HDF5 reference
  python3-sklearn                                          # demo only: its 8x8 digits data file
)
if [ "${KSERDE_WITH_FUZZ:-0}" = 1 ]; then packages+=(clang libclang-rt-14-dev); fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "kserde: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
