#!/usr/bin/env bash
# Installs the MySQL-protocol server the JDBC sink tests run: Debian's mariadb-server package via
# apt-get; needs root. The packaged service is neither enabled nor started here: the test harness
# (test/servers/mariadb.ts) initializes its own data folder and starts its own server on 127.0.0.1
# with a free port. Idempotent: an installed server is left alone. Prints the server's path.
set -euo pipefail
find_server() { command -v mariadbd || command -v mysqld || ls /usr/sbin/mariadbd 2>/dev/null || true; }
if [ -z "$(find_server)" ]; then
  [ "$(id -u)" = 0 ] || { echo "install-mariadb: run as root (apt-get install mariadb-server)" >&2; exit 1; }
  echo "install-mariadb: apt-get install mariadb-server" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  policy=/usr/sbin/policy-rc.d; created=
  if [ ! -e "$policy" ]; then printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod +x "$policy"; created=1; fi
  apt-get install -y -qq --no-install-recommends mariadb-server >&2
  [ -z "$created" ] || rm -f "$policy"
fi
find_server
