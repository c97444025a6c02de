#!/usr/bin/env bash
# Installs what building and testing mpssl needs, from Debian's packages.
# Does nothing when everything is already there; needs root otherwise.
set -euo pipefail

packages=(
    build-essential pkg-config meson ninja-build
    libssl-dev openssl libmbedtls-dev libgnutls28-dev gnutls-bin libbearssl-dev
    python3-dev python3-pytest
    # scripts/fuzz.sh: clang with libFuzzer (libclang_rt.fuzzer is in
    # libclang-rt-14-dev, only recommended by clang) and llvm-symbolizer.
    clang libclang-rt-14-dev llvm-14
    # scripts/test.sh: the leak soak also runs under valgrind.
    valgrind
)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
echo "deps: installing ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
    echo "deps: run as root (or install these packages): ${missing[*]}" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
