#!/usr/bin/env bash
# Makes sure a nats-server >= 2.10 is on this machine (the controller).
# Uses the distribution's package when it is new enough; otherwise fetches
# Debian trixie's package with a throwaway apt configuration (the machine's own
# apt sources and state are not touched) and installs its static binary into
# /usr/local/bin. Idempotent: a second run with a good binary does nothing.
set -euo pipefail

MIN_MINOR=10
have_ok() {
  local bin v
  bin=$(command -v nats-server 2>/dev/null) || return 1
  v=$("$bin" --version 2>/dev/null | grep -oE '[0-9]+\.[0-9]+\.[0-9]+' | head -1) || return 1
  local major=${v%%.*} rest=${v#*.}; local minor=${rest%%.*}
  [[ $major -gt 2 || ( $major -eq 2 && $minor -ge $MIN_MINOR ) ]] || return 1
  echo "nats-server $v at $bin"
}

if have_ok; then exit 0; fi

export DEBIAN_FRONTEND=noninteractive
# The distribution's own candidate first.
cand=$(apt-cache policy nats-server 2>/dev/null | awk '/Candidate:/ {print $2}')
if [[ -z "$cand" || "$cand" == "(none)" ]]; then
  apt-get update -qq >/dev/null 2>&1 || true
  cand=$(apt-cache policy nats-server 2>/dev/null | awk '/Candidate:/ {print $2}')
fi
if [[ -n "$cand" && "$cand" != "(none)" ]] && dpkg --compare-versions "$cand" ge "2.$MIN_MINOR"; then
  apt-get install -y -qq nats-server >/dev/null
  have_ok && exit 0
fi

# Fall back to trixie's package through a temporary apt configuration.
mirror=$(bash "$(dirname "$0")/debian-mirror.sh")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/lists/partial" "$tmp/cache/archives/partial"
echo "deb [trusted=yes] $mirror trixie main" >"$tmp/sources.list"
apt_tmp=(-o Dir::Etc::sourcelist="$tmp/sources.list" -o Dir::Etc::sourceparts=- \
  -o Dir::State::Lists="$tmp/lists" -o Dir::Cache="$tmp/cache" -o APT::Get::List-Cleanup=0 \
  -o APT::Sandbox::User=root)
apt-get "${apt_tmp[@]}" update -qq >/dev/null
(cd "$tmp" && apt-get "${apt_tmp[@]}" download nats-server >/dev/null)
deb=$(ls "$tmp"/nats-server_*.deb | head -1)
dpkg -x "$deb" "$tmp/x"
install -m 0755 "$tmp/x/usr/sbin/nats-server" /usr/local/bin/nats-server
have_ok
