#!/usr/bin/env bash
# Installs the Debian 12 packages facet needs to build and test.
# Only installs what is missing, so it is cheap to run again.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  clang lld libclang-rt-14-dev   # libFuzzer target and sanitizer builds
  nlohmann-json3-dev             # config.json, safetensors headers, CLI JSON output
  libcli11-dev                   # command-line parsing
  libhwy-dev                     # SIMD with runtime dispatch
  libcpp-httplib-dev             # HTTP server
  libgtest-dev libgmock-dev      # unit tests
  libbenchmark-dev               # micro-benchmarks
  libsentencepiece-dev           # independent tokenizer oracle in the tests
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "install-deps: all packages present"
fi
