#!/usr/bin/env bash
# Install Debian's prometheus package (the binary only is used: our scripts/fixtures start it
# with their own config and a temp --storage.tsdb.path; no system service is relied on).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
if command -v prometheus >/dev/null 2>&1; then
  log "prometheus: installed ($(prometheus --version 2>&1 | head -n1))"
  exit 0
fi
source "$(dirname "${BASH_SOURCE[0]}")/apt.sh"
apt_install prometheus
# the package may start a system service where an init system runs; we don't use it
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus 2>/dev/null; then
  systemctl stop prometheus || true
  systemctl disable prometheus >/dev/null 2>&1 || true
fi
log "prometheus: $(prometheus --version 2>&1 | head -n1)"
