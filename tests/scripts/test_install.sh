#!/usr/bin/env bash
# cmake --install into a staging folder (DESTDIR, as a package build does):
# the binary, example config and reference data (also under /etc/customsflow),
# schemas and systemd unit land where the install rules say, and the installed
# binary runs and validates the installed example config.
set -euo pipefail
BIN=$1; SRC=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
DESTDIR="$tmp" cmake --install . --prefix /usr >/dev/null
for f in usr/bin/customsflow usr/share/customsflow/examples/customsflow.yaml \
         usr/share/customsflow/examples/rules.yaml usr/share/customsflow/examples/reference/fx_rates.csv \
         usr/share/customsflow/schemas/declaration.schema.json lib/systemd/system/customsflow.service \
         etc/customsflow/customsflow.yaml etc/customsflow/rules.yaml \
         etc/customsflow/reference/fx_rates.csv; do
  [ -e "$tmp/$f" ] || { echo "FAIL: $f not installed"; exit 1; }
done
"$tmp/usr/bin/customsflow" --version | grep -q '^customsflow ' || { echo "FAIL: --version"; exit 1; }
for c in usr/share/customsflow/examples/customsflow.yaml etc/customsflow/customsflow.yaml; do
  "$tmp/usr/bin/customsflow" check-config -c "$tmp/$c" >/dev/null ||
    { echo "FAIL: installed check-config of $c"; exit 1; }
done
echo "install: ok"
