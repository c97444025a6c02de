#!/usr/bin/env bash
# The test command: installs dependencies, builds every configured backend,
# then for each one runs the C unit tests and the Python conformance and
# interop suites against that build (`import ssl` resolves to our module via
# PYTHONPATH).  Ends with one "N passed, N failed" line over everything.
#
#   scripts/test.sh                 every configs/cpython-*.ini
#   scripts/test.sh cpython-openssl one configuration
#   PYTEST_ARGS="-k verify" scripts/test.sh
set -uo pipefail
cd "$(dirname "$0")/.."

PYTHON=/usr/bin/python3 # Debian's interpreter: python3-dev + python3-pytest
scripts/deps.sh || exit 1

configs=("$@")
if [ ${#configs[@]} -eq 0 ]; then
    for f in configs/cpython-*.ini; do configs+=("$(basename "$f" .ini)"); done
fi

passed=0 failed=0 skipped=0 status=0
tally() { # parse a "N passed, N failed, N skipped" summary from a log
    local log=$1 p f s
    p=$(grep -Eo '[0-9]+ passed' "$log" | tail -1 | grep -Eo '[0-9]+' || true)
    f=$(grep -Eo '[0-9]+ (failed|error|errors)' "$log" | awk '{s+=$1} END {print s+0}')
    s=$(grep -Eo '[0-9]+ skipped' "$log" | tail -1 | grep -Eo '[0-9]+' || true)
    passed=$((passed + ${p:-0})) failed=$((failed + ${f:-0})) skipped=$((skipped + ${s:-0}))
}

logdir=$(mktemp -d)
for c in "${configs[@]}"; do
    echo "=== $c: build"
    if ! scripts/build.sh "$c"; then
        echo "=== $c: BUILD FAILED"; failed=$((failed + 1)); status=1; continue
    fi
    dir="build/$c"

    echo "=== $c: C unit tests"
    for t in "$dir"/tests/unit/test_*; do
        [ -f "$t" ] && [ -x "$t" ] || continue
        args=()
        [ "$(basename "$t")" = test_conn_pipe ] && args=("$dir/tests/unit/certs")
        "$t" "${args[@]}" >"$logdir/unit.log" 2>&1 || status=1
        grep -E '^(FAIL|  )' "$logdir/unit.log" || true
        echo "$(basename "$t"): $(tail -1 "$logdir/unit.log")"
        tally "$logdir/unit.log"
    done

    echo "=== $c: conformance + interop (pytest, $PYTHON)"
    PYTHONPATH="$PWD/$dir" "$PYTHON" -m pytest -p no:cacheprovider ${PYTEST_ARGS:-} \
        tests/layout tests/conformance tests/interop 2>&1 | tee "$logdir/pytest.log"
    [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
    tally "$logdir/pytest.log"
done
rm -rf "$logdir"
echo
echo "total: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] || status=1
exit $status
