#!/usr/bin/env bash
# The observability layer (core/ext/) stays out of a program that calls only the allocation API:
# tests/link/alloc_api.c is linked against `make lib` archives for the host and the Cortex-M3
# (with --gc-sections, as an integrator would) and neither program may hold a symbol that
# only a core/ext/ object defines. Also prints what baremalloc costs a malloc/free-only
# Cortex-M3 program. Ends with "N passed, N failed".
cd "$(dirname "$0")/.." || exit 1
out=build/link
mkdir -p $out
pass=0 fail=0
result() { # ok|FAIL message
    echo "$1 link $2"
    if [ "$1" = ok ]; then pass=$((pass + 1)); else fail=$((fail + 1)); fi
}
# Symbols only core/ext/ objects define (a static of the same name elsewhere does not count).
ext_only() { # target
    local obj=build/$1/obj
    comm -23 <(nm --defined-only $obj/core/ext/*.o | awk 'NF == 3 && $2 ~ /[TtDdBbRr]/ {print $3}' | sort -u) \
             <(nm --defined-only $(ls $obj/core/*.o $obj/port/*.o) | awk 'NF == 3 {print $3}' | sort -u)
}
leaks() { # target elf: the first core/ext symbols elf holds
    comm -12 <(ext_only "$1") <(nm "$2" | awk 'NF == 3 {print $3}' | sort -u) | head -n 5 | tr '\n' ' '
}
check() { # target name elf
    local leaked
    leaked=$(leaks "$1" "$3")
    if [ -z "$(ext_only "$1")" ]; then
        result FAIL "$2: no core/ext symbols found to look for (build layout changed?)"
    elif [ -n "$leaked" ]; then
        result FAIL "$2: links observability code: $leaked"
    else
        result ok "$2: none of core/ext/ linked"
    fi
}

make -s --no-print-directory build/host/libbaremalloc.a TARGET=host || exit 1
gcc -std=c11 -O2 -Iinclude -ffunction-sections -Wl,--gc-sections -o $out/host-alloc-api \
    tests/link/alloc_api.c build/host/libbaremalloc.a -lpthread && $out/host-alloc-api &&
    check host "host, allocation API" $out/host-alloc-api || result FAIL "host program did not build or run"
# A program handing bm_init its own heap (tests/link/own_heap.c) runs and allocates from it.
gcc -std=c11 -O2 -Iinclude -o $out/host-own-heap tests/link/own_heap.c build/host/libbaremalloc.a -lpthread &&
    $out/host-own-heap && result ok "host: bm_init with the program's own heap serves from it" ||
    result FAIL "host: own-heap program failed (status $?)"
# The check itself: the same program calling the validator must be caught.
gcc -std=c11 -O2 -Iinclude -DCALL_VALIDATOR -ffunction-sections -Wl,--gc-sections -o $out/host-validator \
    tests/link/alloc_api.c build/host/libbaremalloc.a -lpthread
if [ -n "$(leaks host $out/host-validator)" ]; then
    result ok "self-test: a program calling bm_check is seen to link core/ext/"
else
    result FAIL "self-test: a program calling bm_check was not caught"
fi

if command -v arm-none-eabi-gcc >/dev/null; then
    make -s --no-print-directory build/armv7m/libbaremalloc.a TARGET=armv7m || exit 1
    m3="arm-none-eabi-gcc -std=c11 -Os -mcpu=cortex-m3 -mthumb --specs=nosys.specs -Iinclude -Wl,--gc-sections"
    heap="-Wl,--defsym=__bm_heap_start=0x20010000 -Wl,--defsym=__bm_heap_end=0x20020000"
    for v in alloc-api malloc-free; do
        flag=""; [ $v = malloc-free ] && flag=-DMALLOC_FREE_ONLY
        $m3 $flag $heap -Wl,-Map=$out/m3-$v.map -o $out/m3-$v.elf tests/link/alloc_api.c build/armv7m/libbaremalloc.a ||
            result FAIL "Cortex-M3 $v program did not link"
    done
    [ -f $out/m3-alloc-api.elf ] && check armv7m "Cortex-M3, allocation API" $out/m3-alloc-api.elf
    [ -f $out/m3-malloc-free.elf ] && check armv7m "Cortex-M3, malloc/free only" $out/m3-malloc-free.elf
    # baremalloc's share of the malloc/free-only program: code and read-only data of the symbols
    # its archive defines (nm sizes), against the whole program's text
    if [ -f $out/m3-malloc-free.elf ]; then
        bytes=$(python3 - build/armv7m/libbaremalloc.a $out/m3-malloc-free.elf <<'PY'
import subprocess, sys
def syms(args):
    return subprocess.run(["arm-none-eabi-nm"] + args, capture_output=True, text=True).stdout.split("\n")
ours = {l.split()[2] for l in syms(["--defined-only", sys.argv[1]]) if len(l.split()) == 3}
total = 0
for l in syms(["-S", sys.argv[2]]):
    f = l.split()
    if len(f) == 4 and f[2] in "TtRr" and f[3] in ours:
        total += int(f[1], 16)
print(total)
PY
)
        echo "info: baremalloc code + read-only data in a malloc/free-only Cortex-M3 program: $bytes bytes ($(arm-none-eabi-size $out/m3-malloc-free.elf | awk 'NR == 2 {print $1}') bytes of text in the whole program with newlib)"
    fi
    # Every Cortex-M library links a program using the whole allocation API with newlib, each
    # with its own core's flags and float ABI: the M0+ one resolves its atomics (port/armv6m.c).
    for t in cortex-m0plus:cortex-m0plus:soft cortex-m4f:cortex-m4:hard cortex-m33:cortex-m33:hard; do
        target=${t%%:*}; rest=${t#*:}; cpu=${rest%%:*}; abi=${rest#*:}
        fpu=""; [ $target = cortex-m4f ] && fpu=-mfpu=fpv4-sp-d16; [ $target = cortex-m33 ] && fpu=-mfpu=fpv5-sp-d16
        make -s --no-print-directory build/$target/libbaremalloc.a TARGET=$target || exit 1
        if arm-none-eabi-gcc -std=c11 -Os -mcpu=$cpu -mthumb -mfloat-abi=$abi $fpu --specs=nosys.specs -Iinclude \
            -Wl,--gc-sections $heap -o $out/$target-alloc-api.elf tests/link/alloc_api.c build/$target/libbaremalloc.a \
            2>$out/$target.err; then
            result ok "$target: the allocation API links ($abi float ABI)"
        else
            result FAIL "$target: did not link: $(head -n 3 $out/$target.err | tr '\n' ' ')"
        fi
    done
    # Its own page sources, no heap symbols: must link (the port's references to them are weak).
    if arm-none-eabi-gcc -std=c11 -Os -mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16 --specs=nosys.specs \
        -Iinclude -Wl,--gc-sections -o $out/m4f-own-heap.elf tests/link/own_heap.c build/cortex-m4f/libbaremalloc.a \
        2>$out/m4f-own-heap.err; then
        result ok "cortex-m4f: a firmware with its own page sources links without __bm_heap_start/__bm_heap_end"
    else
        result FAIL "cortex-m4f, own page sources: did not link: $(head -n 3 $out/m4f-own-heap.err | tr '\n' ' ')"
    fi
    # newlib glue as `make lib` ships it: printf's buffers and strdup must reach baremalloc and
    # newlib's allocator must not be linked (checked on the map and on the ELF).
    make -s --no-print-directory build/cortex-m4f/baremalloc_newlib.o TARGET=cortex-m4f || exit 1
    if arm-none-eabi-gcc -std=c11 -Os -mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16 --specs=nosys.specs \
        -Wl,--gc-sections -Wl,-Map=$out/m4f-newlib.map -Wl,--cref $heap -o $out/m4f-newlib.elf tests/link/newlib_stdio.c \
        build/cortex-m4f/baremalloc_newlib.o build/cortex-m4f/libbaremalloc.a 2>$out/m4f-newlib.err; then
        if tools/check-newlib-malloc.sh $out/m4f-newlib.map >$out/m4f-newlib.check && tools/check-newlib-malloc.sh $out/m4f-newlib.elf >>$out/m4f-newlib.check; then
            result ok "cortex-m4f + newlib: printf and strdup reach baremalloc, newlib's allocator not linked (map and ELF)"
        else
            result FAIL "cortex-m4f + newlib: $(grep FAIL $out/m4f-newlib.check | head -n 1)"
        fi
    else
        result FAIL "cortex-m4f + newlib: did not link: $(head -n 3 $out/m4f-newlib.err | tr '\n' ' ')"
    fi
    # picolibc glue: the same promise with picolibc, then the program runs under QEMU mps2-an386.
    make -s --no-print-directory build/cortex-m4f/baremalloc_picolibc.o TARGET=cortex-m4f || exit 1
    pico_mem="-Wl,--defsym=__flash=0 -Wl,--defsym=__flash_size=0x400000 -Wl,--defsym=__ram=0x20000000 -Wl,--defsym=__ram_size=0x400000"
    if arm-none-eabi-gcc -std=c11 -Os --specs=picolibc.specs --oslib=semihost -mcpu=cortex-m4 -mthumb -mfloat-abi=hard \
        -mfpu=fpv4-sp-d16 -Iinclude -Wl,--gc-sections -Wl,-Map=$out/m4f-picolibc.map -Wl,--cref $pico_mem \
        -o $out/m4f-picolibc.elf tests/link/picolibc_stdio.c \
        build/cortex-m4f/baremalloc_picolibc.o build/cortex-m4f/libbaremalloc.a 2>$out/m4f-picolibc.err; then
        if ! { tools/check-newlib-malloc.sh $out/m4f-picolibc.map >$out/m4f-picolibc.check &&
               tools/check-newlib-malloc.sh $out/m4f-picolibc.elf >>$out/m4f-picolibc.check; }; then
            result FAIL "cortex-m4f + picolibc: $(grep FAIL $out/m4f-picolibc.check | head -n 1)"
        elif command -v qemu-system-arm >/dev/null && ! timeout 30 qemu-system-arm -M mps2-an386 -nographic -semihosting \
            -kernel $out/m4f-picolibc.elf >$out/m4f-picolibc.out 2>&1; then
            result FAIL "cortex-m4f + picolibc: the program failed under QEMU: $(head -c 200 $out/m4f-picolibc.out)"
        else
            result ok "cortex-m4f + picolibc: strdup/calloc/realloc reach baremalloc, picolibc's allocator not linked (map and ELF), runs on mps2-an386"
        fi
    else
        result FAIL "cortex-m4f + picolibc: did not link: $(head -n 3 $out/m4f-picolibc.err | tr '\n' ' ')"
    fi
    # The check itself: the same program without the glue links picolibc's allocator, and both
    # the map and the ELF check must say so.
    if arm-none-eabi-gcc -std=c11 -Os --specs=picolibc.specs --oslib=semihost -mcpu=cortex-m4 -mthumb -mfloat-abi=hard \
        -mfpu=fpv4-sp-d16 -Iinclude -Wl,--gc-sections -Wl,-Map=$out/m4f-picolibc-noglue.map -Wl,--cref $pico_mem \
        -o $out/m4f-picolibc-noglue.elf tests/link/picolibc_stdio.c build/cortex-m4f/libbaremalloc.a \
        2>$out/m4f-picolibc-noglue.err; then
        if ! tools/check-newlib-malloc.sh $out/m4f-picolibc-noglue.map >/dev/null &&
            ! tools/check-newlib-malloc.sh $out/m4f-picolibc-noglue.elf >/dev/null; then
            result ok "self-test: picolibc's own allocator, linked without the glue, is caught (map and ELF)"
        else
            result FAIL "self-test: picolibc's own allocator (no glue) was not caught on the map or the ELF"
        fi
    else
        result FAIL "self-test: the picolibc program without the glue did not link: $(head -n 3 $out/m4f-picolibc-noglue.err | tr '\n' ' ')"
    fi
else
    echo "skip Cortex-M3: arm-none-eabi-gcc missing"
fi
echo "link: $pass passed, $fail failed"
[ $fail -eq 0 ]
