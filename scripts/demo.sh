#!/usr/bin/env bash
# The main job: builds every configured backend and runs a verified TLS round
# trip on loopback through `import ssl` for each, one table row per backend.
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON=/usr/bin/python3
scripts/deps.sh || exit 1

configs=()
for f in configs/cpython-*.ini; do configs+=("$(basename "$f" .ini)"); done

rows=()
status=0
for c in "${configs[@]}"; do
    if ! scripts/build.sh "$c" >&2; then
        echo "$c: build failed" >&2; status=1; continue
    fi
    if row=$(PYTHONPATH="$PWD/build/$c" "$PYTHON" examples/roundtrip.py); then
        rows+=("$row")
    else
        echo "$c: round trip failed: $row" >&2; rows+=("$row"); status=1
    fi
done

printf '%s\n' "${rows[@]}" | "$PYTHON" -c '
import json, sys
rows = [json.loads(l) for l in sys.stdin if l.strip()]
cols = [("backend", "backend"), ("library", "library"), ("tls", "TLS"),
        ("cipher", "cipher"), ("handshake_ms", "handshake ms"),
        ("bytes_echoed", "bytes echoed"), ("verify", "verify")]
table = [[h for _, h in cols]] + [[str(r.get(k, "-")) for k, _ in cols] for r in rows]
widths = [max(len(row[i]) for row in table) for i in range(len(cols))]
for n, row in enumerate(table):
    print("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip())
    if n == 0:
        print("  ".join("-" * w for w in widths))
'
exit $status
