#!/usr/bin/env bash
# The whole test suite, from a fresh clone on a fresh Debian machine (as root):
# set-up, typecheck, a 3-host lab, every test (unit, lab, end-to-end), and the
# lab taken down again whatever happened. Exits with the tests' exit code.
set -euo pipefail
cd "$(dirname "$0")/.."

lab() { node --import tsx test/lab/cli.ts "$@"; }
# A lab of its own (10.99.9.0/24), fresh for this run: a lab someone left up on
# this machine (instance 1) is neither reused with its leftovers nor disturbed.
export UNIBUS_LAB_INSTANCE="${UNIBUS_LAB_INSTANCE:-9}"

bash scripts/setup-tests.sh
npm run -s typecheck
# What setup should have left: every controller and lab tool (fails loudly if not).
node bin/unibus.js doctor --lab

set +e
trap 'lab down || echo "ci: lab down failed" >&2' EXIT
t0=$SECONDS
lab down
lab up --hosts 3
up_rc=$?
echo "ci: lab up (3 hosts) exit $up_rc in $((SECONDS - t0)) s"
# The lab tests still run when up failed: under CI=true they fail and say why.
npm test
test_rc=$?
echo "ci: tests exit $test_rc after $SECONDS s in all"
if ((test_rc != 0)); then exit "$test_rc"; fi
exit "$up_rc"
