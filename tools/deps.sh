#!/usr/bin/env bash
# Installs what the build and the tests need from Debian's packages, if it is missing.
# usage: tools/deps.sh [host|qemu|bench|all]   (default: all)
#        tools/deps.sh cc <compiler>            only the package of that compiler (make lib)
set -e
want=${1:-all}
need=()
has() { command -v "$1" >/dev/null 2>&1; }
pkg_has() { dpkg -s "$1" >/dev/null 2>&1; }

if [ "$want" = cc ]; then
    case "$2" in
        gcc) pkg=gcc ;;
        clang) pkg=clang ;;
        arm-none-eabi-gcc) pkg="gcc-arm-none-eabi libnewlib-arm-none-eabi picolibc-arm-none-eabi" ;; # the glues' headers
        aarch64-linux-gnu-gcc) pkg=gcc-aarch64-linux-gnu ;;
        riscv64-unknown-elf-gcc) pkg=gcc-riscv64-unknown-elf ;;
        *) echo "deps: no package known for compiler '$2'" >&2; exit 1 ;;
    esac
    if has "$2"; then
        [ "$2" != arm-none-eabi-gcc ] && exit 0
        pkg=""
        pkg_has libnewlib-arm-none-eabi || pkg="libnewlib-arm-none-eabi"
        pkg_has picolibc-arm-none-eabi || pkg="$pkg picolibc-arm-none-eabi"
        [ -z "$pkg" ] && exit 0
    fi
    has make || pkg="$pkg make"
    echo "deps: installing $pkg"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    # shellcheck disable=SC2086
    $sudo apt-get install -y -qq --no-install-recommends $pkg >/dev/null
    exit 0
fi

has gcc || need+=(gcc)
has make || need+=(make)
has clang || need+=(clang)
has python3 || need+=(python3)
has cmake || need+=(cmake)             # the CMake package check (tools/check-install.sh)
has pkg-config || need+=(pkg-config) # and its pkg-config one
pkg_has libclang-rt-14-dev || need+=(libclang-rt-14-dev) # sanitizer and libFuzzer runtimes for clang
if [ "$want" = qemu ] || [ "$want" = all ]; then
    has qemu-system-aarch64 || need+=(qemu-system-arm)
    has qemu-system-arm || need+=(qemu-system-arm)
    has qemu-system-x86_64 || need+=(qemu-system-x86)
    has qemu-system-riscv64 || need+=(qemu-system-misc)
    has aarch64-linux-gnu-gcc || need+=(gcc-aarch64-linux-gnu)
    has arm-none-eabi-gcc || need+=(gcc-arm-none-eabi)
    pkg_has libnewlib-arm-none-eabi || need+=(libnewlib-arm-none-eabi)
    pkg_has picolibc-arm-none-eabi || need+=(picolibc-arm-none-eabi) # the picolibc glue's check
    has riscv64-unknown-elf-gcc || need+=(gcc-riscv64-unknown-elf)
fi
if [ "$want" = bench ] || [ "$want" = all ]; then
    pkg_has libjemalloc-dev || need+=(libjemalloc-dev)
    pkg_has libmimalloc-dev || need+=(libmimalloc-dev)
    pkg_has libtcmalloc-minimal4 || need+=(libtcmalloc-minimal4)
    has valgrind || need+=(valgrind)
    # the AArch64 guest benchmark's peer (bench/guest/run.py): Debian has no AArch64 newlib
    pkg_has picolibc-aarch64-linux-gnu || need+=(picolibc-aarch64-linux-gnu)
fi
[ ${#need[@]} -eq 0 ] && exit 0
# de-duplicate
mapfile -t need < <(printf '%s\n' "${need[@]}" | sort -u)
echo "deps: installing ${need[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
