#!/usr/bin/env bash
# Proves from a link map that baremalloc, not newlib, is the C library's allocator:
#   1. none of newlib's allocator objects (mallocr.o and its siblings, nano-mallocr.o & co.,
#      _sbrk_r) was linked;
#   2. the allocator entry points newlib calls are defined by port/newlib.c (malloc, calloc
#      and free may instead be core/alloc.c's aliases, built with -DBM_EXPORT_STD_NAMES);
#   3. lists which newlib objects call _malloc_r (stdio, strdup, ...): they now reach baremalloc.
# The map must come from a link with -Wl,-Map=... -Wl,--cref (the cross-reference table).
# usage: tools/check-newlib-malloc.sh build/<board>/guest.map      exit 0: OK, 1: not proven
set -u
map=${1:?usage: check-newlib-malloc.sh MAP}
glue=port/newlib.c.o
core_aliases=core/alloc.c.o # malloc, calloc, free under BM_EXPORT_STD_NAMES
fail() {
    echo "check-newlib-malloc: FAIL: $*"
    exit 1
}
[ -r "$map" ] || fail "no map file $map"
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
    case $where in
    "") [ "$symbol" = _malloc_r ] && fail "_malloc_r is not in the link at all" ;;
    *"$glue") ;;
    *"$core_aliases") case $symbol in malloc | calloc | free) ;; *) fail "$symbol is defined by $where" ;; esac ;;
    *) fail "$symbol is defined by $where, not by $glue" ;;
    esac
done
[ -z "$(users _sbrk)" ] || fail "something calls _sbrk: $(users _sbrk | tr '\n' ' ')"

newlib_callers=$(users _malloc_r | grep -oE 'lib_a-[a-z_0-9-]+\.o' | sed 's/^lib_a-//; s/\.o$//' | sort -u | tr '\n' ' ')
echo "check-newlib-malloc: OK: newlib's allocator (mallocr.o, nano-mallocr.o, _sbrk_r) is not linked;"
echo "  the malloc family and _malloc_r family come from $glue (or malloc/calloc/free from"
echo "  $core_aliases); nothing calls _sbrk;"
echo "  newlib objects calling _malloc_r, now served by baremalloc: ${newlib_callers:-none}"
