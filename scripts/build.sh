#!/usr/bin/env bash
# Configures and builds facet in Release into build/ (the `facet` binary is build/facet).
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
ninja -C build
