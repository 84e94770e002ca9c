#!/usr/bin/env bash
# Installs the Hadoop mini cluster the HDFS and YARN tests run (one JVM: a NameNode with WebHDFS
# and a DataNode, and/or a YARN ResourceManager): the jars of org.apache.hadoop:hadoop-minicluster
# (MiniDFSCluster, MiniYARNCluster) and their runtime dependencies, resolved from Maven Central by
# Maven, into .cache/hadoop/<version>/libs (git-ignored). Idempotent: a finished install is left
# alone. test/servers/hadoop.ts compiles its small launcher against these jars.
#   scripts/install-hadoop.sh                        installs the tested version (below)
#   HADOOP_VERSION=3.4.2 scripts/install-hadoop.sh   another version
# Needs Java 17+ (JDK: the harness runs javac) and Maven. Prints the libs folder on stdout.
#
# Why the unshaded hadoop-minicluster and not hadoop-client-minicluster: in the shaded jar the
# ResourceManager's REST API answers broken JSON for /ws/v1/cluster/apps/<id> (its shaded Jersey
# looks for relocated JAXB annotations, the DAO classes carry the original ones), and the YARN
# tests read exactly that resource.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
version=${HADOOP_VERSION:-3.4.1}
dir="$root/.cache/hadoop/$version"
if [ -f "$dir/.complete" ]; then echo "$dir/libs"; exit 0; fi
command -v java >/dev/null || { echo "install-hadoop: java not found (the tests run Hadoop $version on Java 17)" >&2; exit 1; }
command -v mvn >/dev/null || { echo "install-hadoop: mvn not found (Maven resolves Hadoop's jars)" >&2; exit 1; }
mkdir -p "$dir"
cat > "$dir/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>tsflink.test</groupId>
  <artifactId>hadoop-minicluster</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.hadoop</groupId><artifactId>hadoop-minicluster</artifactId><version>$version</version></dependency>
    <!-- Maven's nearest-wins picks an older jackson-core than Hadoop's jackson-databind needs. -->
    <dependency><groupId>com.fasterxml.jackson.core</groupId><artifactId>jackson-core</artifactId><version>2.12.7</version></dependency>
    <!-- MiniDFSCluster's readiness check calls test helpers that use Mockito and JUnit (test scope in Hadoop). -->
    <dependency><groupId>org.mockito</groupId><artifactId>mockito-core</artifactId><version>2.28.2</version></dependency>
    <dependency><groupId>junit</groupId><artifactId>junit</artifactId><version>4.13.2</version></dependency>
  </dependencies>
</project>
POM
rm -rf "$dir/libs"
echo "install-hadoop: resolving org.apache.hadoop:hadoop-minicluster:$version and its dependencies" >&2
mvn -q -B -f "$dir/pom.xml" dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$dir/libs" >&2
touch "$dir/.complete"
echo "$dir/libs"
