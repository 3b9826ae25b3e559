#!/bin/sh
# Install Debian's headless-capable Chromium for the HTML report test
# (tests/test_report.py opens the report in it).  Idempotent: does nothing
# when /usr/bin/chromium already exists.  Needs root (or sudo) and apt.
# Skip the browser test instead with FLEETOPT_NO_BROWSER=1.
set -eu
if [ -x /usr/bin/chromium ]; then
    exit 0
fi
if [ "${FLEETOPT_NO_BROWSER:-}" = "1" ]; then
    echo "install_chromium.sh: FLEETOPT_NO_BROWSER=1: not installing Chromium (the browser test is skipped)" >&2
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install_chromium.sh: no apt-get here; install Chromium so that /usr/bin/chromium exists," >&2
    echo "    or run the tests with FLEETOPT_NO_BROWSER=1 to skip the browser check" >&2
    exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "install_chromium.sh: need root (or sudo) to run apt-get install chromium" >&2
        exit 1
    fi
fi
$SUDO apt-get update
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y chromium
test -x /usr/bin/chromium
