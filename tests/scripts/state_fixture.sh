# state_fixture.sh - sourced by the tests that restore an earlier release's
# replay state (test_state_upgrade.sh, test_state_v2.sh).
# state_fixture DIR INPUT: T is a new temporary folder (removed at exit) with
# state/replay-partition-0.state and INPUT unpacked from DIR's .gz fixtures.
state_fixture() {
  T=$(mktemp -d)
  trap 'rm -rf "$T"' EXIT
  mkdir "$T/state"
  gzip -dc "$1/replay-partition-0.state.gz" > "$T/state/replay-partition-0.state"
  gzip -dc "$1/$2.gz" > "$T/$2"
}
