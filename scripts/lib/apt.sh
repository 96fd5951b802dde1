# Sourced by the set-up scripts: Debian packages installed only when missing.
# installed PKG           true when dpkg has PKG installed
# install_missing WHO P…  apt-get installs those of P… not installed yet (no recommends)

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

install_missing() {
  local who=$1 pkg need=()
  shift
  for pkg in "$@"; do
    installed "$pkg" || need+=("$pkg")
  done
  ((${#need[@]})) || return 0
  echo "$who: installing ${need[*]}"
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
}
