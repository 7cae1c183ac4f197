#!/usr/bin/env bash
# Build the Jaeger v2 binary (cmd/jaeger) from the Go module proxy into
# ${OTEL_REPLAY_CACHE:-~/.cache/otel-replay}/bin/jaeger. Cached: skipped when the binary exists
# and was built from the same module version.
#
# Why not `go install github.com/jaegertracing/jaeger/cmd/jaeger@<version>`:
#  * v2.x tags cannot be fetched (the module path has no /v2 suffix, so the proxy refuses them);
#  * the v1.76.0 tag (= v2.13.0, same commit pair) does contain cmd/jaeger, but its go.mod has a
#    `replace` directive, and `go install pkg@version` refuses modules with replace directives.
# So we download that exact module version from the proxy and build ./cmd/jaeger with the
# module as the main module (same go.mod/go.sum as upstream's own `make build`).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

out="$OTEL_REPLAY_BIN/jaeger"
stamp="$OTEL_REPLAY_BIN/jaeger.version"
want="github.com/jaegertracing/jaeger@$JAEGER_MODULE_VERSION ($JAEGER_V2_VERSION) $(go env GOVERSION)"
if [ -x "$out" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ "${FORCE:-0}" != 1 ]; then
  log "jaeger: cached ($want) at $out"
  exit 0
fi

start=$(date +%s)
log "jaeger: downloading module github.com/jaegertracing/jaeger@$JAEGER_MODULE_VERSION"
json=$(cd /tmp && GOFLAGS=-mod=mod go mod download -json "github.com/jaegertracing/jaeger@$JAEGER_MODULE_VERSION")
dir=$(printf '%s' "$json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
src="$OTEL_REPLAY_CACHE/src/jaeger-$JAEGER_MODULE_VERSION"
rm -rf "$src" && mkdir -p "$(dirname "$src")"
cp -r "$dir" "$src" && chmod -R u+w "$src"

log "jaeger: building ./cmd/jaeger ($JAEGER_V2_VERSION) — takes several minutes on 2 cores"
(
  cd "$src"
  vpkg=github.com/jaegertracing/jaeger/internal/version
  CGO_ENABLED=0 go build -trimpath \
    -ldflags "-s -w -X $vpkg.latestVersion=$JAEGER_V2_VERSION -X $vpkg.commitSHA=module-$JAEGER_MODULE_VERSION -X $vpkg.date=2025-12-03T16:07:08Z" \
    -o "$out.tmp" ./cmd/jaeger
)
mv "$out.tmp" "$out"
printf '%s' "$want" >"$stamp"
rm -rf "$src"
log "jaeger: built $out in $(( $(date +%s) - start ))s"
