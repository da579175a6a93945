#!/usr/bin/env bash
# The shell logic of the cisgate GitHub Action (action.yml): builds the `cisgate scan` command
# from the action's inputs, runs it, appends the Markdown summary to $GITHUB_STEP_SUMMARY and
# writes the step outputs to $GITHUB_OUTPUT.
#
# Inputs arrive as environment variables (action.yml maps each `inputs.x` to INPUT_X); every one
# is optional:
#   INPUT_SNAPSHOTS     snapshot files/directories, one per line; empty: scan the live node
#   INPUT_ROOT          live mode: where the node's filesystem is mounted (default /)
#   INPUT_BENCHMARK     e.g. cis-1.12          INPUT_K8S_VERSION  e.g. 1.33
#   INPUT_TARGETS       e.g. master,etcd,node  INPUT_CONFIG_DIR   a kube-bench cfg/ tree
#   INPUT_BASELINE      allowlist file (default: .cisgate/baseline.yaml when it exists)
#   INPUT_FAIL_ON       fail | warn            INPUT_ALLOW_ERRORS true | false
#   INPUT_SARIF INPUT_JUNIT INPUT_HTML INPUT_CODEQUALITY INPUT_JSON   report files ('' = none)
#   INPUT_SUMMARY       true | false: append the Markdown summary to $GITHUB_STEP_SUMMARY
#   INPUT_FAIL          true | false: exit non-zero on regressions (false: only report them)
#   INPUT_ARGS          more `cisgate scan` arguments, split on whitespace
#   CISGATE             the cisgate program (default: cisgate on PATH)
# Outputs: exit-code, regressions, accepted, stale, sarif-file, json-file.
set -euo pipefail

cisgate=${CISGATE:-cisgate}
output_file=${GITHUB_OUTPUT:-/dev/null}

truthy() {
    case "${1,,}" in
        true | yes | 1 | on) return 0 ;;
        *) return 1 ;;
    esac
}

# An absolute path, so later steps find the file whatever their working directory.
absolute() {
    [[ -z $1 ]] && return 0
    case $1 in
        /*) printf '%s\n' "$1" ;;
        *) printf '%s/%s\n' "$PWD" "$1" ;;
    esac
}

set_output() {
    printf '%s=%s\n' "$1" "$2" >>"$output_file"
}

# Reads one number out of the JSON results with jq (or python3 where jq is missing).
json_number() {
    local file=$1 filter=$2
    if command -v jq >/dev/null 2>&1; then
        jq -r "$filter" "$file"
    else
        python3 - "$file" "$filter" <<'PY'
import json, sys
results = json.load(open(sys.argv[1]))
baseline = results.get("baseline") or {}
print({
    ".gate.regressions": results["gate"]["regressions"],
    "(.baseline.accepted // 0)": baseline.get("accepted", 0),
    "(.baseline.stale // []) | length": len(baseline.get("stale", [])),
}[sys.argv[2]])
PY
    fi
}

args=(scan --quiet)

snapshots=()
while IFS= read -r line; do
    line=${line#"${line%%[![:space:]]*}"}
    line=${line%"${line##*[![:space:]]}"}
    [[ -n $line ]] && snapshots+=("$line")
done <<<"${INPUT_SNAPSHOTS:-}"

if ((${#snapshots[@]})); then
    for path in "${snapshots[@]}"; do
        args+=(--snapshot "$path")
    done
    # Locations in reports relative to the repository, so code scanning can annotate the files.
    [[ -n ${GITHUB_WORKSPACE:-} ]] && args+=(--source-root "$GITHUB_WORKSPACE")
else
    args+=(--root "${INPUT_ROOT:-/}")
fi

[[ -n ${INPUT_BENCHMARK:-} ]] && args+=(--benchmark "$INPUT_BENCHMARK")
[[ -n ${INPUT_K8S_VERSION:-} ]] && args+=(--k8s-version "$INPUT_K8S_VERSION")
[[ -n ${INPUT_TARGETS:-} ]] && args+=(--targets "$INPUT_TARGETS")
[[ -n ${INPUT_CONFIG_DIR:-} ]] && args+=(--config-dir "$INPUT_CONFIG_DIR")
[[ -n ${INPUT_BASELINE:-} ]] && args+=(--baseline "$INPUT_BASELINE")
args+=(--fail-on "${INPUT_FAIL_ON:-fail}")
truthy "${INPUT_ALLOW_ERRORS:-false}" && args+=(--allow-errors)

json_file=${INPUT_JSON:-}
[[ -z $json_file ]] && json_file=${RUNNER_TEMP:-${TMPDIR:-/tmp}}/cisgate-results.$$.json
args+=(--json "$json_file")
[[ -n ${INPUT_SARIF:-} ]] && args+=(--sarif "$INPUT_SARIF")
[[ -n ${INPUT_JUNIT:-} ]] && args+=(--junit "$INPUT_JUNIT")
[[ -n ${INPUT_HTML:-} ]] && args+=(--html "$INPUT_HTML")
[[ -n ${INPUT_CODEQUALITY:-} ]] && args+=(--codequality "$INPUT_CODEQUALITY")

summary_file=
if truthy "${INPUT_SUMMARY:-true}" && [[ -n ${GITHUB_STEP_SUMMARY:-} ]]; then
    # cisgate replaces the file it writes; the step summary is appended to instead.
    summary_file=$(mktemp)
    args+=(--summary-md "$summary_file")
fi

if [[ -n ${INPUT_ARGS:-} ]]; then
    read -r -a extra <<<"$INPUT_ARGS"
    args+=("${extra[@]}")
fi

echo "cisgate ${args[*]}"
set +e
"$cisgate" "${args[@]}"
code=$?
set -e

set_output exit-code "$code"
if [[ -n $summary_file ]]; then
    [[ -s $summary_file ]] && cat "$summary_file" >>"$GITHUB_STEP_SUMMARY"
    rm -f "$summary_file"
fi

if [[ $code -eq 2 || ! -s $json_file ]]; then
    echo "::error title=cisgate::the scan could not be done as asked (exit code $code); see the log above"
    exit "$code"
fi

regressions=$(json_number "$json_file" '.gate.regressions')
set_output regressions "$regressions"
set_output accepted "$(json_number "$json_file" '(.baseline.accepted // 0)')"
set_output stale "$(json_number "$json_file" '(.baseline.stale // []) | length')"
set_output sarif-file "$(absolute "${INPUT_SARIF:-}")"
set_output json-file "$(absolute "${INPUT_JSON:-}")"
[[ -z ${INPUT_JSON:-} ]] && rm -f "$json_file"

case $code in
    0) echo "cisgate: no regressions" ;;
    1) echo "::error title=cisgate::$regressions regression(s) against the CIS benchmark (exit code 1)" ;;
    3) echo "::warning title=cisgate::some nodes could not be evaluated (exit code 3)" ;;
esac

if truthy "${INPUT_FAIL:-true}"; then
    exit "$code"
fi
exit 0
