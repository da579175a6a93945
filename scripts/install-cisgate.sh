#!/usr/bin/env bash
# Installs cisgate for the GitHub Action into DEST/bin and prints the program's path.
#   install-cisgate.sh VERSION DEST SOURCE_DIR REPOSITORY
# VERSION given (e.g. 0.1.0 or v0.1.0): downloads the release asset
#   https://github.com/REPOSITORY/releases/download/vVERSION/cisgate-vVERSION-x86_64-unknown-linux-musl.tar.gz
#   (or aarch64-…), which holds the `cisgate` binary at its top.
# VERSION empty: builds SOURCE_DIR (the action's own checkout) with `cargo install --path`.
# `install-cisgate.sh --asset-url VERSION REPOSITORY [MACHINE]` prints the URL only.
set -euo pipefail

asset_url() {
    local version=$1 repository=$2 machine=${3:-$(uname -m)}
    version=v${version#v}
    case $machine in
        x86_64 | amd64) machine=x86_64 ;;
        aarch64 | arm64) machine=aarch64 ;;
        *)
            echo "cisgate: no release asset for the machine type $machine; leave 'version' empty to build from source" >&2
            return 2
            ;;
    esac
    printf 'https://github.com/%s/releases/download/%s/cisgate-%s-%s-unknown-linux-musl.tar.gz\n' \
        "$repository" "$version" "$version" "$machine"
}

if [[ ${1:-} == --asset-url ]]; then
    shift
    asset_url "$@"
    exit
fi

version=${1:-}
dest=${2:?destination directory}
source_dir=${3:?the action checkout}
repository=${4:-}

mkdir -p "$dest/bin"
if [[ -n $version ]]; then
    url=$(asset_url "$version" "${repository:?the action repository (owner/name)}")
    echo "cisgate: downloading $url" >&2
    curl --fail --silent --show-error --location --retry 3 "$url" | tar -xz -C "$dest/bin" cisgate
else
    echo "cisgate: building $source_dir with cargo" >&2
    cargo install --locked --quiet --path "$source_dir" --root "$dest" >&2
fi
chmod +x "$dest/bin/cisgate"
"$dest/bin/cisgate" --version >&2
printf '%s\n' "$dest/bin/cisgate"
