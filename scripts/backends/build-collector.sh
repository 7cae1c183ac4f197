#!/usr/bin/env bash
# Build the otel-replay collector distribution (deploy/collector/builder-config.yaml) with the
# OpenTelemetry Collector Builder into ${OTEL_REPLAY_CACHE:-~/.cache/otel-replay}/bin/otelcol-replay.
# Cached: skipped when the binary exists and the manifest hash (stored next to it in
# otelcol-replay.manifest.sha256) matches. FORCE=1 rebuilds.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

manifest="$REPO_ROOT/deploy/collector/builder-config.yaml"
out="$OTEL_REPLAY_BIN/otelcol-replay"
hashfile="$OTEL_REPLAY_BIN/otelcol-replay.manifest.sha256"
want="$(cat "$manifest" <(echo "ocb=$OCB_VERSION") <(go env GOVERSION) | sha256sum | cut -d' ' -f1)"

if [ -x "$out" ] && [ -f "$hashfile" ] && [ "$(cat "$hashfile")" = "$want" ] && [ "${FORCE:-0}" != 1 ]; then
  log "collector: cached (manifest sha256 ${want:0:12}) at $out"
  exit 0
fi

start=$(date +%s)
ocb="$OTEL_REPLAY_BIN/ocb-$OCB_VERSION"
if [ ! -x "$ocb" ]; then
  log "collector: installing the builder go.opentelemetry.io/collector/cmd/builder@$OCB_VERSION"
  tmpbin="$(mktemp -d)"
  GOBIN="$tmpbin" go install "go.opentelemetry.io/collector/cmd/builder@$OCB_VERSION"
  mv "$tmpbin/builder" "$ocb" && rmdir "$tmpbin"
fi

src="$OTEL_REPLAY_CACHE/src"
work="$src/otelcol-replay-build"  # = dist.output_path in the manifest, relative to $src
rm -rf "$work" && mkdir -p "$src"
log "collector: building with ocb $OCB_VERSION — ~10 minutes on 2 cores with a cold Go cache"
(cd "$src" && "$ocb" --config "$manifest") >"$work.log" 2>&1 || {
  tail -n 60 "$work.log" >&2
  log "collector: build FAILED (full log: $work.log)"
  exit 1
}
mv "$work/otelcol-replay" "$out.tmp" && mv "$out.tmp" "$out"
printf '%s' "$want" >"$hashfile"
rm -rf "$work"
log "collector: built $out in $(( $(date +%s) - start ))s"
"$out" validate --config "$REPO_ROOT/collector-config.yaml" >/dev/null 2>&1 \
  && log "collector: collector-config.yaml validates" \
  || log "collector: WARNING collector-config.yaml does not validate (run: $out validate --config collector-config.yaml)"
