#!/usr/bin/env bash
# ctest entry for the client-library tests of `facet serve` (tests/e2e/*.test.mjs).
# Exits 77 (ctest: skipped) when the npm packages are not installed.
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -d node_modules/openai ] || [ ! -d node_modules/ollama ]; then
  echo "SKIPPED: tests/e2e/node_modules is missing; run ./scripts/install-deps.sh (npm ci --prefix tests/e2e)"
  exit 77
fi
# Arguments: the test files to run (default: the client and tool-call suites).
if [ "$#" -eq 0 ]; then set -- clients.test.mjs tools.test.mjs images.test.mjs audio.test.mjs; fi
exec node --test --test-concurrency=1 "$@"
