#!/usr/bin/env bash
# schemas/config.schema.json is generated: it must equal `check-config --schema`
# (the config maps that parse the config), and the example config must
# validate against it.
#
# After a change to any config map (a new stage section, a new key), regenerate
# it with this one command from the repository root, and commit the result:
#   build/customsflow check-config --schema > schemas/config.schema.json
set -euo pipefail
BIN=$1 SRC=$2
PY=/usr/bin/python3
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

"$BIN" check-config --schema > "$TMP/schema.json"
if ! diff -u "$SRC/schemas/config.schema.json" "$TMP/schema.json" > "$TMP/diff"; then
  head -40 "$TMP/diff" >&2
  echo "FAIL: schemas/config.schema.json is stale; regenerate it:" >&2
  echo "  build/customsflow check-config --schema > schemas/config.schema.json" >&2
  exit 1
fi

# YAML -> JSON, then validate (python3-yaml and python3-jsonschema, see
# deploy/install-deps.sh). Scalars are kept as YAML types: durations and sizes
# may be numbers or strings, as the schema allows.
validate() { # schema yaml -> exit status of validation
  $PY - "$1" "$2" <<'PYEOF'
import json, sys, yaml, jsonschema
schema = json.load(open(sys.argv[1]))
jsonschema.Draft202012Validator.check_schema(schema)
doc = yaml.safe_load(open(sys.argv[2])) or {}
errs = sorted(jsonschema.Draft202012Validator(schema).iter_errors(doc), key=str)
for e in errs:
    print("%s: %s: %s" % (sys.argv[2], "/".join(map(str, e.absolute_path)), e.message),
          file=sys.stderr)
sys.exit(1 if errs else 0)
PYEOF
}

validate "$TMP/schema.json" "$SRC/deploy/examples/customsflow.yaml"
echo "ok: deploy/examples/customsflow.yaml validates"

# The schema must reject what check-config rejects (else validating proves nothing).
cat > "$TMP/typo.yaml" <<'YAML'
pipeline:
  batch_sise: 100
YAML
if validate "$TMP/schema.json" "$TMP/typo.yaml" 2>/dev/null; then
  echo "FAIL: the schema accepted an unknown key pipeline.batch_sise" >&2
  exit 1
fi
cat > "$TMP/type.yaml" <<'YAML'
stages:
  dedup:
    slices: many
YAML
if validate "$TMP/schema.json" "$TMP/type.yaml" 2>/dev/null; then
  echo "FAIL: the schema accepted stages.dedup.slices: many" >&2
  exit 1
fi
echo "ok: the schema rejects an unknown key and a wrong type"

# Every numeric value is bounded (issue 17: a valid config must not make one
# message cost seconds), in the config and the rules schema alike: integers,
# numbers, and the bare-number forms of durations and sizes. kafka: holds
# librdkafka's own properties, which librdkafka bounds.
"$BIN" check-config --rules-schema > "$TMP/rules.json"
$PY - "$TMP/schema.json" "$TMP/rules.json" <<'PYEOF'
import json, sys
bad = []
def walk(n, path):
    if isinstance(n, dict):
        t = n.get("type")
        ts = t if isinstance(t, list) else [t]
        if any(x in ("integer", "number") for x in ts) and not path.startswith(".properties.kafka") \
                and ("minimum" not in n or "maximum" not in n):
            bad.append(path)
        for k, v in n.items():
            walk(v, path + "." + k)
    elif isinstance(n, list):
        for i, v in enumerate(n):
            walk(v, "%s[%d]" % (path, i))
for f in sys.argv[1:]:
    walk(json.load(open(f)), "")
assert not bad, "unbounded numeric keys: %s" % bad
print("ok: every numeric key is bounded")
PYEOF
cat > "$TMP/deep.yaml" <<'YAML'
stages:
  decode:
    max_depth: 1000
YAML
if validate "$TMP/schema.json" "$TMP/deep.yaml" 2>/dev/null; then
  echo "FAIL: the schema accepted stages.decode.max_depth: 1000" >&2
  exit 1
fi
echo "ok: the schema rejects max_depth 1000"
