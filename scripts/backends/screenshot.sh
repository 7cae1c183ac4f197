#!/usr/bin/env bash
# screenshot.sh URL OUT.png [WIDTHxHEIGHT] — headless Debian chromium screenshot of a local page.
# Host names other than localhost resolve to nothing (--host-resolver-rules), so a page that
# references external assets (e.g. Phoenix's GitHub star badge) causes no outbound traffic.
set -euo pipefail
url=$1 out=$2 size=${3:-1600,1000}
profile="$(mktemp -d)"
trap 'rm -rf "$profile"' EXIT
chromium --headless --no-sandbox --disable-gpu --disable-background-networking \
  --disable-component-update --disable-sync --no-first-run --user-data-dir="$profile" \
  --host-resolver-rules="MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1" \
  --virtual-time-budget="${VIRTUAL_TIME_BUDGET_MS:-10000}" \
  --screenshot="$out" --window-size="${size/x/,}" "$url" 2>&1 | grep -v -E 'dbus|Fontconfig|unexpected operator' >&2 || true
[ -s "$out" ]
