#!/usr/bin/env bash
# Proves core/ (and the bare-metal port: port/baremetal.c, port/defaults.c) are freestanding:
# they compile with -ffreestanding
# -nostdlib -std=c11 -Wall -Wextra -Werror under gcc and clang for x86-64 and AArch64, and
# their objects reference no symbol outside the port contract (plus memcpy/memset/memmove).
# Prints one line per compiler/target and "N passed, N failed".
cd "$(dirname "$0")/.." || exit 1
out=build/freestanding
mkdir -p "$out"
# _GLOBAL_OFFSET_TABLE_ is the linker's own symbol (position-independent x86-64 code names it)
allowed='^(_GLOBAL_OFFSET_TABLE_|bm_port_core_node|bm_port_entropy|bm_port_set_errno|bm_port_default_sources|bm_port_core_id|bm_port_core_count|bm_port_error|bm_port_log|bm_port_env_options|memcpy|memset|memmove)$'
# the bare-metal port may also use what boards provide (port/baremetal.h) and the heap symbols
allowed_port='^(_GLOBAL_OFFSET_TABLE_|board_[a-z_]+|__bm_heap_start|__bm_heap_end|bm_cache_unset|bm_[a-z_]+)$'
flags="-std=c11 -O2 -ffreestanding -nostdlib -Wall -Wextra -Werror -Iinclude -Iport -Icore -Icore/ext" # no -Iboards
pass=0 fail=0
check() { # name compiler flags...
    local name=$1 cc=$2; shift 2
    local dir=$out/$name bad=""
    rm -rf "$dir"
    mkdir -p "$dir"
    for src in core/*.c core/ext/*.c; do
        if ! $cc $flags "$@" -c "$src" -o "$dir/$(basename "$src" .c).o" 2>"$dir/errors.txt"; then
            bad="compile error in $src: $(head -n 3 "$dir/errors.txt")"
            break
        fi
    done
    if [ -z "$bad" ]; then
        # undefined symbols of core/ as a whole: each object's undefined minus what core defines
        defined=$(nm --defined-only "$dir"/*.o | awk '{print $3}' | sort -u)
        undefined=$(nm -u "$dir"/*.o | awk '{print $2}' | sort -u | grep -vxF -f <(echo "$defined") || true)
        extra=$(echo "$undefined" | grep -v '^$' | grep -Ev "$allowed" | grep -Ev "${allowed_more:-^$}" || true)
        [ -n "$extra" ] && bad="core references symbols outside the port contract: $(echo $extra)"
    fi
    for src in port/baremetal.c port/defaults.c; do
        obj="$dir/$(basename "$src" .c).port.bin"
        if [ -z "$bad" ] && ! $cc $flags "$@" -c "$src" -o "$obj" 2>"$dir/errors.txt"; then
            bad="$src does not compile: $(head -n 3 "$dir/errors.txt")"
        fi
        if [ -z "$bad" ]; then
            extra=$(nm -u "$obj" | awk '{print $2}' | grep -Ev "$allowed_port" || true)
            [ -n "$extra" ] && bad="$src references: $(echo $extra)"
        fi
    done
    if [ -z "$bad" ]; then
        echo "ok    freestanding $name"
        pass=$((pass + 1))
    else
        echo "FAIL  freestanding $name: $bad"
        fail=$((fail + 1))
    fi
}
check gcc-x86_64 gcc -mno-red-zone -mgeneral-regs-only
check clang-x86_64 clang --target=x86_64-none-elf -mno-red-zone -mgeneral-regs-only
check gcc-aarch64 aarch64-linux-gnu-gcc -mno-outline-atomics -mgeneral-regs-only
check clang-aarch64 clang --target=aarch64-none-elf -mgeneral-regs-only
check gcc-cortex-m3-small arm-none-eabi-gcc -mcpu=cortex-m3 -mthumb -DBM_GEOMETRY_SMALL
check gcc-riscv64 riscv64-unknown-elf-gcc -march=rv64imac -mabi=lp64 -mcmodel=medany
check gcc-aarch64-ticket-lock aarch64-linux-gnu-gcc -mno-outline-atomics -mgeneral-regs-only -DBM_LOCK_TICKET
check gcc-aarch64-debug-locks aarch64-linux-gnu-gcc -mno-outline-atomics -mgeneral-regs-only -DBM_DEBUG_LOCKS
check gcc-cortex-m3-1core-debug-locks arm-none-eabi-gcc -mcpu=cortex-m3 -mthumb -DBM_GEOMETRY_SMALL -DBM_MAX_CORES=1 -DBM_DEBUG_LOCKS
check gcc-cortex-m4f-basepri arm-none-eabi-gcc -mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16 -DBM_GEOMETRY_SMALL -DBM_CORTEX_M_BASEPRI=0x80
# ARMv6-M: libgcc's division and Thumb-1 switch helpers, and the atomics port/armv6m.c provides
allowed_more='^(__aeabi_u?idiv(mod)?|__aeabi_lmul|__ctzsi2|__gnu_thumb1_case_[a-z]+|__atomic_(fetch_add|exchange|compare_exchange)_4)$' \
    check gcc-cortex-m0plus-1core arm-none-eabi-gcc -mcpu=cortex-m0plus -mthumb -DBM_GEOMETRY_SMALL -DBM_MAX_CORES=1
echo "freestanding: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
