#!/usr/bin/env bash
# Installs the real Kafka clients the compatibility tests drive, if they are missing:
#   kcat (Debian package), confluent-kafka / kafka-python / aiokafka with their codecs (PyPI, in a
#   virtualenv under target/compat), kafkajs with its codecs (npm, in compat/js/node_modules).
# Safe to run again: each step checks first.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "compat/setup.sh: need root to run: $*" >&2; return 1; fi
}

if ! command -v kcat >/dev/null; then
  echo "== installing kcat"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kcat
fi

VENV=target/compat/venv
PY_PACKAGES=("confluent-kafka==2.16.1" "kafka-python[snappy,lz4,zstd,crc32c]==3.0.12" "aiokafka[snappy,lz4,zstd]==0.14.0")
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import confluent_kafka, kafka, aiokafka, snappy, lz4, zstandard, cramjam' 2>/dev/null; then
  echo "== installing Python clients into $VENV"
  mkdir -p target/compat
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "${PY_PACKAGES[@]}"
fi

if [ ! -d compat/js/node_modules/kafkajs ] || [ ! -d compat/js/node_modules/zstd-codec ]; then
  echo "== installing kafkajs"
  (cd compat/js && npm ci --no-audit --no-fund --loglevel=error)
fi
echo "== compat clients: $(kcat -V 2>&1 | grep -o 'Version [0-9.]*'); $("$VENV/bin/python" -c 'import confluent_kafka, kafka, aiokafka; print("confluent-kafka", confluent_kafka.__version__, "(librdkafka", confluent_kafka.libversion()[0] + "), kafka-python", kafka.__version__, "aiokafka", aiokafka.__version__)'); kafkajs $(node -p 'require("./compat/js/node_modules/kafkajs/package.json").version')"
