#!/usr/bin/env bash
# Builds the cisgate container image (Dockerfile: the static binary on `scratch`) as a manifest
# list, one image per platform, with podman (or buildah). The release workflow pushes and signs
# what this builds; tests/release_image.rs builds it here and runs the binary it holds.
#   scripts/release-image.sh TAG PLATFORM=BINARY [PLATFORM=BINARY ...]
#   e.g. scripts/release-image.sh cisgate:0.1.0 \
#          linux/amd64=target/x86_64-unknown-linux-gnu/dist/cisgate \
#          linux/arm64=target/aarch64-unknown-linux-gnu/dist/cisgate
# The binaries are staged under target/image/<os>/<arch>/ (the only files the build context
# lets in, see .dockerignore). Labels: version from Cargo.toml, revision CISGATE_COMMIT (else
# git HEAD), created SOURCE_DATE_EPOCH (else the commit's time), source Cargo.toml's repository.
# The image's timestamps are SOURCE_DATE_EPOCH too, so a rebuild gives the same image.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

die() {
    echo "release-image: $*" >&2
    exit 2
}

(($# >= 2)) || die "usage: release-image.sh TAG PLATFORM=BINARY..."
tag=$1
shift

if command -v podman >/dev/null 2>&1; then
    builder=(podman build)
    remove_list=(podman manifest rm)
elif command -v buildah >/dev/null 2>&1; then
    builder=(buildah build)
    remove_list=(buildah manifest rm)
else
    die "neither podman nor buildah is installed"
fi

cargo_field() {
    sed -n "s/^$1 = \"\\(.*\\)\"\$/\\1/p" Cargo.toml | head -n 1
}
version=$(cargo_field version)
source_url=$(cargo_field repository)
revision=${CISGATE_COMMIT:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}
epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}
created=$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)

rm -rf target/image
platforms=()
for pair in "$@"; do
    platform=${pair%%=*}
    binary=${pair#*=}
    [[ $pair == *=* && $platform =~ ^linux/(amd64|arm64)$ && -f $binary ]] ||
        die "not linux/amd64|arm64=BINARY with an existing binary: $pair"
    mkdir -p "target/image/$platform"
    install -m 0755 "$binary" "target/image/$platform/cisgate"
    platforms+=("$platform")
done

"${remove_list[@]}" "$tag" >/dev/null 2>&1 || true
"${builder[@]}" --file Dockerfile --manifest "$tag" --layers=false \
    --platform "$(IFS=,; echo "${platforms[*]}")" \
    --timestamp "$epoch" \
    --build-arg "VERSION=$version" \
    --build-arg "REVISION=$revision" \
    --build-arg "CREATED=$created" \
    --build-arg "SOURCE=$source_url" \
    . >&2
echo "release-image: built $tag for ${platforms[*]}" >&2
