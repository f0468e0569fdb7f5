#!/usr/bin/env bash
# cmake --install into a temporary prefix: the binary, example config, reference
# data, schemas and systemd unit land where the install rules say, and the
# installed binary runs and validates the installed example config.
set -euo pipefail
BIN=$1; SRC=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cmake --install . --prefix "$tmp/usr" >/dev/null
for f in bin/customsflow share/customsflow/examples/customsflow.yaml \
         share/customsflow/examples/rules.yaml share/customsflow/examples/reference/fx_rates.csv \
         share/customsflow/schemas/declaration.schema.json lib/systemd/system/customsflow.service; do
  [ -e "$tmp/usr/$f" ] || { echo "FAIL: $f not installed"; exit 1; }
done
"$tmp/usr/bin/customsflow" --version | grep -q '^customsflow ' || { echo "FAIL: --version"; exit 1; }
"$tmp/usr/bin/customsflow" check-config -c "$tmp/usr/share/customsflow/examples/customsflow.yaml" \
  >/dev/null || { echo "FAIL: installed check-config"; exit 1; }
echo "install: ok"
