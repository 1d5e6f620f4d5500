#!/bin/sh
# Install the build tree into a temporary prefix, then build and run a separate
# program against it twice: through find_package(tinynn) and through pkg-config.
#   sh run.sh <build-dir> <consumer-source-dir> <work-dir> [ON|OFF: libtinynn.a's private symbols are local]
set -eu
build=$1 src=$2 work=$3 local=${4:-ON}
rm -rf "$work"
mkdir -p "$work"
prefix="$work/prefix"
cmake --install "$build" --prefix "$prefix" >/dev/null

# No private header may reach the install tree.
if find "$prefix" -name '*_impl.h' | grep -q .; then
    echo "private headers were installed:"; find "$prefix" -name '*_impl.h'; exit 1
fi

echo "== find_package(tinynn)"
cmake -S "$src" -B "$work/cmake-build" -G "Unix Makefiles" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release \
    -DTINYNN_STATIC_LOCAL="$local" >/dev/null
cmake --build "$work/cmake-build" >/dev/null
LD_LIBRARY_PATH="$prefix/lib" "$work/cmake-build/two_moons"
"$work/cmake-build/two_moons_static"
if [ "$local" = ON ]; then
    "$work/cmake-build/clash_static"
    # The static library offers exactly the shared library's symbols.
    nm -g --defined-only "$prefix/lib/libtinynn.a" | awk 'NF == 3 {print $3}' | sort > "$work/static.syms"
    nm -D --defined-only "$prefix/lib/libtinynn.so" | awk 'NF == 3 {print $3}' | sort > "$work/shared.syms"
    [ -s "$work/static.syms" ] && [ -s "$work/shared.syms" ] || { echo "nm listed no symbols"; exit 1; }
    cmp -s "$work/static.syms" "$work/shared.syms" || {
        echo "libtinynn.a and libtinynn.so define different global symbols:"
        diff "$work/static.syms" "$work/shared.syms" | head -20; exit 1; }
fi

# OpenBLAS is linked, not included: no public header needs cblas.h. (The CMake targets;
# pkg-config --cflags also prints the Cflags of Requires.private.)
for t in two_moons two_moons_static; do
    flags="$work/cmake-build/CMakeFiles/$t.dir/flags.make"
    [ -f "$flags" ] || { echo "no $flags"; exit 1; }
    if grep -q openblas "$flags"; then
        echo "OpenBLAS's include folder reached $t's compile flags:"; cat "$flags"; exit 1
    fi
done

echo "== find_package(tinynn) without REQUIRED, OpenBLAS hidden"
cmake -S "$src/optional" -B "$work/optional-build" -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_DISABLE_FIND_PACKAGE_OpenBLAS=TRUE -DCMAKE_DISABLE_FIND_PACKAGE_PkgConfig=TRUE \
    -DCMAKE_DISABLE_FIND_PACKAGE_BLAS=TRUE | grep "tinynn not found: libtinynn needs OpenBLAS"

echo "== add_subdirectory(libtinynn)"
cmake -S "$src/subdir" -B "$work/subdir-build" -DTINYNN_SOURCE_DIR="$src/../.." -DCMAKE_BUILD_TYPE= >/dev/null
if grep -q '^CMAKE_BUILD_TYPE:STRING=.' "$work/subdir-build/CMakeCache.txt"; then
    echo "libtinynn set the parent project's build type:"; grep '^CMAKE_BUILD_TYPE' "$work/subdir-build/CMakeCache.txt"; exit 1
fi
if grep -rq --include=cmake_install.cmake 'file(INSTALL' "$work/subdir-build/tinynn"; then
    echo "libtinynn added install rules to the parent project"; exit 1
fi
cmake --build "$work/subdir-build" -j 2 >/dev/null
"$work/subdir-build/two_moons"

echo "== pkg-config tinynn"
PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
export PKG_CONFIG_PATH
pkg-config --modversion tinynn
# shellcheck disable=SC2046
cc -std=c11 -o "$work/two_moons_pc" "$src/two_moons.c" $(pkg-config --cflags --libs tinynn) -lm
LD_LIBRARY_PATH="$prefix/lib" "$work/two_moons_pc"
# The shared library carries its ABI version in its SONAME (before 1.0: 0.MINOR).
objdump -p "$prefix/lib/libtinynn.so" | grep -q 'SONAME.*libtinynn\.so\.0\.12$' || { echo "SONAME is not libtinynn.so.0.12"; exit 1; }
echo "consumer: find_package, optional find_package, add_subdirectory and pkg-config builds pass"
