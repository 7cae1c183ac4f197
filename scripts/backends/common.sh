# shellcheck shell=bash
# Shared settings for the backend install/build scripts. Source it, don't run it.
set -euo pipefail

OTEL_REPLAY_CACHE="${OTEL_REPLAY_CACHE:-$HOME/.cache/otel-replay}"
OTEL_REPLAY_BIN="$OTEL_REPLAY_CACHE/bin"
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export OTEL_REPLAY_CACHE OTEL_REPLAY_BIN REPO_ROOT

# Go: prefer one on PATH, else the usual tarball location.
if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
  export PATH="$PATH:/usr/local/go/bin"
fi
export PATH="$PATH:$(go env GOPATH 2>/dev/null || echo "$HOME/go")/bin"

# Pinned versions (keep in sync with deploy/VERSIONS.md).
OCB_VERSION="${OCB_VERSION:-v0.161.0}"
# Jaeger v2.13.0 is published as module version v1.76.0 (same tag pair, see CHANGELOG).
JAEGER_MODULE_VERSION="${JAEGER_MODULE_VERSION:-v1.76.0}"
JAEGER_V2_VERSION="${JAEGER_V2_VERSION:-v2.13.0}"

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

sha256_of() { sha256sum "$@" | sha256sum | cut -d' ' -f1; }

mkdir -p "$OTEL_REPLAY_BIN"
