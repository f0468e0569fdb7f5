#!/usr/bin/env bash
# Bad configs: `check-config -c BAD` and `run -c BAD` both exit non-zero with
# "file:line" of the offending key and its name on stderr, and `run` fails
# before it connects to anything (a listener on its bootstrap address must see
# no connection). Each case gives the exact line the error must point at.
set -euo pipefail
BIN=$1 SRC=$2
PY=/usr/bin/python3
T=$(mktemp -d)
LPID=
trap '[ -n "$LPID" ] && kill $LPID 2>/dev/null; rm -rf "$T"' EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

# A TCP listener standing in for the broker: records any connection.
$PY - "$T/port" "$T/connected" <<'PYEOF' &
import socket, sys
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(16)
open(sys.argv[1] + ".tmp", "w").write(str(s.getsockname()[1]))
import os; os.rename(sys.argv[1] + ".tmp", sys.argv[1])
while True:
    c, _ = s.accept()
    open(sys.argv[2], "a").write("connection\n")
    c.close()
PYEOF
LPID=$!
for _ in $(seq 50); do [ -s "$T/port" ] && break; sleep 0.1; done
export CUSTOMSFLOW_KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:$(cat "$T/port")
export CUSTOMSFLOW_METRICS_LISTEN=127.0.0.1:0
ref=$SRC/deploy/examples/reference

# case NAME LINE KEY: the config is read from stdin
case_() {
  local name=$1 line=$2 key=$3 f=$T/$1.yaml
  cat > "$f"
  for cmd in check-config run; do
    local rc=0
    timeout 20 "$BIN" $cmd -c "$f" > "$T/out" 2> "$T/err" || rc=$?
    if [ $rc -eq 0 ] || [ $rc -eq 124 ]; then
      fail "$name: $cmd exited $rc (expected a config error)"; continue
    fi
    grep -qF "$f:$line:" "$T/err" || fail "$name: $cmd: no '$f:$line:' in: $(cat "$T/err")"
    grep -qF -- "$key" "$T/err" || fail "$name: $cmd: key '$key' not named in: $(cat "$T/err")"
  done
  echo "ok: $name: $(head -c 200 "$T/err")"
}

case_ top_level_unknown 3 "pipelines" <<'YAML'
pipeline:
  batch_size: 100
pipelines:
  batch_size: 100
YAML
case_ section_unknown_key 3 "batch_sise" <<'YAML'
pipeline:
  batch_size: 100
  batch_sise: 100
YAML
case_ wrong_type 2 "batch_size" <<'YAML'
pipeline:
  batch_size: abc
YAML
case_ out_of_range 2 "batch_size" <<'YAML'
pipeline:
  batch_size: 0
YAML
case_ bad_duration 3 "batch_timeout" <<'YAML'
# comment line
pipeline:
  batch_timeout: 10 parsecs
YAML
case_ bad_bool 2 "enabled" <<'YAML'
metrics:
  enabled: perhaps
YAML
case_ unknown_kafka_property 3 "fetch.wait.max.msec" <<'YAML'
kafka:
  client.id: bench
  fetch.wait.max.msec: 5
YAML
case_ unknown_consumer_property 3 "consumer.fetch.wait.max.msec" <<'YAML'
kafka:
  producer.linger.ms: 5
  consumer.fetch.wait.max.msec: 5
YAML
case_ bad_kafka_value 2 "enable.idempotence" <<'YAML'
kafka:
  enable.idempotence: maybe
YAML
case_ bad_workers 1 "workers" <<'YAML'
workers: 0
YAML
case_ workers_not_a_number 2 "workers" <<'YAML'
log: {level: info}
workers: two
YAML
# (stage configs name the bundled reference data: relative paths would
# resolve against the temp dir, and decode, the first stage, would fail first)
case_ unknown_stage 4 "dedupe" <<YAML
stages:
  decode:
    fx_rates: $ref/fx_rates.csv
  dedupe:
    window: 30d
YAML
case_ stage_unknown_key 6 "windw" <<YAML
stages:
  decode:
    fx_rates: $ref/fx_rates.csv
  dedup:
    window: 30d
    windw: 30d
YAML
case_ stage_wrong_type 5 "slices" <<YAML
stages:
  decode:
    fx_rates: $ref/fx_rates.csv
  dedup:
    slices: many
YAML
case_ stage_without_keys 5 "colour" <<YAML
stages:
  decode:
    fx_rates: $ref/fx_rates.csv
  encode:
    colour: blue
YAML
# stages as a list: b13c378 and later crashed on it (strcmp(NULL): segfault;
# found by fuzz_config); '- decode' then '- dedup: {}' was silently accepted
case_ stages_a_list 2 "stages: expected a map" <<YAML
stages:
- dedup: {}
- decode
YAML
case_ missing_reference_file 3 "fx_rates" <<YAML
stages:
  decode:
    fx_rates: $ref/no_such_fx_rates.csv
YAML
# libyaml reports the line where it noticed: after the unclosed list
case_ yaml_syntax_error 4 "YAML error" <<'YAML'
pipeline:
  batch_size: 100
  group_id: [unclosed
YAML

CUSTOMSFLOW_METRICS_LISTEN= case_ listen_port_out_of_range 2 "metrics.listen" <<'YAML'
metrics:
  listen: "127.0.0.1:99999"
YAML
CUSTOMSFLOW_METRICS_LISTEN= case_ listen_not_an_address 3 "metrics.listen" <<'YAML'
metrics:
  enabled: true
  listen: "metrics.example:9464"
YAML
case_ bad_topic_name 3 "topics.flags" <<'YAML'
topics:
  input: customs.declarations
  flags: "customs flags"
YAML
case_ cooperative_rebalancing 2 "cooperative rebalancing is not supported" <<'YAML'
kafka:
  partition.assignment.strategy: cooperative-sticky
YAML
case_ unknown_guarantee 2 "processing.guarantee" <<'YAML'
processing:
  guarantee: exactly_twice
YAML
case_ exactly_once_without_instance_id 4 "needs pipeline.instance_id" <<'YAML'
pipeline:
  batch_size: 100
processing:
  guarantee: exactly_once
YAML
case_ missing_ca_file 3 "ssl.ca.location" <<'YAML'
kafka:
  security.protocol: ssl
  ssl.ca.location: no_such_ca.pem
YAML

# Property combinations librdkafka checks only when a client is built: both
# commands build (not connect) every client, so both refuse them.
cat > "$T/sasl.yaml" <<'YAML'
kafka:
  security.protocol: sasl_ssl
  sasl.mechanism: SCRAM-SHA-512
YAML
for cmd in check-config run; do
  rc=0
  timeout 20 "$BIN" $cmd -c "$T/sasl.yaml" > "$T/out" 2> "$T/err" || rc=$?
  [ $rc -ne 0 ] && [ $rc -ne 124 ] || fail "sasl_without_credentials: $cmd exited $rc"
  grep -q "sasl.username and sasl.password must be set" "$T/err" ||
    fail "sasl_without_credentials: $cmd: $(cat "$T/err")"
done
echo "ok: sasl_without_credentials"

# kafka: file paths resolve against the config file's folder, not the working
# folder: a CA next to the config passes from anywhere.
mkdir -p "$T/cfgdir"
cp /etc/ssl/certs/ca-certificates.crt "$T/cfgdir/ca.pem"
cat > "$T/cfgdir/tls.yaml" <<YAML
kafka:
  security.protocol: ssl
  ssl.ca.location: ca.pem
stages:
  decode:
    fx_rates: $ref/fx_rates.csv
  detect:
    rules: $SRC/deploy/examples/rules.yaml
YAML
(cd / && "$BIN" check-config -c "$T/cfgdir/tls.yaml" > /dev/null 2> "$T/err") ||
  fail "relative ssl.ca.location not resolved against the config's folder: $(cat "$T/err")"
echo "ok: relative kafka paths"

# An environment override whose name is in a section but is none of its keys (a typo) is
# refused like an unknown key in the file, by both commands, before connecting; one that is
# a key passes; one in no section is only warned about.
for cmd in check-config run; do
  rc=0
  CUSTOMSFLOW_PIPELINE_COMMIT_INTERVALL=1s timeout 20 "$BIN" $cmd \
    -c "$SRC/deploy/examples/customsflow.yaml" > "$T/out" 2> "$T/err" || rc=$?
  [ $rc -ne 0 ] && [ $rc -ne 124 ] || fail "env_typo: $cmd exited $rc"
  grep -q "CUSTOMSFLOW_PIPELINE_COMMIT_INTERVALL is not a configuration key" "$T/err" ||
    fail "env_typo: $cmd: $(cat "$T/err")"
done
CUSTOMSFLOW_PIPELINE_COMMIT_INTERVAL=1s CUSTOMSFLOW_REPLAY_EPOCH_LINES=64 \
  CUSTOMSFLOW_CONSOLE_LISTEN=127.0.0.1:0 "$BIN" check-config \
  -c "$SRC/deploy/examples/customsflow.yaml" > /dev/null 2> "$T/err" ||
  fail "env_known: refused: $(cat "$T/err")"
CUSTOMSFLOW_NO_SUCH_SECTION=1 "$BIN" check-config -c "$SRC/deploy/examples/customsflow.yaml" \
  > /dev/null 2> "$T/err" || fail "env_other: refused: $(cat "$T/err")"
grep -q "CUSTOMSFLOW_NO_SUCH_SECTION is not read by customsflow" "$T/err" ||
  fail "env_other: no warning: $(cat "$T/err")"
echo "ok: environment overrides checked"

# The control: the example config passes, so the checks above can tell.
"$BIN" check-config -c "$SRC/deploy/examples/customsflow.yaml" > /dev/null ||
  fail "the example config does not pass check-config"
[ -e "$T/connected" ] && fail "run connected to the broker address with a bad config"
[ $fails -eq 0 ] || { echo "$fails failure(s)" >&2; exit 1; }
echo "ok: every bad config is refused with file:line and the key, before connecting"
