#!/usr/bin/env bash
# Builds one build directory per configuration: build/<config> for each
# configs/<config>.ini given (default: every CPython config).  Prints the
# directories it built.
set -euo pipefail
cd "$(dirname "$0")/.."

configs=("$@")
if [ ${#configs[@]} -eq 0 ]; then
    for f in configs/cpython-*.ini; do
        configs+=("$(basename "$f" .ini)")
    done
fi
for c in "${configs[@]}"; do
    dir="build/$c"
    # A changed config means a fresh setup (meson reads native files once).
    if [ -f "$dir/build.ninja" ] && ! cmp -s "configs/$c.ini" "$dir/config.ini"; then
        rm -rf "$dir"
    fi
    if [ ! -f "$dir/build.ninja" ]; then
        meson setup "$dir" --native-file "configs/$c.ini" >"build-$c.log" 2>&1 \
            || { cat "build-$c.log" >&2; rm -f "build-$c.log"; exit 1; }
        rm -f "build-$c.log"
        cp "configs/$c.ini" "$dir/config.ini"
    fi
    meson compile -C "$dir" >/dev/null || meson compile -C "$dir"
done
