#!/usr/bin/env bash
# The integration paths an integrator uses, end to end:
#   1. make install PREFIX=... TARGET=host, then a program built through pkg-config runs;
#   2. the same prefix through CMake's find_package(baremalloc) (tests/install/package) runs;
#   3. baremalloc as a CMake subproject (tests/install/subproject) runs;
#   4. make install TARGET=cortex-m4f, then tests/install/package cross-built with
#      cmake/arm-none-eabi.cmake links a newlib firmware (printf, strdup) whose allocator is
#      baremalloc (tools/check-newlib-malloc.sh on its map);
#   5. an out-of-tree mps2-an386 firmware (tests/install/firmware) built through that installed
#      package runs under QEMU and prints through newlib's stdio on baremalloc;
#   6. CMake's own install of a cross build (the same package layout) works for step 4's program.
# Ends with "N passed, N failed".
cd "$(dirname "$0")/.." || exit 1
out=$PWD/build/install-check
rm -rf "$out"
mkdir -p "$out"
pass=0 fail=0
result() { echo "$1 install $2"; if [ "$1" = ok ]; then pass=$((pass + 1)); else fail=$((fail + 1)); fi; }
quiet() { "$@" >>"$out/log.txt" 2>&1; }

if quiet make --no-print-directory install PREFIX="$out/host" TARGET=host; then
    if quiet gcc -std=c11 -O2 -o "$out/pkgconfig-app" tests/link/alloc_api.c \
        $(PKG_CONFIG_PATH="$out/host/lib/pkgconfig" pkg-config --cflags --libs baremalloc) && "$out/pkgconfig-app"; then
        result ok "host: a program built with pkg-config --cflags --libs baremalloc runs"
    else
        result FAIL "host: pkg-config build or run failed (see $out/log.txt)"
    fi
    if quiet cmake -S tests/install/package -B "$out/find-host" -DCMAKE_PREFIX_PATH="$out/host" &&
        quiet cmake --build "$out/find-host" && "$out/find-host/app"; then
        result ok "host: find_package(baremalloc), baremalloc::baremalloc: builds and runs"
    else
        result FAIL "host: find_package build or run failed (see $out/log.txt)"
    fi
else
    result FAIL "make install TARGET=host failed (see $out/log.txt)"
fi
if quiet cmake -S tests/install/subproject -B "$out/subproject" && quiet cmake --build "$out/subproject" -j2 &&
    "$out/subproject/app"; then
    result ok "host: add_subdirectory(baremalloc): builds and runs"
else
    result FAIL "host: subproject build or run failed (see $out/log.txt)"
fi
if command -v arm-none-eabi-gcc >/dev/null; then
    if quiet make --no-print-directory install PREFIX="$out/m4f" TARGET=cortex-m4f &&
        quiet cmake -S tests/install/package -B "$out/find-m4f" -DCMAKE_TOOLCHAIN_FILE="$PWD/cmake/arm-none-eabi.cmake" \
            -DCMAKE_PREFIX_PATH="$out/m4f" && quiet cmake --build "$out/find-m4f" &&
        tools/check-newlib-malloc.sh "$out/find-m4f/app.map" >>"$out/log.txt"; then
        result ok "cortex-m4f: make install, then find_package + baremalloc::newlib links a newlib firmware on baremalloc alone"
    else
        result FAIL "cortex-m4f: make install + find_package firmware failed (see $out/log.txt)"
    fi
    if quiet cmake -S tests/install/firmware -B "$out/firmware-m4f" -DCMAKE_TOOLCHAIN_FILE="$PWD/cmake/arm-none-eabi.cmake" \
            -DCMAKE_PREFIX_PATH="$out/m4f" -DBM_LINK_SPECS=--specs=rdimon.specs && quiet cmake --build "$out/firmware-m4f" &&
        tools/check-newlib-malloc.sh "$out/firmware-m4f/firmware.map" >>"$out/log.txt" &&
        timeout 60 qemu-system-arm -M mps2-an386 -nographic -semihosting -kernel "$out/firmware-m4f/firmware.elf" \
            >"$out/firmware-m4f.out" 2>&1 && grep -q '^baremalloc 0x' "$out/firmware-m4f.out"; then
        result ok "cortex-m4f: an out-of-tree firmware built through the installed package runs on QEMU mps2-an386"
    else
        result FAIL "cortex-m4f: out-of-tree mps2-an386 firmware failed (see $out/log.txt, $out/firmware-m4f.out)"
    fi
    if quiet cmake -S . -B "$out/cross-build" -DCMAKE_TOOLCHAIN_FILE="$PWD/cmake/arm-none-eabi.cmake" &&
        quiet cmake --build "$out/cross-build" -j2 && quiet cmake --install "$out/cross-build" --prefix "$out/cmake-m4f" &&
        quiet cmake -S tests/install/package -B "$out/find-cmake-m4f" -DCMAKE_TOOLCHAIN_FILE="$PWD/cmake/arm-none-eabi.cmake" \
            -DCMAKE_PREFIX_PATH="$out/cmake-m4f" && quiet cmake --build "$out/find-cmake-m4f" &&
        tools/check-newlib-malloc.sh "$out/find-cmake-m4f/app.map" >>"$out/log.txt"; then
        result ok "cortex-m4f: CMake's own install of a cross build serves the same firmware"
    else
        result FAIL "cortex-m4f: CMake cross build and install failed (see $out/log.txt)"
    fi
else
    echo "skip Cortex-M: arm-none-eabi-gcc missing"
fi
echo "install: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
