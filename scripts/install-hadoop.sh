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
. "$root/scripts/maven-libs.sh"
version=${HADOOP_VERSION:-3.4.1}
maven_libs install-hadoop "Hadoop $version" "$root/.cache/hadoop/$version" "
    <dependency><groupId>org.apache.hadoop</groupId><artifactId>hadoop-minicluster</artifactId><version>$version</version></dependency>
    <!-- Maven's nearest-wins picks an older jackson-core than Hadoop's jackson-databind needs. -->
    <dependency><groupId>com.fasterxml.jackson.core</groupId><artifactId>jackson-core</artifactId><version>2.12.7</version></dependency>
    <!-- MiniDFSCluster's readiness check calls test helpers that use Mockito and JUnit (test scope in Hadoop). -->
    <dependency><groupId>org.mockito</groupId><artifactId>mockito-core</artifactId><version>2.28.2</version></dependency>
    <dependency><groupId>junit</groupId><artifactId>junit</artifactId><version>4.13.2</version></dependency>"
