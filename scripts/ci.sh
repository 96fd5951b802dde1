#!/usr/bin/env bash
# The whole test suite, from a fresh clone on a fresh Debian machine (as root):
# set-up, typecheck, unit tests, then the lab and the end-to-end tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npm run -s typecheck
npm test
