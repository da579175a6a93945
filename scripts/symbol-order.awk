# The release binary's symbol order (scripts/symbol-order.py writes the order file) as the
# symbols of the objects being linked (scripts/release-link.sh):
#   nm --format=just-symbols OBJECTS | awk -f scripts/symbol-order.awk - ORDER
# A name the objects have is used as it is. One they lack has most likely only changed its
# hash: rustc's symbol names carry hashes that change with the compiler and with the
# dependencies' versions. It then stands for every symbol with its name but another hash
# (every instance of a generic function, so more than the scan runs, but close). Legacy Rust
# names end in `17h<16 hex digits>E`; v0 names (`_R…`) carry each crate's hash as
# `Cs<base-62>_`. A name no symbol matches is printed as it is, and the linker skips it.

function key(name) {
    if (name ~ /^_ZN.*17h[0-9a-f]+E$/) {
        sub(/17h[0-9a-f]+E$/, "E", name)
    } else if (name ~ /^_R/) {
        gsub(/Cs[0-9A-Za-z]+_/, "Cs_", name)
    }
    return name
}

FNR == NR {
    present[$0] = 1
    same_key[key($0)] = same_key[key($0)] $0 "\n"
    next
}

/^#/ || NF == 0 { next }

$1 in present { print $1; next }

{
    name = key($1)
    printf "%s", (name in same_key) ? same_key[name] : $1 "\n"
}
