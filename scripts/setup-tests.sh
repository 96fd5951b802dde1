#!/usr/bin/env bash
# The test command's set-up (as root): the main set-up, then what the tests
# and their lab need from the machine. debootstrap builds the lab's Debian
# base, systemd-container boots its hosts (systemd-nspawn), dpkg-dev indexes
# their offline apt repository (dpkg-scanpackages), iproute2 makes its bridge
# and namespaces, util-linux gives flock, mount and unshare; nftables makes
# the chaos play's partitions between local nodes (its service is not
# enabled by the package, and stays so); chromium renders
# the pages tests check (headless, in an empty network namespace);
# openssh-server gives the sshd binary that the transport tests start on
# loopback themselves.
# A machine's own sshd is left as it is: when openssh-server is already
# installed nothing is done to it, and when this script installs it, its
# service is neither started nor enabled (the tests need the binary only).
# Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive

bash scripts/setup.sh

# The nats-server releases unibus ships (src/inventory/nats-releases.ts),
# fetched into the controller's cache as `play bringup` fetches them (sha256
# checked, nothing installed): tests run the default one, the lab both.
arch=$(dpkg --print-architecture)
for v in $(node --input-type=module -e "const m = await import('./dist/inventory/nats-releases.js'); console.log(m.shippedVersions().join(' '))"); do
  node dist/controller/steps/nats-server.js "$v" "$arch" >/dev/null
  echo "setup-tests: nats-server $v ($arch) in the cache"
done

source scripts/lib/apt.sh
install_missing setup-tests iproute2 util-linux debootstrap systemd-container dpkg-dev nftables chromium

if ! installed openssh-server; then
  echo "setup-tests: installing openssh-server (the sshd binary only: its service is not started or enabled)"
  # invoke-rc.d and deb-systemd-invoke ask policy-rc.d; 101 forbids the start.
  # A policy the machine already has is left alone (it already decides).
  policy=/usr/sbin/policy-rc.d
  ours=""
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 0755 "$policy"
    ours=1
  fi
  trap '[[ -n $ours ]] && rm -f "$policy"' EXIT
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends openssh-server >/dev/null
  # The package's postinst enabled ssh.service for the next boot: undone, as
  # it was this script that installed it.
  if command -v deb-systemd-helper >/dev/null; then
    deb-systemd-helper disable ssh.service >/dev/null 2>&1 || true
  fi
fi
