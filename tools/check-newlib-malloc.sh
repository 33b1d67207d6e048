#!/usr/bin/env bash
# Proves from a link map that baremalloc, not newlib or picolibc, is the C library's allocator:
#   1. none of the C library's allocator objects was linked (newlib: mallocr.o and its
#      siblings, nano-mallocr.o & co., _sbrk_r; picolibc: nano-malloc-*.c.o, its sbrk);
#   2. the allocator entry points the C library calls are defined by the glue, port/newlib.c or
#      port/picolibc.c (malloc, calloc and free may instead be core/alloc.c's aliases, built
#      with -DBM_EXPORT_STD_NAMES);
#   3. lists which C library objects call the allocator (newlib: _malloc_r; picolibc: malloc,
#      calloc, realloc): stdio, strdup, ..., they now reach baremalloc.
# The map must come from a link with -Wl,-Map=... -Wl,--cref (the cross-reference table). Which
# C library it is comes from the map: picolibc's archive members are named libc_<dir>_<file>.c.o
# (and nano-malloc-<file>.c.o), newlib's lib_a-<file>.o.
# Given an ELF instead (any integrator's firmware, newlib or picolibc, no map needed), it checks the symbols:
# none of newlib's allocator state (mallocr's __malloc_av_ and sbrk base, nano-mallocr's free
# list and sbrk start, _sbrk_r) is present and malloc, free and _malloc_r are defined.
# The glue may be this tree's build object (port/newlib.c.o, port/picolibc.c.o) or `make lib`'s
# build/<target>/baremalloc_newlib.o or baremalloc_picolibc.o.
# usage: tools/check-newlib-malloc.sh FIRMWARE.map | FIRMWARE.elf      exit 0: OK, 1: not proven
set -u
map=${1:?usage: check-newlib-malloc.sh MAP|ELF}
fail() {
    echo "check-newlib-malloc: FAIL: $*"
    exit 1
}
[ -r "$map" ] || fail "no file $map"
if [ "$(head -c 4 "$map" | od -An -c | tr -d ' ')" = "177ELF" ]; then
    nm_tool=arm-none-eabi-nm
    command -v $nm_tool >/dev/null || nm_tool=nm
    syms=$($nm_tool "$map") || fail "$nm_tool cannot read $map"
    for state in __malloc_av_ __malloc_sbrk_base __malloc_free_list __malloc_sbrk_start __malloc_sbrk_top _sbrk_r; do
        echo "$syms" | awk '{print $NF}' | grep -qx "$state" && fail "$map holds $state: the C library's own allocator (newlib's or picolibc's) is linked"
    done
    entries="malloc free"
    # newlib (its reent structure is in the program) reaches the allocator through _malloc_r
    # too; picolibc has no reentrant family
    echo "$syms" | awk '{print $NF}' | grep -qx _impure_ptr && entries="$entries _malloc_r _free_r"
    for entry in $entries; do
        echo "$syms" | awk 'NF == 3 && $2 ~ /[TtW]/ {print $3}' | grep -qx "$entry" || fail "$map does not define $entry"
    done
    echo "check-newlib-malloc: OK: $map defines $entries and holds none of newlib's (or picolibc's) allocator state"
    exit 0
fi
grep -q '^Cross Reference Table' "$map" || fail "$map has no cross-reference table (link with -Wl,--cref)"

# The C library's members in the map's archive lines: libc.a(libc_stdio_...c.o) is picolibc.
if grep -qE '\.a\((libc_[A-Za-z0-9_-]+|nano-malloc-[a-z_]+)\.[cS]\.o\)' "$map"; then
    libc=picolibc
    glue="port/picolibc.c.o or baremalloc_picolibc.o"
    is_glue() { case $1 in *port/picolibc.c.o | *baremalloc_picolibc.o) return 0 ;; *) return 1 ;; esac; }
    # nano-malloc (picolibc's default), the older newlib malloc picolibc can be built with, sbrk
    allocator_members='(nano-malloc-[a-z_]+|libc_stdlib_(mallocr|freer|reallocr|callocr|cfreer|malignr|msizer|mallinfor|malloptr|mallstatsr|vallocr|pvallocr)|libc_picolib_picosbrk)\.c\.o'
    # picolibc calls the standard names: the first must be in the link, the rest from the glue
    entries="malloc free calloc realloc memalign aligned_alloc posix_memalign malloc_usable_size valloc pvalloc cfree"
    sbrk=sbrk
    callers_of="malloc calloc realloc"
    member_name='s/^libc_//; s/\.[cS]\.o$//'
    member_pattern='libc_[A-Za-z0-9_-]+\.[cS]\.o'
else
    libc=newlib
    glue="port/newlib.c.o or baremalloc_newlib.o"
    is_glue() { case $1 in *port/newlib.c.o | *baremalloc_newlib.o) return 0 ;; *) return 1 ;; esac; }
    allocator_members='lib_a-(nano-)?(mallocr|freer|reallocr|callocr|cfreer|malignr|msizer|mallinfor|malloptr|mallstatsr|vallocr|pvallocr|malloc|calloc|realloc|malign|msize|aligned_alloc|valloc|sbrkr)\.o'
    # newlib's own code calls the reentrant family: _malloc_r must be in the link
    entries="_malloc_r _free_r _calloc_r _realloc_r _memalign_r _malloc_usable_size_r
        malloc free calloc realloc memalign aligned_alloc posix_memalign malloc_usable_size"
    sbrk=_sbrk
    callers_of=_malloc_r
    member_name='s/^lib_a-//; s/\.o$//'
    member_pattern='lib_a-[a-z_0-9-]+\.o'
fi
is_core_alias() { case $1 in *core/alloc.c.o | *"(alloc.o)") return 0 ;; *) return 1 ;; esac; }

linked=$(grep -oE "lib[a-z_]*\.a\($allocator_members\)" "$map" | sort -u)
[ -z "$linked" ] || fail "$libc's allocator is linked: $(echo $linked)"

# The cross-reference table: "symbol  defining-file" then indented lines, one per user.
definer() { awk -v sym="$1" '$1 == sym && /^[^ ]/ { print $2; exit }' "$map"; }
users() {
    awk -v sym="$1" '/^[^ ]/ { inside = ($1 == sym); next } inside { print $1 }' "$map"
}
first=${entries%% *}
for symbol in $entries; do
    where=$(definer "$symbol")
    if [ -z "$where" ]; then
        [ "$symbol" = "$first" ] && fail "$first is not in the link at all"
    elif is_glue "$where"; then
        :
    elif is_core_alias "$where"; then
        case $symbol in malloc | calloc | free) ;; *) fail "$symbol is defined by $where" ;; esac
    else
        fail "$symbol is defined by $where, not by $glue"
    fi
done
[ -z "$(users $sbrk)" ] || fail "something calls $sbrk: $(users $sbrk | tr '\n' ' ')"

libc_callers=$(for symbol in $callers_of; do users "$symbol"; done | grep -oE "$member_pattern" |
    sed "$member_name" | sort -u | tr '\n' ' ')
if [ $libc = picolibc ]; then
    echo "check-newlib-malloc: OK: picolibc's allocator (nano-malloc-*.c.o, sbrk) is not linked;"
    echo "  the malloc family comes from $glue (or malloc/calloc/free from"
    echo "  core/alloc.c); nothing calls sbrk;"
    echo "  picolibc objects calling malloc, calloc or realloc, now served by baremalloc: ${libc_callers:-none}"
else
    echo "check-newlib-malloc: OK: newlib's allocator (mallocr.o, nano-mallocr.o, _sbrk_r) is not linked;"
    echo "  the malloc family and _malloc_r family come from $glue (or malloc/calloc/free from"
    echo "  core/alloc.c); nothing calls _sbrk;"
    echo "  newlib objects calling _malloc_r, now served by baremalloc: ${libc_callers:-none}"
fi
