#!/usr/bin/env bash
# The main job on a fresh Debian machine (as root): install what is needed,
# then bring up the default cluster described by inventory.yaml.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [[ ! -f playbooks/bringup.yaml ]]; then
  echo "bringup: playbooks/bringup.yaml is not part of this version yet; set-up is done (npx unibus inventory check works)." >&2
  exit 3
fi
exec npx unibus play bringup -i inventory.yaml "$@"
