#!/usr/bin/env bash
# Install Arize Phoenix into its own venv at ${OTEL_REPLAY_CACHE:-~/.cache/otel-replay}/phoenix-venv
# (large: ~1 GB, a few minutes). Cached: skipped when the pinned version is already installed.
# Start it on loopback with: <venv>/bin/python scripts/backends/phoenix_serve.py serve
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

PHOENIX_VERSION="${PHOENIX_VERSION:-20.26.1}"
venv="$OTEL_REPLAY_CACHE/phoenix-venv"
stamp="$venv/.otel-replay-phoenix-version"
if [ -x "$venv/bin/phoenix" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$PHOENIX_VERSION" ] && [ "${FORCE:-0}" != 1 ]; then
  log "phoenix: cached (arize-phoenix $PHOENIX_VERSION) in $venv"
  exit 0
fi
start=$(date +%s)
python="${PYTHON:-python3}"
if ! "$python" -m venv --help >/dev/null 2>&1 || ! "$python" -c 'import ensurepip' >/dev/null 2>&1; then
  log "phoenix: installing python3-venv"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv >/dev/null
fi
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
log "phoenix: pip install arize-phoenix==$PHOENIX_VERSION (large, a few minutes)"
"$venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null
"$venv/bin/python" -m pip install -q --disable-pip-version-check "arize-phoenix==$PHOENIX_VERSION"
"$venv/bin/python" -c 'import phoenix.server.main' 
printf '%s' "$PHOENIX_VERSION" >"$stamp"
log "phoenix: installed in $(( $(date +%s) - start ))s"
