#!/usr/bin/env bash
# Installs cisgate: the release binary for this machine, checked against the release's
# SHA256SUMS, or a build of a checkout with cargo. Prints the installed program's path.
#
#   install-cisgate.sh --version 0.1.0 [--prefix DIR] [--repository owner/name]
#   install-cisgate.sh --source CHECKOUT [--prefix DIR]        # no release: cargo install
#   install-cisgate.sh --asset-url VERSION [MACHINE]           # print the asset's URL only
#
# --prefix: the program goes to PREFIX/bin/cisgate (default /usr/local).
# --repository: where the releases are (default $CISGATE_REPOSITORY, else cisgate/cisgate:
#   the project's repository, as in Cargo.toml). The GitHub Action passes its own.
# CISGATE_DOWNLOAD_BASE: the server (default https://github.com; a mirror or GitHub Enterprise
#   serving the same paths: BASE/owner/name/releases/download/vVERSION/ASSET).
# With both --version and --source, an empty version means --source (the action's default).
#
# The assets are the ones scripts/release-layout.sh lays out and the release workflow
# publishes: cisgate-vVERSION-TARGET.tar.gz holding cisgate-vVERSION-TARGET/cisgate, and
# SHA256SUMS. Nothing is installed unless the archive's SHA-256 is the one SHA256SUMS lists.
# Exit codes: 0 installed, 1 download or verification failed, 2 bad usage or no asset for
# this machine.
set -euo pipefail

repository=${CISGATE_REPOSITORY:-cisgate/cisgate}
download_base=${CISGATE_DOWNLOAD_BASE:-https://github.com}

fail() {
    echo "install-cisgate: $2" >&2
    exit "$1"
}

# The release target of a machine type (uname -m) on Linux.
release_target() {
    local machine=$1 system=${2:-Linux}
    [[ $system == Linux ]] || {
        echo "install-cisgate: no release binary for $system; build from source (cargo install --locked --path .)" >&2
        return 2
    }
    case $machine in
        x86_64 | amd64) echo x86_64-unknown-linux-gnu ;;
        aarch64 | arm64) echo aarch64-unknown-linux-gnu ;;
        *)
            echo "install-cisgate: no release binary for the machine type $machine; build from source instead (the action: leave 'version' empty)" >&2
            return 2
            ;;
    esac
}

asset_name() {
    printf 'cisgate-v%s-%s.tar.gz\n' "${1#v}" "$2"
}

release_url() {
    printf '%s/%s/releases/download/v%s/%s\n' "$download_base" "$repository" "${1#v}" "$2"
}

download() {
    curl --fail --silent --show-error --location --retry 3 --proto '=https,http' \
        --output "$2" "$1" || fail 1 "could not download $1"
}

sha256_of() {
    if command -v sha256sum >/dev/null 2>&1; then
        sha256sum "$1" | cut -d ' ' -f 1
    else
        shasum -a 256 "$1" | cut -d ' ' -f 1
    fi
}

# The SHA-256 SHA256SUMS lists for a file name (sha256sum's text or binary form).
listed_sha256() {
    awk -v name="$2" '$2 == name || $2 == "*" name { print $1; exit }' "$1"
}

install_release() {
    local version=$1 prefix=$2 target asset expected actual
    target=$(release_target "$(uname -m)" "$(uname -s)") || exit 2
    asset=$(asset_name "$version" "$target")
    work=$(mktemp -d) # global: the EXIT trap removes it
    trap 'rm -rf "$work"' EXIT

    echo "install-cisgate: downloading $(release_url "$version" "$asset")" >&2
    download "$(release_url "$version" SHA256SUMS)" "$work/SHA256SUMS"
    download "$(release_url "$version" "$asset")" "$work/$asset"

    expected=$(listed_sha256 "$work/SHA256SUMS" "$asset")
    [[ $expected =~ ^[0-9a-f]{64}$ ]] || fail 1 "SHA256SUMS of v${version#v} lists no checksum for $asset; not installing"
    actual=$(sha256_of "$work/$asset")
    [[ $actual == "$expected" ]] ||
        fail 1 "checksum mismatch for $asset: SHA256SUMS says $expected, the download is $actual; not installing"
    echo "install-cisgate: SHA-256 verified ($actual)" >&2

    tar -xzf "$work/$asset" -C "$work"
    local unpacked=$work/${asset%.tar.gz}/cisgate
    [[ -f $unpacked ]] || fail 1 "$asset holds no ${asset%.tar.gz}/cisgate"
    mkdir -p "$prefix/bin"
    install -m 0755 "$unpacked" "$prefix/bin/cisgate"
}

install_source() {
    local source_dir=$1 prefix=$2
    echo "install-cisgate: building $source_dir with cargo" >&2
    cargo install --locked --quiet --path "$source_dir" --root "$prefix" >&2
}

main() {
    local version='' version_given='' source_dir='' prefix=/usr/local
    if [[ ${1:-} == --asset-url ]]; then
        (($# >= 2)) || fail 2 "usage: install-cisgate.sh --asset-url VERSION [MACHINE]"
        local target
        target=$(release_target "${3:-$(uname -m)}") || exit 2
        release_url "$2" "$(asset_name "$2" "$target")"
        return
    fi
    while (($#)); do
        case $1 in
            --version) version=${2-} version_given=1 ;;
            --source) source_dir=${2-} ;;
            --prefix) prefix=${2-} ;;
            --repository) [[ -n ${2-} ]] && repository=$2 ;;
            *) fail 2 "unknown argument $1 (see the comment at the top of $0)" ;;
        esac
        (($# >= 2)) || fail 2 "$1 needs a value"
        shift 2
    done
    [[ -n $prefix ]] || fail 2 "--prefix is empty"
    if [[ -n $version ]]; then
        [[ ${version#v} =~ ^[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.+-]+)?$ ]] ||
            fail 2 "'$version' is not a release version (like 0.1.0)"
        install_release "$version" "$prefix"
    elif [[ -n $source_dir ]]; then
        install_source "$source_dir" "$prefix"
    elif [[ -n $version_given ]]; then
        fail 2 "--version is empty and no --source was given"
    else
        fail 2 "give --version VERSION (or --source CHECKOUT)"
    fi
    "$prefix/bin/cisgate" --version >&2 || fail 1 "the installed $prefix/bin/cisgate does not run"
    printf '%s\n' "$prefix/bin/cisgate"
}

main "$@"
