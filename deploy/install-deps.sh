#!/usr/bin/env bash
# Installs every Debian 12 package customsflow needs to build, test and benchmark.
# Idempotent; run as root (or via sudo). Nothing else is installed by hand.
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
PKGS=(
  build-essential cmake pkg-config git
  librdkafka-dev        # Kafka client + rdkafka_mock.h (embedded broker)
  libxxhash-dev         # XXH3 fingerprints
  libjemalloc-dev       # allocator
  libjsmn-dev           # JSON tokenizer (decode stage: exact error classification)
  libsimdjson-dev       # JSON parser (decode stage fast path, C++ behind a C interface)
  libyaml-dev           # config and rules files
  libcsv-dev            # reference-data CSV files
  libmicrohttpd-dev     # /metrics, /healthz, /readyz; the review console's web server (TLS via GnuTLS)
  zlib1g-dev            # CRC32: replay --partitions assigns keys as librdkafka's partitioner
  libsqlite3-dev        # the review console's case store
  libargon2-dev         # console passwords (Argon2id)
  libgnutls28-dev       # console session-token digests (SHA-256)
  libjs-chart.js        # the console's charts, served by the console itself (no CDN)
  chromium chromium-driver python3-selenium  # the console's browser test (headless)
  openssl               # a throw-away certificate for the console's TLS test
  libcmocka-dev         # unit tests
  clang libclang-rt-14-dev  # sanitizers and libFuzzer
  kcat                  # Kafka CLI used by benches and the demo instructions
  python3 python3-jsonschema python3-yaml  # schema checks in tests (config YAML -> JSON)
  prometheus            # promtool: tests check /metrics with `promtool check metrics`
  ca-certificates       # TLS CAs (a relative ssl.ca.location test copies the system bundle)
  dpkg-dev adduser systemd  # the .deb: dpkg-shlibdeps for its Depends, its postinst, systemd-analyze verify
  strace                # test_replay_state: the state save is write, fsync, rename, fsync(dir)
)
# CF_DEPS_NO_BROWSER=1 (image builds): without the browser test's chromium and driver
if [ "${CF_DEPS_NO_BROWSER:-0}" = 1 ]; then
  KEEP=()
  for p in "${PKGS[@]}"; do
    case $p in chromium|chromium-driver|python3-selenium) ;; *) KEEP+=("$p") ;; esac
  done
  PKGS=("${KEEP[@]}")
fi
if [ "${CF_SKIP_APT_UPDATE:-0}" != 1 ]; then
  $SUDO apt-get update -qq
fi
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${PKGS[@]}" >/dev/null
echo "install-deps: ok (${#PKGS[@]} packages)"
