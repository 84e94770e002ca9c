#!/usr/bin/env bash
# Installs the RabbitMQ broker the RabbitMQ tests run: Debian's rabbitmq-server package (with its
# Erlang runtime) via apt-get; needs root. The packaged service is neither enabled nor started here:
# the test harness (test/servers/rabbitmq.ts) starts its own broker on 127.0.0.1 with free ports and
# its own data folder. Idempotent: an installed broker is left alone. Prints the server's path.
set -euo pipefail
if ! command -v rabbitmq-server >/dev/null && [ ! -x /usr/lib/rabbitmq/bin/rabbitmq-server ]; then
  [ "$(id -u)" = 0 ] || { echo "install-rabbitmq: run as root (apt-get install rabbitmq-server)" >&2; exit 1; }
  echo "install-rabbitmq: apt-get install rabbitmq-server" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  # Keep the packaged service from starting (the harness runs its own broker).
  policy=/usr/sbin/policy-rc.d; created=
  if [ ! -e "$policy" ]; then printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod +x "$policy"; created=1; fi
  apt-get install -y -qq --no-install-recommends rabbitmq-server >&2
  [ -z "$created" ] || rm -f "$policy"
fi
command -v rabbitmq-server || echo /usr/lib/rabbitmq/bin/rabbitmq-server
