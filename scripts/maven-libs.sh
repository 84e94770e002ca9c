# Sourced by the install scripts of JVM test servers (install-kafka.sh, install-hadoop.sh):
#   maven_libs <tool> <name> <dir> <dependencies-xml>
# resolves <dependencies-xml> (the <dependency> elements of a pom) and their runtime dependencies
# from Maven Central with Maven into <dir>/libs, unless <dir>/.complete says it was done; prints
# the libs folder on stdout. <tool> names the caller in messages, <name> what is resolved.
# Needs java and mvn.
maven_libs() {
  local tool=$1 name=$2 dir=$3 deps=$4
  if [ -f "$dir/.complete" ]; then echo "$dir/libs"; return 0; fi
  command -v java >/dev/null || { echo "$tool: java not found ($name runs on Java 17+)" >&2; return 1; }
  command -v mvn >/dev/null || { echo "$tool: mvn not found (Maven resolves $name's jars)" >&2; return 1; }
  mkdir -p "$dir"
  cat > "$dir/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>tsflink.test</groupId>
  <artifactId>$tool</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
$deps
  </dependencies>
</project>
POM
  rm -rf "$dir/libs"
  echo "$tool: resolving $name and its dependencies" >&2
  mvn -q -B -f "$dir/pom.xml" dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$dir/libs" >&2
  touch "$dir/.complete"
  echo "$dir/libs"
}
