#!/usr/bin/env bash
# The main job's set-up on a fresh Debian machine (as root): the Debian
# packages it needs and a nats-server >= 2.10 (install-packages.sh), then the
# npm dependencies (which build dist/). It changes no service of the machine
# and installs none of the test lab's tools (scripts/setup-tests.sh does).
# Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-packages.sh

if [[ ! -d node_modules ]] || [[ package-lock.json -nt node_modules/.package-lock.json ]]; then
  npm ci --no-audit --no-fund
else
  npm run -s build
fi
