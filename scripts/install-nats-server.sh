#!/usr/bin/env bash
# Makes sure a nats-server >= 2.10 is on this machine (the controller), as a
# plain binary in /usr/local/bin: Debian's nats-server package would also
# enable and start its own nats-server.service (its postinst does), a service
# the machine did not ask for. So the package is only downloaded and its
# static binary taken out (dpkg -x): the distribution's own package when its
# candidate is new enough, else Debian trixie's, fetched with a throwaway apt
# configuration (the machine's apt sources and state are not touched).
# Idempotent: a second run with a good binary does nothing.
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
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/dl"
# apt's download sandbox user cannot write into a root-only temp folder.
sandbox=(-o APT::Sandbox::User=root)

# The distribution's own candidate first (from the lists the machine has).
cand=$(apt-cache policy nats-server 2>/dev/null | awk '/Candidate:/ {print $2}')
if [[ -n "$cand" && "$cand" != "(none)" ]] && dpkg --compare-versions "$cand" ge "2.$MIN_MINOR"; then
  (cd "$tmp/dl" && apt-get "${sandbox[@]}" download nats-server >/dev/null)
else
  # Trixie's package through a temporary apt configuration.
  mirror=$(bash "$(dirname "$0")/debian-mirror.sh")
  mkdir -p "$tmp/lists/partial" "$tmp/cache/archives/partial"
  echo "deb [trusted=yes] $mirror trixie main" >"$tmp/sources.list"
  apt_tmp=(-o Dir::Etc::sourcelist="$tmp/sources.list" -o Dir::Etc::sourceparts=- \
    -o Dir::State::Lists="$tmp/lists" -o Dir::Cache="$tmp/cache" -o APT::Get::List-Cleanup=0 "${sandbox[@]}")
  apt-get "${apt_tmp[@]}" update -qq >/dev/null
  (cd "$tmp/dl" && apt-get "${apt_tmp[@]}" download nats-server >/dev/null)
fi
deb=$(ls "$tmp"/dl/nats-server_*.deb | head -1)
dpkg -x "$deb" "$tmp/x"
"$tmp/x/usr/sbin/nats-server" --version >/dev/null
# Temp name + rename: a running node never sees half a binary.
install -m 0755 "$tmp/x/usr/sbin/nats-server" /usr/local/bin/.nats-server.new
mv -f /usr/local/bin/.nats-server.new /usr/local/bin/nats-server
have_ok
