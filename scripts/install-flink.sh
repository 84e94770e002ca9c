#!/usr/bin/env bash
# Installs a real Apache Flink distribution for the tests, once, into the git-ignored cache
# .cache/flink/<version>/ of this repository. PyPI's apache-flink + apache-flink-libraries wheels
# (same version) carry the full distribution: site-packages/pyflink acts as FLINK_HOME
# (bin/flink, bin/start-cluster.sh, lib/ with flink-dist and RocksDB).
# Usage: scripts/install-flink.sh [version]   (default: the version the tests use)
# Prints FLINK_HOME on stdout. Idempotent: a second run only prints the path. ~30 s and ~340 MB.
set -euo pipefail
version="${1:-${TSFLINK_TEST_FLINK_VERSION:-2.2.1}}"
root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/.cache/flink/$version"
home="$dest/pyflink"
if [ -f "$dest/.installed" ] && [ -x "$home/bin/flink" ]; then
  echo "$home"
  exit 0
fi
command -v java >/dev/null || { echo "install-flink: java is not on PATH (Flink needs Java 11 or 17)" >&2; exit 1; }
python=$(command -v python3 || command -v python || true)
[ -n "$python" ] || { echo "install-flink: python3 is not on PATH (pip installs the distribution)" >&2; exit 1; }
rm -rf "$dest.tmp"
mkdir -p "$dest.tmp"
echo "install-flink: installing Apache Flink $version into $dest" >&2
PIP_BREAK_SYSTEM_PACKAGES=1 "$python" -m pip install --quiet --disable-pip-version-check --no-deps --no-compile --root-user-action=ignore \
  --target "$dest.tmp" "apache-flink==$version" "apache-flink-libraries==$version" >&2
[ -f "$dest.tmp/pyflink/lib/flink-dist-$version.jar" ] || { echo "install-flink: no lib/flink-dist-$version.jar in the wheels" >&2; exit 1; }
# Wheels may lose execute bits; the scripts under bin/ need them.
chmod +x "$dest.tmp"/pyflink/bin/*
rm -rf "$dest"
mv "$dest.tmp" "$dest"
touch "$dest/.installed"
echo "$home"
