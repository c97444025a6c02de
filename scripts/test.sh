#!/usr/bin/env bash
# The test command: installs dependencies, then for every configured backend
#
#   1. builds build/<config> and runs the C unit tests, the leak soak
#      (exact heap check) and the pytest suites against it (`import ssl`
#      resolves to our module via PYTHONPATH);
#   2. builds build/asan-<config> with AddressSanitizer + UBSan and runs the
#      C unit tests and the soak under LeakSanitizer, then the whole pytest
#      suite with the sanitizer runtimes preloaded into the interpreter;
#   3. runs the soak once under valgrind (fewer connections), if installed.
#
# Every configuration is built first: the cross-backend tests run peers on
# the other builds (tests/peers: MPSSL_BUILD_ROOT, MPSSL_REQUIRE_PEERS), and
# each normal pytest run leaves JUnit XML in build/results/<config>.xml, from
# which scripts/parity.py writes the parity report.
#
# Then scripts/fuzz.sh once, if present.  A sanitizer report fails the step
# it appears in.  Ends with one "total: N passed, N failed, N skipped" line
# over everything.
#
#   scripts/test.sh                 every configs/cpython-*.ini
#   scripts/test.sh cpython-openssl one configuration
#   PYTEST_ARGS="-k verify" scripts/test.sh
#   MPSSL_NO_SANITIZERS=1 scripts/test.sh   skip steps 2 and 3 (quick runs)
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

PYTHON=/usr/bin/python3 # Debian's interpreter: python3-dev + python3-pytest
scripts/deps.sh || exit 1

all_configs=()
for f in configs/cpython-*.ini; do all_configs+=("$(basename "$f" .ini)"); done
configs=("$@")
[ ${#configs[@]} -gt 0 ] || configs=("${all_configs[@]}")

# The pytest suites, in order; the hostile-peer suite when it exists.
pytest_paths=(tests/layout tests/conformance tests/interop)
[ -d tests/hostile ] && pytest_paths+=(tests/hostile)
[ -d tests/parity ] && pytest_paths+=(tests/parity)

# C unit tests that take the certificate directory as their argument.
certdir_tests=" test_conn_pipe test_secrets test_policy "

SOAK_CONNECTIONS=2000         # per backend, native and under LeakSanitizer
SOAK_VALGRIND_CONNECTIONS=200 # valgrind is ~20x slower
# mallinfo2 counts chunks parked in glibc's per-thread cache as in use,
# which would blur the soak's heap check (see tests/soak/soak.c).
SOAK_ENV=(GLIBC_TUNABLES=glibc.malloc.tcache_count=0)

# Sanitizer settings.  Every report ends the process with a non-zero status
# (ASan and LSan do by default, UBSan with halt_on_error), and run_step also
# counts a failure for any report text in a log.
SANITIZER_LIBS="$(gcc -print-file-name=libasan.so):$(gcc -print-file-name=libubsan.so)"
UBSAN_ENV=UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
C_ASAN_ENV=ASAN_OPTIONS=detect_leaks=1:halt_on_error=1
# CPython's own allocations are never all freed at exit: no leak check there.
PY_ASAN_ENV=ASAN_OPTIONS=detect_leaks=0:halt_on_error=1
SANITIZER_REPORT='ERROR: (Address|Leak)Sanitizer|runtime error:|SUMMARY: UndefinedBehaviorSanitizer'

logdir=$(mktemp -d)
trap 'rm -rf "$logdir"' EXIT
passed=0 failed=0 skipped=0 status=0

last_failed=0
tally() { # adds a log's "N passed, N failed, N skipped" summary
    local log=$1 p f s
    p=$(grep -Eo '[0-9]+ passed' "$log" | tail -1 | grep -Eo '[0-9]+' || true)
    f=$(grep -Eo '[0-9]+ (failed|error|errors)' "$log" | awk '{s+=$1} END {print s+0}')
    s=$(grep -Eo '[0-9]+ skipped' "$log" | tail -1 | grep -Eo '[0-9]+' || true)
    passed=$((passed + ${p:-0})) failed=$((failed + ${f:-0})) skipped=$((skipped + ${s:-0}))
    last_failed=${f:-0}
}

# run_step LOG RC: counts a finished step from its log and exit status.  A
# step that failed without saying so in its summary (a sanitizer abort, a
# crash, a leak report after the summary) counts one more failure.
run_step() {
    local log=$1 rc=$2
    tally "$log"
    if grep -Eq "$SANITIZER_REPORT" "$log"; then
        echo "    sanitizer report:"
        grep -E -A12 "$SANITIZER_REPORT" "$log" | head -40 | sed 's/^/    /'
        [ "$rc" -ne 0 ] || rc=1
    fi
    if [ "$rc" -ne 0 ]; then
        status=1
        [ "$last_failed" -gt 0 ] || failed=$((failed + 1))
    fi
}

# A one-check step: passed or failed by its exit status alone.
count_one() {
    if [ "$1" -eq 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)) status=1; fi
}

# build_asan CONFIG: build/asan-CONFIG, reconfigured when the config changed.
build_asan() {
    local c=$1 dir=build/asan-$1
    if [ -f "$dir/build.ninja" ] && ! cmp -s "configs/$c.ini" "$dir/config.ini"; then
        rm -rf "$dir"
    fi
    if [ ! -f "$dir/build.ninja" ]; then
        meson setup "$dir" --native-file "configs/$c.ini" \
            -Db_sanitize=address,undefined -Db_lundef=false >"$logdir/setup.log" 2>&1 ||
            { cat "$logdir/setup.log"; rm -rf "$dir"; return 1; }
        cp "configs/$c.ini" "$dir/config.ini"
    fi
    meson compile -C "$dir" >"$logdir/compile.log" 2>&1 || { cat "$logdir/compile.log"; return 1; }
}

# unit_tests DIR [ENV...]: every C unit test of a build, with ENV set.
unit_tests() {
    local dir=$1 t name rc args
    shift
    for t in "$dir"/tests/unit/test_*; do
        if [ ! -f "$t" ] || [ ! -x "$t" ]; then continue; fi
        name=$(basename "$t")
        args=()
        [[ $certdir_tests == *" $name "* ]] && args=("$dir/tests/unit/certs")
        env "$@" "$t" "${args[@]}" >"$logdir/unit.log" 2>&1
        rc=$?
        grep -E '^(FAIL|  )' "$logdir/unit.log" || true
        echo "$name: $(grep -E '^[0-9]+ passed' "$logdir/unit.log" | tail -1)"
        run_step "$logdir/unit.log" "$rc"
    done
}

# soak DIR CONNECTIONS [ENV / wrapper...]: the leak soak, counted as one test.
soak() {
    local dir=$1 n=$2 rc
    shift 2
    if [ ! -x "$dir/tests/soak/soak" ]; then
        echo "soak: not built in $dir"; failed=$((failed + 1)) status=1
        return
    fi
    env "${SOAK_ENV[@]}" "$@" "$dir/tests/soak/soak" "$dir/tests/unit/certs" "$n" \
        >"$logdir/soak.log" 2>&1
    rc=$?
    grep -E '^soak' "$logdir/soak.log"
    if grep -Eq "$SANITIZER_REPORT|definitely lost: [1-9]" "$logdir/soak.log"; then
        grep -E -A12 "$SANITIZER_REPORT|definitely lost" "$logdir/soak.log" | head -40
        [ "$rc" -ne 0 ] || rc=1
    fi
    count_one $rc
}

# pytest_suites DIR [ENV...]: the Python suites against a build.  The
# other backends' builds serve as peers; a missing one fails the tests
# that need it (MPSSL_REQUIRE_PEERS) instead of skipping them.
pytest_suites() {
    local dir=$1 rc
    shift
    # PYTEST_ARGS is split into words on purpose ("-k verify -x").
    # shellcheck disable=SC2086
    env "$@" PYTHONPATH="$PWD/$dir" MPSSL_BUILD_ROOT="$PWD/build" MPSSL_REQUIRE_PEERS=1 \
        "$PYTHON" -m pytest -p no:cacheprovider \
        ${PYTEST_ARGS:-} "${pytest_paths[@]}" 2>&1 | tee "$logdir/pytest.log"
    rc=${PIPESTATUS[0]}
    run_step "$logdir/pytest.log" "$rc"
}

test_normal_build() {
    local c=$1 dir=build/$1
    echo "=== $c: build"
    if ! scripts/build.sh "$c"; then
        echo "=== $c: BUILD FAILED"; failed=$((failed + 1)) status=1
        return
    fi
    echo "=== $c: C unit tests"
    unit_tests "$dir"
    echo "=== $c: leak soak ($SOAK_CONNECTIONS connections)"
    soak "$dir" "$SOAK_CONNECTIONS"
    echo "=== $c: pytest ($PYTHON)"
    mkdir -p build/results
    rm -f "build/results/$c.xml"
    pytest_suites "$dir" PYTEST_ADDOPTS="--junitxml=$PWD/build/results/$c.xml"
}

test_sanitizer_build() {
    local c=$1 dir=build/asan-$1
    echo "=== $c: ASan+UBSan build ($dir)"
    if ! build_asan "$c"; then
        echo "=== $c: ASAN BUILD FAILED"; failed=$((failed + 1)) status=1
        return
    fi
    echo "=== $c: C unit tests under ASan+UBSan+LSan"
    unit_tests "$dir" "$C_ASAN_ENV" "$UBSAN_ENV"
    echo "=== $c: leak soak under LSan ($SOAK_CONNECTIONS connections)"
    soak "$dir" "$SOAK_CONNECTIONS" "$C_ASAN_ENV" "$UBSAN_ENV"
    echo "=== $c: pytest under ASan+UBSan"
    pytest_suites "$dir" LD_PRELOAD="$SANITIZER_LIBS" "$PY_ASAN_ENV" "$UBSAN_ENV"
}

test_valgrind_soak() {
    local c=$1
    echo "=== $c: leak soak under valgrind ($SOAK_VALGRIND_CONNECTIONS connections)"
    if ! command -v valgrind >/dev/null; then
        echo "skipped: valgrind is not installed"; skipped=$((skipped + 1))
        return
    fi
    soak "build/$c" "$SOAK_VALGRIND_CONNECTIONS" valgrind -q --leak-check=full \
        --errors-for-leak-kinds=definite --error-exitcode=99
}

start=$SECONDS
echo "=== build every configuration (peers for the cross-backend tests)"
for c in "${all_configs[@]}"; do
    scripts/build.sh "$c" >"$logdir/build.log" 2>&1 ||
        { cat "$logdir/build.log"; echo "=== $c: BUILD FAILED"; }
done
for c in "${configs[@]}"; do
    test_normal_build "$c"
    if [ -z "${MPSSL_NO_SANITIZERS:-}" ]; then
        test_sanitizer_build "$c"
        test_valgrind_soak "$c"
    fi
done

# The committed report must be what this run's results produce (checked
# only on a full run: every configuration, every test).
if [ -x scripts/parity.py ] && [ -z "${PYTEST_ARGS:-}" ] &&
    [ ${#configs[@]} -eq ${#all_configs[@]} ]; then
    echo "=== parity report (scripts/parity.py)"
    results=()
    for c in "${configs[@]}"; do results+=("build/results/$c.xml"); done
    scripts/parity.py --out build/parity.md "${results[@]}" &&
        scripts/parity.py --check docs/parity.md "${results[@]}"
    count_one $?
fi

if [ -x scripts/fuzz.sh ]; then
    echo "=== fuzz (scripts/fuzz.sh)"
    scripts/fuzz.sh
    count_one $?
fi

echo
echo "time: $((SECONDS - start)) s"
echo "total: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] || status=1
exit $status
