#!/usr/bin/env bash
# Stop the stack started by scripts/stack.sh (process groups recorded in $RUN_DIR/*.pid).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/backends/common.sh"
RUN_DIR="${OTEL_REPLAY_RUN_DIR:-$OTEL_REPLAY_CACHE/run}"
shopt -s nullglob
stopped=0
for name in phoenix prometheus collector jaeger; do
  f="$RUN_DIR/$name.pid"
  [ -f "$f" ] || continue
  pid="$(cat "$f")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    if kill -0 "$pid" 2>/dev/null; then
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    fi
    log "$name stopped (pid $pid)"
    stopped=$((stopped + 1))
  fi
  rm -f "$f"
done
[ "$stopped" -gt 0 ] || log "nothing running (run dir $RUN_DIR)"
