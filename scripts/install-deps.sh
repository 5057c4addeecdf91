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
  libpng-dev libjpeg62-turbo-dev libwebp-dev   # images in prompts: PNG, JPEG, WebP
  libsndfile1-dev libsamplerate0-dev           # audio in prompts: WAV, FLAC, OGG, MP3; resampling to 16 kHz
  nodejs                         # server end-to-end tests with the official npm clients
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

# NodeSource's nodejs package carries npm itself; Debian's nodejs needs the npm package.
command -v npm >/dev/null 2>&1 || missing+=(npm)

if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "install-deps: all packages present"
fi

# The npm clients the server's end-to-end tests drive (exact versions from the lock file).
cd "$(dirname "$0")/.."
if [ ! -d tests/e2e/node_modules ] || [ tests/e2e/package-lock.json -nt tests/e2e/node_modules ]; then
  echo "install-deps: npm ci --prefix tests/e2e"
  npm ci --prefix tests/e2e --no-audit --no-fund --loglevel=error
  touch tests/e2e/node_modules
fi
