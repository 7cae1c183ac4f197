#!/usr/bin/env bash
# Longer fuzzing than the normal test run (which uses a few examples per property).
#
#   scripts/fuzz.sh [seconds]          default 300
#
# 1. hypothesis: the properties of tests/test_fuzz.py with the otel-replay-fuzz profile
#    (OTEL_REPLAY_FUZZ_EXAMPLES examples per property and round, default 1000), round after
#    round with fresh seeds until its share of the budget is used;
# 2. atheris (coverage-guided libFuzzer, if importable): the recording readers (jsonl,
#    binpb), checkpoint state decoding (state), span normalization (normalize) and json_diff
#    (diff), each for an equal share of the rest, seeded with valid recordings.
#
# Known escapes (the xfail regressions in tests/test_fuzz.py) are ignored unless
# OTEL_REPLAY_FUZZ_STRICT=1. A failure stops the run: hypothesis prints the falsifying
# example, atheris writes the input to $OTEL_REPLAY_FUZZ_DIR/artifacts/ (default
# /tmp/otel-replay-fuzz). Turn it into a regression test in tests/test_fuzz.py.
set -euo pipefail
cd "$(dirname "$0")/.."
BUDGET="${1:-300}"
PY="${OTEL_REPLAY_VENV:-.venv}/bin/python"
WORK="${OTEL_REPLAY_FUZZ_DIR:-${TMPDIR:-/tmp}/otel-replay-fuzz}"
EXAMPLES="${OTEL_REPLAY_FUZZ_EXAMPLES:-1000}"
STRICT=()
[[ "${OTEL_REPLAY_FUZZ_STRICT:-0}" == 1 ]] && STRICT=(--strict)
mkdir -p "$WORK/artifacts"

start=$(date +%s)
end=$((start + BUDGET))
if "$PY" -c "import atheris" 2>/dev/null; then
  HAVE_ATHERIS=1
  hyp_end=$((start + BUDGET / 2))
else
  HAVE_ATHERIS=0
  hyp_end=$end
  echo "atheris is not installed: hypothesis only (pip install atheris)"
fi

echo "==> hypothesis ($EXAMPLES examples per property and round, until $(date -d "@$hyp_end" +%T))"
round=0
while (( $(date +%s) < hyp_end )); do
  round=$((round + 1))
  left=$((hyp_end - $(date +%s)))
  seed=$RANDOM$RANDOM
  echo "--- round $round, seed $seed (${left}s left)"
  set +e
  OTEL_REPLAY_FUZZ_PROFILE=otel-replay-fuzz OTEL_REPLAY_FUZZ_EXAMPLES="$EXAMPLES" \
    timeout --signal=INT --kill-after=15 "$left" "$PY" -m pytest tests/test_fuzz.py -q -x -p no:cacheprovider \
    -m "not slow" --hypothesis-seed="$seed" -k "not regression"
  rc=$?
  set -e
  if [[ $rc == 124 || $rc == 130 || $rc == 137 || $rc == 2 ]] && (( $(date +%s) >= hyp_end )); then
    echo "(time is up)"
    break
  fi
  if [[ $rc != 0 ]]; then
    echo "hypothesis found a failure (seed $seed): see above"
    exit 1
  fi
done

if [[ $HAVE_ATHERIS == 1 ]]; then
  targets=(jsonl binpb state normalize diff)
  "$PY" tests/test_fuzz.py --seed-corpus "$WORK/corpus"
  for t in "${targets[@]}"; do mkdir -p "$WORK/corpus/$t"; done
  for i in "${!targets[@]}"; do
    t=${targets[$i]}
    left=$((end - $(date +%s)))
    per=$((left / (${#targets[@]} - i)))
    (( per < 5 )) && per=5
    echo "==> atheris $t (${per}s)"
    "$PY" tests/test_fuzz.py --atheris "$t" "${STRICT[@]}" \
      -max_total_time="$per" -rss_limit_mb=4096 -timeout=30 -print_final_stats=1 \
      -artifact_prefix="$WORK/artifacts/$t-" "$WORK/corpus/$t" 2>&1 | tail -n 12
    rc=${PIPESTATUS[0]}
    if [[ $rc != 0 ]]; then
      echo "atheris found a failure in $t: $(ls -t "$WORK/artifacts/$t-"* 2>/dev/null | head -1)"
      exit 1
    fi
  done
fi
echo "==> no failures in $(( $(date +%s) - start ))s"
