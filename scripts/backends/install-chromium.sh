#!/usr/bin/env bash
# Install Debian's chromium (headless screenshots of the UIs). Cached: no-op when installed.
#   chromium --headless --no-sandbox --disable-gpu --disable-background-networking \
#     --disable-component-update --disable-sync --no-first-run --user-data-dir="$(mktemp -d)" \
#     --screenshot=/tmp/shot.png --window-size=1600,1000 http://127.0.0.1:16686/
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
if command -v chromium >/dev/null 2>&1; then
  log "chromium: installed ($(chromium --version 2>/dev/null | head -n1))"
  exit 0
fi
source "$(dirname "${BASH_SOURCE[0]}")/apt.sh"
apt_install chromium
log "chromium: $(chromium --version 2>/dev/null | head -n1)"
