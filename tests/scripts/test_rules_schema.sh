#!/usr/bin/env bash
# schemas/rules.schema.json is what `check-config --rules-schema` prints (it is
# generated from the rules' config maps; regenerate with
#   build/customsflow check-config --rules-schema | python3 -m json.tool > schemas/rules.schema.json
# ), the example and test rules files validate against it, and a rules file
# with a typo does not.
set -euo pipefail
BIN=$1 SRC=$2
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
"$BIN" check-config --rules-schema | /usr/bin/python3 -m json.tool > "$T/gen.json"
diff -u "$SRC/schemas/rules.schema.json" "$T/gen.json" || { echo "FAIL: schemas/rules.schema.json is stale"; exit 1; }
printf 'rules:\n  unit_value_outlier:\n    zscore: 4\n' > "$T/typo.yaml"
/usr/bin/python3 - "$SRC" "$T" <<'PYEOF'
import json, sys, yaml
from jsonschema import Draft202012Validator
src, t = sys.argv[1], sys.argv[2]
v = Draft202012Validator(json.load(open(f"{src}/schemas/rules.schema.json")))
for f in (f"{src}/deploy/examples/rules.yaml", f"{src}/tests/fixtures/detect/rules.yaml"):
    errs = list(v.iter_errors(yaml.safe_load(open(f))))
    assert not errs, (f, errs[0].message)
errs = list(v.iter_errors(yaml.safe_load(open(f"{t}/typo.yaml"))))
assert errs, "a typo in a rule key must not validate"
print("ok: rules schema current; examples valid; typo rejected")
PYEOF
"$BIN" check-config -c "$SRC/deploy/examples/customsflow.yaml" >/dev/null
