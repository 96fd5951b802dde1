#!/usr/bin/env bash
# Installs everything unibus and its tests need on a fresh Debian machine (as root):
# Debian packages, a nats-server >= 2.10, and the npm dependencies (which build dist/).
# Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive

# openssh-client, openssl: what unibus itself runs on the controller.
# The lab (test/lab/): debootstrap builds its Debian base, systemd-container
# boots the hosts (systemd-nspawn), dpkg-dev indexes their offline apt
# repository (dpkg-scanpackages), iproute2 makes its bridge and namespaces,
# util-linux gives flock and mount. openssh-server: sshd for lighter test hosts.
need=()
for pkg in openssh-client openssh-server openssl iproute2 util-linux debootstrap systemd-container dpkg-dev ca-certificates; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || need+=("$pkg")
done
if ((${#need[@]})); then
  echo "setup: installing ${need[*]}"
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# openssh-server's package enables an sshd on the machine itself; the lab runs its own.
if command -v systemctl >/dev/null && [[ -d /run/systemd/system ]]; then
  systemctl disable --now ssh >/dev/null 2>&1 || true
fi

bash scripts/install-nats-server.sh

if [[ ! -d node_modules ]] || [[ package-lock.json -nt node_modules/.package-lock.json ]]; then
  npm ci --no-audit --no-fund
else
  npm run -s build
fi
