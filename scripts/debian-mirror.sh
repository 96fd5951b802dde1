#!/usr/bin/env bash
# Prints the Debian mirror URI this machine's own apt sources use, so that
# nothing in the project names a mirror host.
set -euo pipefail
uri=""
for f in /etc/apt/sources.list.d/*.sources; do
  [[ -f $f ]] || continue
  uri=$(awk '/^URIs:/ {print $2; exit}' "$f")
  [[ -n $uri && $uri != *security* ]] && break
done
if [[ -z $uri && -f /etc/apt/sources.list ]]; then
  uri=$(awk '$1=="deb" && $0 !~ /security/ { for (i=2;i<=NF;i++) if ($i ~ /^(http|https|file):/) { print $i; exit } }' /etc/apt/sources.list)
fi
[[ -n $uri ]] || { echo "no Debian mirror found in /etc/apt/sources.list*" >&2; exit 1; }
echo "${uri%/}"
