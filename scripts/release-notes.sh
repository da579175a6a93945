#!/usr/bin/env bash
# Prints the CHANGELOG.md section of one version (the GitHub release's notes).
#   scripts/release-notes.sh VERSION        (0.1.0 or v0.1.0)
# Fails when CHANGELOG.md has no `## [VERSION]` section, so no release goes out undocumented.
set -euo pipefail
version=${1:?usage: release-notes.sh VERSION}
version=${version#v}
notes=$(awk -v heading="## [$version]" '
    index($0, "## [") == 1 { if (found) exit; found = (index($0, heading) == 1); next }
    found
' "$(dirname "$0")/../CHANGELOG.md")
if [[ -z ${notes//[[:space:]]/} ]]; then
    echo "release-notes: CHANGELOG.md has no section '## [$version]'" >&2
    exit 1
fi
printf '%s\n' "$notes"
