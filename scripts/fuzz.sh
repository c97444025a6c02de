#!/usr/bin/env bash
# Fuzzes the core and each configured backend with libFuzzer under ASan and
# UBSan (clang from Debian: packages clang, libclang-rt-14-dev, llvm-14).
#
#   scripts/fuzz.sh [SECONDS] [CONFIG...]
#
# SECONDS per target (default 5: a smoke run, about 3 minutes for all four
# backends on 2 cores including the builds).  CONFIG names configs/<CONFIG>.ini
# (default: every configs/cpython-*.ini); the fuzz build uses its backend
# only (-Dport=none).  A longer hunt, e.g. 10 minutes per target:
#
#   scripts/fuzz.sh 600                    # every backend
#   scripts/fuzz.sh 600 cpython-mbedtls    # one backend
#
# Per backend: build/fuzz-<backend>/ (CC=clang, -Dfuzz=true), seed corpora
# generated into build/fuzz-<backend>/corpus/<target>/ (tests/fuzz/
# make_corpus.py; the fuzzer adds what it finds there, so later runs start
# further), logs in .../logs/, crash inputs in .../artifacts/.  Prints one
# line per target (backend, target, runs, result) and exits 1 if any target
# crashed, printing the input and the command that reproduces it.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=5
if [ $# -gt 0 ] && [[ $1 =~ ^[0-9]+$ ]]; then
    seconds=$1
    shift
fi
configs=("$@")
if [ ${#configs[@]} -eq 0 ]; then
    for f in configs/cpython-*.ini; do
        configs+=("$(basename "$f" .ini)")
    done
fi

scripts/deps.sh
if ! command -v clang >/dev/null; then
    echo "fuzz: clang not found (scripts/deps.sh installs it as root)" >&2
    exit 1
fi

targets=(pem ciphers hostname record_client record_server)
symbolizer=$(ls /usr/lib/llvm-*/bin/llvm-symbolizer 2>/dev/null | tail -n1 || true)
export ASAN_SYMBOLIZER_PATH=${ASAN_SYMBOLIZER_PATH:-$symbolizer}
# UBSan findings must stop the run like ASan's, so libFuzzer saves the input.
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1}

# The backend a config selects: its tls_backend option.
backend_of() {
    sed -n "s/^[[:space:]]*tls_backend[[:space:]]*=[[:space:]]*'\([a-z]*\)'.*/\1/p" \
        "configs/$1.ini"
}

build() { # backend dir
    if [ ! -f "$2/build.ninja" ]; then
        CC=clang meson setup "$2" -Dfuzz=true -Dport=none \
            -Dtls_backend="$1" -Db_sanitize=address,undefined \
            -Db_lundef=false >"$2.setup.log" 2>&1 ||
            { cat "$2.setup.log" >&2; rm -f "$2.setup.log"; return 1; }
        rm -f "$2.setup.log"
    fi
    meson compile -C "$2" >/dev/null || meson compile -C "$2"
}

# Runs one target; prints its summary line; 1 on a crash.
run_target() { # backend dir target
    local backend=$1 dir=$2 target=$3 log runs status artifact
    log="$dir/logs/$target.log"
    status=0
    "$dir/tests/fuzz/fuzz_$target" -max_total_time="$seconds" -timeout=25 \
        -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$dir/artifacts/$target-" \
        "$dir/corpus/$target" >"$log" 2>&1 || status=$?
    runs=$(sed -n 's/^stat::number_of_executed_units:[[:space:]]*//p' "$log" |
        tail -n1)
    artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n1)
    if [ "$status" -eq 0 ]; then
        printf '%-8s %-14s %10s  ok\n' "$backend" "$target" "${runs:-?}"
        return 0
    fi
    printf '%-8s %-14s %10s  CRASH (exit %d)\n' "$backend" "$target" \
        "${runs:-?}" "$status"
    grep -m1 -E 'ERROR: |runtime error|SUMMARY' "$log" | sed 's/^/    /' || true
    echo "    input: ${artifact:-none written (see $log)}"
    echo "    log:   $log"
    [ -n "$artifact" ] && echo "    reproduce: $dir/tests/fuzz/fuzz_$target $artifact"
    return 1
}

failed=0
mkdir -p build
printf '%-8s %-14s %10s  %s\n' backend target runs result
for c in "${configs[@]}"; do
    backend=$(backend_of "$c")
    if [ -z "$backend" ]; then
        echo "fuzz: configs/$c.ini names no tls_backend" >&2
        exit 1
    fi
    dir="build/fuzz-$backend"
    build "$backend" "$dir"
    mkdir -p "$dir/logs" "$dir/artifacts" "$dir/corpus"
    /usr/bin/python3 tests/fuzz/make_corpus.py "$dir/corpus" \
        --capture "$dir/tests/fuzz/capture_flights"
    for t in "${targets[@]}"; do
        run_target "$backend" "$dir" "$t" || failed=1
    done
done
if [ "$failed" -ne 0 ]; then
    echo "fuzz: crashes found (inputs listed above)"
    exit 1
fi
echo "fuzz: no crashes"
