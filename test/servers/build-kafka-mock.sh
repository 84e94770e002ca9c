#!/usr/bin/env bash
# Builds the test Kafka broker: librdkafka's mock cluster (from the librdkafka 2.15 sources that
# the npm package @confluentinc/kafka-javascript@1.10.1 ships) and a small launcher.
# Output: node_modules/.cache/tsflink-kafka-mock/kafka-mock. Idempotent; ~30 s the first time.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out="$root/node_modules/.cache/tsflink-kafka-mock"
stamp=$(sha256sum "$root/test/servers/kafka-mock.c" | cut -c1-16)
[ -x "$out/kafka-mock" ] && [ "$(cat "$out/stamp" 2>/dev/null)" = "$stamp" ] && exit 0
mkdir -p "$out"
cd "$out"
rm -rf package
npm pack @confluentinc/kafka-javascript@1.10.1 --silent >/dev/null
tar xzf confluentinc-kafka-javascript-1.10.1.tgz package/deps/librdkafka
cd package/deps/librdkafka
./configure --disable-zstd --disable-lz4-ext --disable-gssapi --disable-curl --disable-sasl --disable-ssl >/dev/null
make -C src librdkafka.a -j"$(nproc)" >/dev/null
cc -O2 -o "$out/kafka-mock.tmp" "$root/test/servers/kafka-mock.c" -Isrc src/librdkafka.a -lm -lz -ldl -lpthread -lrt
mv "$out/kafka-mock.tmp" "$out/kafka-mock"
echo "$stamp" > "$out/stamp"
cd "$out" && rm -rf package confluentinc-kafka-javascript-1.10.1.tgz
