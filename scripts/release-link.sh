#!/usr/bin/env bash
# The linker of x86_64 release binaries (scripts/release-build.sh names it to cargo, which
# passes it to rustc as `-C linker`): runs `cc` with rustc's arguments, plus the functions a
# scan runs laid out first and side by side, in the order of scripts/release-symbol-order.txt
# (`--symbol-ordering-file`, lld), and a link map next to the binary for
# tests/release_install.rs.
#
# A one-node scan runs ~1,600 of the binary's functions. Left where the linker puts them they
# are spread over ~5 MB of its 12.5 MB of code, and the kernel maps code 64 KiB at a time, on
# the first touch: 80 page faults for a snapshot file. Side by side they fill ~2.3 MB: 32
# faults, and the CPU's instruction caches and TLB hold more of them. 0.2 ms of a 3 ms scan
# (#14, docs/performance.md "One node, thirteenth round").
#
# The order file (scripts/symbol-order.py) names functions as the release binary it profiled
# named them. rustc's names carry hashes that change with the compiler and the dependencies'
# versions; a name the objects being linked lack stands for those of the same name with other
# hashes (scripts/symbol-order.awk). A function the order file does not name keeps the
# linker's place: a stale order file costs speed, never correctness.
#
# Environment (set by scripts/release-build.sh):
#   CISGATE_SYMBOL_ORDER  the order file
#   CISGATE_LINK_MAP      where the link map goes
set -euo pipefail

order=${CISGATE_SYMBOL_ORDER:?the order file (scripts/release-build.sh sets it)}
link_map=${CISGATE_LINK_MAP:?where the link map goes (scripts/release-build.sh sets it)}

# rustc hands the linker its own objects (the whole program, after LTO) as *.o files; the C
# libraries come in archives, whose symbol names carry no hash and are used as written.
objects=()
for arg in "$@"; do
    case $arg in
        *.o) objects+=("$arg") ;;
    esac
done

if [ ${#objects[@]} -eq 0 ]; then
    echo "release-link: no object files among the linker's arguments" >&2
    exit 1
fi
exact=$(mktemp "${TMPDIR:-/tmp}/cisgate-symbol-order.XXXXXX")
trap 'rm -f "$exact"' EXIT

nm --defined-only --format=just-symbols "${objects[@]}" |
    awk -f "$(dirname "$0")/symbol-order.awk" - "$order" >"$exact"

# rustc 1.90 and later link x86_64 Linux with its own lld; an older one is told to.
lld=()
case " $* " in
    *" -fuse-ld=lld "*) ;;
    *) lld=(-fuse-ld=lld "-B$(rustc --print sysroot)/lib/rustlib/$(rustc -vV | sed -n 's/^host: //p')/bin/gcc-ld") ;;
esac
cc "$@" "${lld[@]}" -Wl,--symbol-ordering-file="$exact" -Wl,--no-warn-symbol-ordering -Wl,-Map="$link_map"
