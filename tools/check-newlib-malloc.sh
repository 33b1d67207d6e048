#!/usr/bin/env bash
# Proves from a link map that baremalloc, not newlib, is the C library's allocator:
#   1. none of newlib's allocator objects (mallocr.o and its siblings, nano-mallocr.o & co.,
#      _sbrk_r) was linked;
#   2. the allocator entry points newlib calls are defined by port/newlib.c (malloc, calloc
#      and free may instead be core/alloc.c's aliases, built with -DBM_EXPORT_STD_NAMES);
#   3. lists which newlib objects call _malloc_r (stdio, strdup, ...): they now reach baremalloc.
# The map must come from a link with -Wl,-Map=... -Wl,--cref (the cross-reference table).
# Given an ELF instead (any integrator's firmware, newlib or picolibc, no map needed), it checks the symbols:
# none of newlib's allocator state (mallocr's __malloc_av_ and sbrk base, nano-mallocr's free
# list and sbrk start, _sbrk_r) is present and malloc, free and _malloc_r are defined.
# The glue may be this tree's build object (port/newlib.c.o) or `make lib`'s
# build/<target>/baremalloc_newlib.o.
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
    for state in __malloc_av_ __malloc_sbrk_base __malloc_free_list __malloc_sbrk_start _sbrk_r; do
        echo "$syms" | awk '{print $NF}' | grep -qx "$state" && fail "$map holds $state: newlib's allocator is linked"
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
is_glue() { case $1 in *port/newlib.c.o | *baremalloc_newlib.o) return 0 ;; *) return 1 ;; esac; }
is_core_alias() { case $1 in *core/alloc.c.o | *"(alloc.o)") return 0 ;; *) return 1 ;; esac; }
glue="port/newlib.c.o or baremalloc_newlib.o"
grep -q '^Cross Reference Table' "$map" || fail "$map has no cross-reference table (link with -Wl,--cref)"

allocator_members='lib_a-(nano-)?(mallocr|freer|reallocr|callocr|cfreer|malignr|msizer|mallinfor|malloptr|mallstatsr|vallocr|pvallocr|malloc|calloc|realloc|malign|msize|aligned_alloc|valloc|sbrkr)\.o'
linked=$(grep -oE "lib[a-z_]*\.a\($allocator_members\)" "$map" | sort -u)
[ -z "$linked" ] || fail "newlib's allocator is linked: $(echo $linked)"

# The cross-reference table: "symbol  defining-file" then indented lines, one per user.
definer() { awk -v sym="$1" '$1 == sym && /^[^ ]/ { print $2; exit }' "$map"; }
users() {
    awk -v sym="$1" '/^[^ ]/ { inside = ($1 == sym); next } inside { print $1 }' "$map"
}
for symbol in _malloc_r _free_r _calloc_r _realloc_r _memalign_r _malloc_usable_size_r \
    malloc free calloc realloc memalign aligned_alloc posix_memalign malloc_usable_size; do
    where=$(definer "$symbol")
    if [ -z "$where" ]; then
        [ "$symbol" = _malloc_r ] && fail "_malloc_r is not in the link at all"
    elif is_glue "$where"; then
        :
    elif is_core_alias "$where"; then
        case $symbol in malloc | calloc | free) ;; *) fail "$symbol is defined by $where" ;; esac
    else
        fail "$symbol is defined by $where, not by $glue"
    fi
done
[ -z "$(users _sbrk)" ] || fail "something calls _sbrk: $(users _sbrk | tr '\n' ' ')"

newlib_callers=$(users _malloc_r | grep -oE 'lib_a-[a-z_0-9-]+\.o' | sed 's/^lib_a-//; s/\.o$//' | sort -u | tr '\n' ' ')
echo "check-newlib-malloc: OK: newlib's allocator (mallocr.o, nano-mallocr.o, _sbrk_r) is not linked;"
echo "  the malloc family and _malloc_r family come from $glue (or malloc/calloc/free from"
echo "  core/alloc.c); nothing calls _sbrk;"
echo "  newlib objects calling _malloc_r, now served by baremalloc: ${newlib_callers:-none}"
