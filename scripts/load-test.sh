#!/usr/bin/env bash
# Load test of `facet serve` on loopback with the tiny real-vocabulary model: 1, 4 and 16
# concurrent streaming chats (a quarter of the clients hang up midway), every finished
# stream checked for completeness, memory back near its baseline, aggregate tokens/s.
# Usage: scripts/load-test.sh [--streams 1,4,16] [--tokens 64] [--parallel 16]
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x build/facet ] || { echo "error: build/facet is missing; build first (scripts/test.sh or cmake + ninja)" >&2; exit 1; }
exec node tests/e2e/load-test.mjs "$@"
