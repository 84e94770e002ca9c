#!/usr/bin/env bash
# Installs the Apache Kafka broker the tests and benchmarks run (KRaft mode, one JVM): the jars of
# org.apache.kafka:kafka_2.13 and its runtime dependencies, resolved from Maven Central by Maven,
# into .cache/kafka/<version>/libs (git-ignored). Idempotent: a finished install is left alone.
#   scripts/install-kafka.sh            installs the tested version (below)
#   KAFKA_VERSION=4.1.1 scripts/install-kafka.sh   another version
# Needs Java 17+ and Maven. Prints the libs folder on stdout.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/maven-libs.sh"
version=${KAFKA_VERSION:-4.4.0}
maven_libs install-kafka "Kafka $version" "$root/.cache/kafka/$version" "
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$version</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-nop</artifactId><version>1.7.36</version></dependency>"
