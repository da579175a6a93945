#!/usr/bin/env bash
# Builds the static release binary of cisgate for one Linux target (cargo profile `dist`:
# fat LTO, one codegen unit, panics abort; see Cargo.toml) and prints its path.
#   scripts/release-build.sh [TARGET]        TARGET: x86_64-unknown-linux-gnu (default: this
#                                            machine's) or aarch64-unknown-linux-gnu
# glibc linked statically (`-C target-feature=+crt-static`): the binary runs on any Linux of its
# architecture, musl-based ones and a `scratch` container image included. cisgate resolves no
# user names or hosts through NSS, so static glibc has none of its usual caveats here.
# A static PIE, so its code is at a random address (docs/security.md, "The release binary"),
# with its 18,600 relative relocations packed (`-z pack-relative-relocs`, DT_RELR: 5 KiB
# instead of 447 KiB to read and apply at every start; 0.1-0.2 ms of a one-node scan, #14).
# The release workflow runs this on a native runner per architecture; the tests run it for this
# machine. cargo rebuilds only what changed, so a second call costs seconds.
# CISGATE_COMMIT, when set, is the commit `cisgate --version` reports (see build.rs).
set -euo pipefail
cd "$(dirname "$0")/.."

target=${1:-$(uname -m)-unknown-linux-gnu}
case $target in
    x86_64-unknown-linux-gnu | aarch64-unknown-linux-gnu) ;;
    *)
        echo "release-build: no static release build for $target" >&2
        exit 2
        ;;
esac

# RUSTFLAGS with --target applies to the target's code only, not to build scripts and
# proc macros, which must stay dynamically linked host programs.
unset CARGO_ENCODED_RUSTFLAGS
export RUSTFLAGS="-C target-feature=+crt-static -C link-arg=-Wl,-z,pack-relative-relocs"
# mimalloc reserves its first arena at 256 MiB instead of 1 GiB (MI_DEFAULT_ARENA_RESERVE, in
# KiB; later arenas grow as a fleet needs them). An arena's bitmaps grow with its size, and
# starting a 1 GiB one touched ~30 more pages: 0.1 ms of every one-node scan (#14). 64 MiB
# saved a few pages more but made a 10,000-node fleet with every report ~4% slower. cc reads
# a target's CFLAGS_<target>; SQLite, the other C code, has no such macro.
# MI_SKIP_COLLECT_ON_EXIT: mimalloc does not free its pages back to the system as the process
# exits (19 `madvise` calls ending a one-node scan, 0.05-0.1 ms, #14): the kernel takes the
# whole address space back anyway. mimalloc collects on exit for a library loaded and unloaded
# again, which cisgate is not.
# MI_USE_ENVIRON=0: mimalloc reads its MIMALLOC_* options with getenv, as `MIMALLOC_X` or
# `mimalloc_x`, instead of comparing each of its ~40 option names with every environment
# variable, case-insensitively, letter by letter: 0.07 M instructions at every start with 35
# variables, 0.3 M with 135, a CI job's size (#14). A mixed-case name is no longer read.
cflags_var=CFLAGS_${target//-/_}
export "$cflags_var=${!cflags_var:-} -DMI_DEFAULT_ARENA_RESERVE=262144 -DMI_SKIP_COLLECT_ON_EXIT=1 -DMI_USE_ENVIRON=0"
binary=${CARGO_TARGET_DIR:-target}/$target/dist/cisgate
# On x86_64 the functions a scan runs are laid out first, side by side (scripts/release-link.sh,
# scripts/release-symbol-order.txt): 0.2 ms of a one-node scan (#14). The order was profiled
# there; aarch64 is linked as rustc links it.
if [ "$target" = x86_64-unknown-linux-gnu ]; then
    mkdir -p "$(dirname "$binary")"
    export CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER=$PWD/scripts/release-link.sh
    export CISGATE_SYMBOL_ORDER=$PWD/scripts/release-symbol-order.txt
    CISGATE_LINK_MAP=$(cd "$(dirname "$binary")" && pwd)/cisgate.map
    export CISGATE_LINK_MAP
fi
cargo build --profile dist --locked --bin cisgate --target "$target" >&2

# A dynamic binary lists the libraries it loads (`libc.so.6 => …`); a static one none.
if command -v ldd >/dev/null 2>&1 && ldd "$binary" 2>&1 | grep -q '=>'; then
    echo "release-build: $binary is dynamically linked" >&2
    exit 1
fi
printf '%s\n' "$binary"
