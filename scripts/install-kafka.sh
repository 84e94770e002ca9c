#!/usr/bin/env bash
# Installs the Apache Kafka broker the tests and benchmarks run (KRaft mode, one JVM): the jars of
# org.apache.kafka:kafka_2.13 and its runtime dependencies, resolved from Maven Central by Maven,
# into .cache/kafka/<version>/libs (git-ignored). Idempotent: a finished install is left alone.
#   scripts/install-kafka.sh            installs the tested version (below)
#   KAFKA_VERSION=4.1.1 scripts/install-kafka.sh   another version
# Needs Java 17+ and Maven. Prints the libs folder on stdout.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
version=${KAFKA_VERSION:-4.4.0}
dir="$root/.cache/kafka/$version"
if [ -f "$dir/.complete" ]; then echo "$dir/libs"; exit 0; fi
command -v java >/dev/null || { echo "install-kafka: java not found (Kafka $version needs Java 17+)" >&2; exit 1; }
command -v mvn >/dev/null || { echo "install-kafka: mvn not found (Maven resolves Kafka's jars)" >&2; exit 1; }
mkdir -p "$dir"
cat > "$dir/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>tsflink.test</groupId>
  <artifactId>kafka-broker</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$version</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-nop</artifactId><version>1.7.36</version></dependency>
  </dependencies>
</project>
POM
rm -rf "$dir/libs"
echo "install-kafka: resolving org.apache.kafka:kafka_2.13:$version and its dependencies" >&2
mvn -q -B -f "$dir/pom.xml" dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$dir/libs" >&2
touch "$dir/.complete"
echo "$dir/libs"
