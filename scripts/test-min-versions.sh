#!/usr/bin/env bash
# The unit tests on the oldest dependency versions otel-replay declares: a venv with every core
# dependency pinned at its lower bound (constraints/minimum.txt), the package (editable) and the
# test runner's own tools (pytest, pytest-timeout, hypothesis, tomli on 3.10: the package imports
# none of them and none pulls in a core dependency). No optional extra is installed, so the run
# also shows that the package needs nothing beyond its core dependencies: a test that genuinely
# needs an extra skips (pytest.importorskip; tests/test_environment.py checks that no extra's
# package is there), and everything else must pass.
#   scripts/test-min-versions.sh [pytest args]
# scripts/test.sh runs it before the main pytest run. The venv (.venv-min, or
# $OTEL_REPLAY_MIN_VENV) is made afresh whenever constraints/minimum.txt, pyproject.toml or this
# script change, and reused otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
VENV="${OTEL_REPLAY_MIN_VENV:-.venv-min}"
CONSTRAINTS=constraints/minimum.txt
TOOLS=("pytest>=8" "pytest-timeout>=2.3" "hypothesis>=6.100" "tomli>=1.1; python_version < '3.11'")

STAMP="$VENV/.otel-replay-min-installed"
WANT="$(cat "$CONSTRAINTS" pyproject.toml scripts/test-min-versions.sh | sha256sum | cut -d' ' -f1)"
if [[ ! -f "$STAMP" || "$(cat "$STAMP")" != "$WANT" ]]; then
  echo "==> creating $VENV: core dependencies at their lower bounds ($CONSTRAINTS)"
  rm -rf "$VENV"
  "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -c "$CONSTRAINTS" -e . "${TOOLS[@]}"
  "$VENV/bin/python" -m pip check
  # every pin is installed at exactly its version (a constraint alone installs nothing)
  "$VENV/bin/python" - "$CONSTRAINTS" <<'EOF'
import sys
from importlib.metadata import PackageNotFoundError, version


def _applies(marker: str) -> bool:
    """A ``python_version < "X.Y"`` marker, the only kind the constraints use."""
    op, _, ver = marker.replace("python_version", "").strip().partition(" ")
    want = tuple(int(x) for x in ver.strip().strip("'\"").split("."))
    have = sys.version_info[:2]
    return {"<": have < want, "<=": have <= want, ">": have > want, ">=": have >= want}[op]


bad = []
for line in open(sys.argv[1], encoding="utf-8"):
    line = line.split("#", 1)[0].strip()
    if not line:
        continue
    line, _, marker = line.partition(";")
    if marker.strip() and not _applies(marker.strip()):
        continue  # a pin for other Pythons (e.g. tomli before 3.11)
    name, want = (part.strip() for part in line.split("=="))
    try:
        got = version(name)
    except PackageNotFoundError:
        got = "not installed"
    if got != want:
        bad.append(f"{name}: want {want}, got {got}")
if bad:
    sys.exit("minimum versions not installed: " + "; ".join(bad))
EOF
  echo "$WANT" > "$STAMP"
fi

echo "==> pytest (unit tests on the minimum versions, core dependencies only)"
set +e
OTEL_REPLAY_CORE_ONLY=1 "$VENV/bin/python" -m pytest -m "not e2e and not slow" -q \
  -p no:cacheprovider --ignore=tests/e2e --ignore=tests/test_packaging.py "$@"
rc=$?
set -e
if [[ $rc -eq 5 ]]; then echo "pytest collected no tests"; exit 1; fi
exit $rc
