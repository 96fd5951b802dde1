#!/usr/bin/env bash
# What the main job needs from Debian on the controller (as root), and nothing
# else: openssh-client (ssh, ssh-keygen), openssl, ca-certificates and a
# nats-server >= 2.10. It starts, stops, enables and disables no service of
# the machine: nats-server is installed as a plain binary (install-nats-server.sh),
# never as Debian's package, whose postinst would enable and start a
# nats-server.service. The test lab's tools are scripts/setup-tests.sh's.
# Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive

source scripts/lib/apt.sh
install_missing setup openssh-client openssl ca-certificates

bash scripts/install-nats-server.sh
