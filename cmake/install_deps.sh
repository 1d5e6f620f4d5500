#!/bin/sh
# Make sure the tools and libraries libtinynn builds with are present.
# On Debian/Ubuntu as root, missing packages are installed with apt-get; otherwise
# the exact install command is printed and the script fails.
#   sh cmake/install_deps.sh [extra-debian-package ...]
set -eu

need=""
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

command -v cmake >/dev/null 2>&1 || need="$need cmake"
command -v cc >/dev/null 2>&1 || need="$need gcc"
command -v make >/dev/null 2>&1 || need="$need make"
for p in libopenblas-dev libcmocka-dev libstb-dev zlib1g-dev pkg-config "$@"; do
    if command -v dpkg-query >/dev/null 2>&1; then
        have_pkg "$p" || need="$need $p"
    fi
done

[ -z "$need" ] && exit 0

if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "installing:$need"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $need >/dev/null
    exit 0
fi

echo "libtinynn needs these Debian/Ubuntu packages:$need" >&2
if command -v apt-get >/dev/null 2>&1; then
    echo "install them with:  sudo apt-get install$need" >&2
else
    echo "install the equivalents with your system's package manager (OpenBLAS, cmocka, stb, zlib, CMake >= 3.20)" >&2
fi
exit 1
