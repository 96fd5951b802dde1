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
inv=${UNIBUS_INVENTORY:-inventory.yaml}
npx unibus play bringup -i "$inv" "$@"
# How to reach it: the cluster at a glance, with each node's addresses.
npx unibus status -i "$inv"
node --input-type=module -e '
  const { loadInventory } = await import("./dist/inventory/load.js");
  const { nodePorts } = await import("./dist/inventory/checks.js");
  const inv = loadInventory(process.argv[1]);
  for (const n of inv.nodes) {
    const p = nodePorts(inv.cluster, n);
    console.log(`${n.name}: control plane http://${n.public_ip}:${p.http}/healthz  NATS tls://${n.public_ip}:${p.nats} (nkey auth; CA out/${n.name}/ca.pem)`);
  }
  console.log("verify: npx unibus play verify   stop (data kept): npx unibus play stop");
' "$inv"
