#!/usr/bin/env bash
# Install Debian's chromium (headless screenshots of the UIs). Cached: no-op when installed.
# Take one with scripts/backends/screenshot.sh URL OUT.png (blocks non-local host names).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
if command -v chromium >/dev/null 2>&1; then
  log "chromium: installed ($(chromium --version 2>/dev/null | head -n1))"
  exit 0
fi
source "$(dirname "${BASH_SOURCE[0]}")/apt.sh"
apt_install chromium
log "chromium: $(chromium --version 2>/dev/null | head -n1)"
