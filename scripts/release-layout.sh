#!/usr/bin/env bash
# Lays out a cisgate release exactly as the release workflow publishes it: the one place that
# names and packs the assets (.github/workflows/release.yml and tests/release_install.rs call it).
#   scripts/release-layout.sh VERSION OUT_DIR TARGET=BINARY [TARGET=BINARY ...]
# VERSION: 0.1.0 or v0.1.0, and it must be Cargo.toml's version. For each target
# (e.g. x86_64-unknown-linux-gnu=target/x86_64-unknown-linux-gnu/dist/cisgate) OUT_DIR gets
#   cisgate-vVERSION-TARGET.tar.gz     cisgate-vVERSION-TARGET/{cisgate,README.md,CHANGELOG.md}
#   cisgate-vVERSION-TARGET.cdx.json   the CycloneDX SBOM of that binary (scripts/release-sbom.py)
# and, over all of them, SHA256SUMS (`sha256sum` format: what scripts/install-cisgate.sh checks).
# The archives are reproducible: sorted, owned by 0:0, dated SOURCE_DATE_EPOCH (default: the
# commit's time).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)

die() {
    echo "release-layout: $*" >&2
    exit 2
}

(($# >= 3)) || die "usage: release-layout.sh VERSION OUT_DIR TARGET=BINARY..."
version=${1#v}
out=$2
shift 2

crate_version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$repo/Cargo.toml" | head -n 1)
[[ $version == "$crate_version" ]] || die "version $version is not Cargo.toml's ($crate_version)"

if [[ -z ${SOURCE_DATE_EPOCH:-} ]]; then
    SOURCE_DATE_EPOCH=$(git -C "$repo" log -1 --format=%ct 2>/dev/null || echo 0)
fi
export SOURCE_DATE_EPOCH

mkdir -p "$out"
out=$(cd "$out" && pwd)
staging=$(mktemp -d)
trap 'rm -rf "$staging"' EXIT

for pair in "$@"; do
    target=${pair%%=*}
    binary=${pair#*=}
    [[ $pair == *=* && -n $target && -f $binary ]] || die "not TARGET=BINARY with an existing binary: $pair"
    name=cisgate-v$version-$target

    # A binary that runs here must be the version being released.
    if reported=$("$binary" -V 2>/dev/null) && [[ $reported != "cisgate $version" ]]; then
        die "$binary says '$reported', not 'cisgate $version'"
    fi

    mkdir -p "$staging/$name"
    install -m 0755 "$binary" "$staging/$name/cisgate"
    install -m 0644 "$repo/README.md" "$repo/CHANGELOG.md" "$staging/$name/"
    tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$SOURCE_DATE_EPOCH" \
        -C "$staging" -cf - "$name" | gzip -9 -n >"$out/$name.tar.gz"
    python3 "$repo/scripts/release-sbom.py" "$target" "$binary" "$version" >"$out/$name.cdx.json"
    echo "release-layout: $out/$name.tar.gz" >&2
done

(cd "$out" && find . -maxdepth 1 -type f \( -name "cisgate-v$version-*.tar.gz" -o -name "cisgate-v$version-*.cdx.json" \) \
    -printf '%f\n' | LC_ALL=C sort | xargs sha256sum >SHA256SUMS)
echo "release-layout: $out/SHA256SUMS" >&2
