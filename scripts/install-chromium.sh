#!/usr/bin/env bash
# Install Debian's chromium for the browser test (make browser-test), when it is missing.
# Idempotent and quiet: does nothing when /usr/bin/chromium exists. Needs root (CI runs as
# root on a fresh Debian machine) or sudo. Playwright drives this system browser; it never
# downloads a browser of its own (`playwright install` is not used).
set -euo pipefail

CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
if [ -x "$CHROMIUM" ]; then
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo -n"
    else
        echo "install-chromium: $CHROMIUM is missing and this is not root; install it with:" >&2
        echo "    apt-get install -y chromium" >&2
        exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive
echo "install-chromium: installing Debian's chromium (apt-get) ..."
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
if ! { $SUDO apt-get update -qq && \
       $SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core; } \
       >"$log" 2>&1; then
    cat "$log" >&2
    echo "install-chromium: apt-get failed (see above)" >&2
    exit 1
fi
"$CHROMIUM" --version 2>/dev/null || true
