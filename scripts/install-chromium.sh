#!/usr/bin/env bash
# Installs the browser the checkpoint history page's test runs (test/history-page.test.ts):
# Debian's chromium package via apt-get; needs root. playwright-core (a devDependency, no browser
# download) drives it headless at /usr/bin/chromium. Idempotent: an installed chromium is left
# alone. Prints the browser's path.
set -euo pipefail
if [ ! -x /usr/bin/chromium ]; then
  [ "$(id -u)" = 0 ] || { echo "install-chromium: run as root (apt-get install chromium)" >&2; exit 1; }
  echo "install-chromium: apt-get install chromium" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends chromium >&2
fi
echo /usr/bin/chromium
