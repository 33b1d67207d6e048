#!/usr/bin/env bash
# Builds port/freertos.c against a real FreeRTOS-Kernel checkout (its FreeRTOS.h, portable.h and
# a Cortex-M portmacro.h) with -DBM_FREERTOS_HAVE_PORTABLE_H and -Werror, for the Cortex-M3,
# M4F and M33, and checks that the object defines every function FreeRTOS's heap_4.c defines
# (compiled from the same checkout), so that a project swapping heap_4.c for port/freertos.c
# links. The tree holds no FreeRTOS sources: pass a checkout (or set FREERTOS_KERNEL).
# usage: tools/check-freertos-headers.sh [FREERTOS_KERNEL_DIR]; exit 0 when every check passed.
cd "$(dirname "$0")/.." || exit 1
kernel=${1:-${FREERTOS_KERNEL:-}}
if [ -z "$kernel" ] || [ ! -f "$kernel/include/FreeRTOS.h" ]; then
    echo "usage: $0 FREERTOS_KERNEL_DIR (a FreeRTOS-Kernel checkout: include/FreeRTOS.h)" >&2
    exit 2
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The smallest configuration FreeRTOS.h accepts, with the malloc-failed hook on (the glue must
# then call vApplicationMallocFailedHook, weakly).
cat > "$work/FreeRTOSConfig.h" <<'EOF'
#ifndef FREERTOS_CONFIG_H
#define FREERTOS_CONFIG_H
#define configUSE_PREEMPTION 1
#define configCPU_CLOCK_HZ 25000000
#define configTICK_RATE_HZ 1000
#define configMAX_PRIORITIES 5
#define configMINIMAL_STACK_SIZE 128
#define configTOTAL_HEAP_SIZE (64 * 1024)
#define configMAX_TASK_NAME_LEN 16
#define configUSE_16_BIT_TICKS 0
#define configUSE_IDLE_HOOK 0
#define configUSE_TICK_HOOK 0
#define configUSE_MALLOC_FAILED_HOOK 1
#define configSUPPORT_DYNAMIC_ALLOCATION 1
#define configKERNEL_INTERRUPT_PRIORITY 255
#define configMAX_SYSCALL_INTERRUPT_PRIORITY 191
#define configENABLE_MPU 0
#define configENABLE_FPU 1
#define configENABLE_TRUSTZONE 0
#define configRUN_FREERTOS_SECURE_ONLY 1
#endif
EOF
pass=0 fail=0
check() { # name cpu-flags portable-dir
    local name=$1 flags=$2 portdir=$kernel/portable/GCC/$3
    local cc="arm-none-eabi-gcc -std=c11 -Os -mthumb $flags -ffreestanding -I$work -I$kernel/include -I$portdir"
    if ! $cc -Wall -Wextra -Werror -DBM_GEOMETRY_SMALL -DBM_FREERTOS_HAVE_PORTABLE_H -Iinclude -Iport \
            -c port/freertos.c -o "$work/$name-glue.o" ||
        ! $cc -w -c "$kernel/portable/MemMang/heap_4.c" -o "$work/$name-heap4.o"; then
        echo "FAIL  freertos-headers $name (compile)"
        fail=$((fail + 1))
        return
    fi
    local missing
    missing=$(comm -23 <(arm-none-eabi-nm "$work/$name-heap4.o" | awk '$2 == "T" {print $3}' | sort) \
                       <(arm-none-eabi-nm "$work/$name-glue.o" | awk '$2 == "T" {print $3}' | sort))
    local hook
    hook=$(arm-none-eabi-nm "$work/$name-glue.o" | awk '$NF == "vApplicationMallocFailedHook" {print $(NF - 1)}')
    if [ -n "$missing" ] || [ "$hook" != "w" ]; then
        echo "FAIL  freertos-headers $name: missing heap_4 functions: ${missing:-none}; malloc-failed hook: ${hook:-not referenced}"
        fail=$((fail + 1))
    else
        echo "ok    freertos-headers $name (every heap_4.c function defined, malloc-failed hook weak)"
        pass=$((pass + 1))
    fi
}
check cortex-m3 "-mcpu=cortex-m3 -mfloat-abi=soft" ARM_CM3
check cortex-m4f "-mcpu=cortex-m4 -mfloat-abi=hard -mfpu=fpv4-sp-d16" ARM_CM4F
check cortex-m33 "-mcpu=cortex-m33 -mfloat-abi=hard -mfpu=fpv5-sp-d16" ARM_CM33_NTZ/non_secure
echo "freertos-headers: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
