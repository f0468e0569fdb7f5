#!/usr/bin/env bash
# The Debian package, built by CPack on the install rules, installed with apt
# (as CI runs as root): customsflow_<version>_<arch>.deb holds the binary, the
# example config under /etc/customsflow (conffiles), the systemd unit; its
# postinst creates the system user; the installed binary prints its version
# and validates the installed config as that user; `systemd-analyze verify`
# accepts the installed unit. The package is purged afterwards.
set -euo pipefail
BIN=$1; SRC=$2
[ "$(id -u)" -eq 0 ] || { echo "SKIP: installing a package needs root"; exit 77; }
if ldd "$BIN" | grep libasan > /dev/null; then echo "SKIP: sanitizer build (the release build is packaged)"; exit 77; fi
if dpkg -s customsflow >/dev/null 2>&1; then echo "SKIP: customsflow is installed on this machine"; exit 77; fi
prefix=$(sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' CMakeCache.txt)
[ "$prefix" = /usr ] || {
  echo "FAIL: this build folder installs into $prefix: a package needs /usr (a new build folder"
  echo "      defaults to it; or: cmake -DCMAKE_INSTALL_PREFIX=/usr .)"; exit 1; }
tmp=$(mktemp -d)
cleanup() { dpkg --purge customsflow >/dev/null 2>&1 || true; rm -rf "$tmp"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

cpack -G DEB -B "$tmp" > "$tmp/cpack.log" 2>&1 || { cat "$tmp/cpack.log"; fail "cpack"; }
ver=$("$BIN" --version | awk '{print $2}')
deb=$(ls "$tmp"/customsflow_"$ver"_*.deb 2>/dev/null | head -1)
[ -n "$deb" ] || fail "no customsflow_${ver}_<arch>.deb in: $(ls "$tmp")"
dpkg-deb -c "$deb" > "$tmp/files"
for f in ./usr/bin/customsflow ./etc/customsflow/customsflow.yaml ./etc/customsflow/rules.yaml \
         ./etc/customsflow/reference/fx_rates.csv ./lib/systemd/system/customsflow.service \
         ./usr/share/customsflow/schemas/declaration.schema.json; do
  grep -q " $f\$" "$tmp/files" || fail "$f not in the package"
done
dpkg-deb -f "$deb" Depends | grep -q librdkafka1 || fail "Depends lacks librdkafka1: $(dpkg-deb -f "$deb" Depends)"
dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles | grep -q '^/etc/customsflow/customsflow.yaml$' ||
  fail "the config is not a conffile"

DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=300 "$deb" \
  > "$tmp/apt.log" 2>&1 || { tail -20 "$tmp/apt.log"; fail "apt-get install of the package"; }
/usr/bin/customsflow --version | grep -qx "customsflow $ver" || fail "installed --version"
getent passwd customsflow > /dev/null || fail "no system user customsflow"
(cd / && runuser -u customsflow -- /usr/bin/customsflow check-config -c /etc/customsflow/customsflow.yaml) \
  > "$tmp/check" 2>&1 || fail "installed check-config as the customsflow user: $(cat "$tmp/check")"
systemd-analyze verify /lib/systemd/system/customsflow.service > "$tmp/verify" 2>&1 ||
  fail "systemd-analyze verify: $(cat "$tmp/verify")"
echo "deb: ok ($(basename "$deb"): installed, --version, check-config as customsflow, unit verified)"
