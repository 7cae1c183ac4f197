#!/usr/bin/env bash
# Install/build every e2e backend, idempotently and cached (a second run takes seconds):
#   Debian prometheus + chromium (apt), Arize Phoenix (venv), the otelcol-replay collector
#   (ocb v0.161.0) and Jaeger v2 (go build).    Cache: ${OTEL_REPLAY_CACHE:-~/.cache/otel-replay}
# The two Go builds are CPU bound and run one after the other (2 cores); apt and pip are
# network/disk bound and run alongside them. Logs: $OTEL_REPLAY_CACHE/logs/setup-*.log
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
logs="$OTEL_REPLAY_CACHE/logs"
mkdir -p "$logs"

command -v go >/dev/null 2>&1 || { log "ERROR: Go not found (expected on PATH or /usr/local/go/bin)"; exit 1; }
log "setup: cache $OTEL_REPLAY_CACHE, $(go env GOVERSION), $(nproc) cores"
t0=$(date +%s)

declare -A pids
run_bg() {  # name script
  local name=$1; shift
  ( start=$(date +%s); "$@" >"$logs/setup-$name.log" 2>&1; rc=$?
    echo "rc=$rc seconds=$(( $(date +%s) - start ))" >>"$logs/setup-$name.log"; exit $rc ) &
  pids[$name]=$!
  log "setup: $name started (log: $logs/setup-$name.log)"
}

apt_both() {
  source "$here/apt.sh"
  local need=()
  command -v prometheus >/dev/null 2>&1 || need+=(prometheus)
  command -v chromium >/dev/null 2>&1 || need+=(chromium)
  [ ${#need[@]} -eq 0 ] || apt_install "${need[@]}"
  bash "$here/install-prometheus.sh" && bash "$here/install-chromium.sh"
}
go_builds() {
  bash "$here/build-collector.sh" && bash "$here/build-jaeger.sh"
}
export -f apt_both go_builds
export here

run_bg apt bash -c apt_both
run_bg phoenix bash "$here/install-phoenix.sh"
run_bg go bash -c go_builds

failed=()
for name in go apt phoenix; do
  if wait "${pids[$name]}"; then
    log "setup: $name ok ($(tail -n1 "$logs/setup-$name.log"))"
  else
    failed+=("$name")
    log "setup: $name FAILED — last lines of $logs/setup-$name.log:"
    tail -n 30 "$logs/setup-$name.log" >&2
  fi
  grep -h '^\[' "$logs/setup-$name.log" | sed 's/^/    /' >&2 || true
done

log "setup: done in $(( $(date +%s) - t0 ))s"
ls -l "$OTEL_REPLAY_BIN" >&2
[ ${#failed[@]} -eq 0 ] || { log "setup: FAILED: ${failed[*]}"; exit 1; }
