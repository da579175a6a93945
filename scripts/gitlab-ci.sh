#!/bin/sh
# The script section of the cisgate GitLab CI template (examples/gitlab/cisgate.gitlab-ci.yml);
# installed in the cisgate image as /usr/local/bin/cisgate-gitlab-ci.
#
# Scans the snapshot paths in CISGATE_SNAPSHOTS (separated by whitespace; empty: the live node
# under CISGATE_ROOT) and writes into cisgate-reports/:
#   junit.xml         artifacts:reports:junit (the pipeline's Tests tab, the merge request widget)
#   codequality.json  artifacts:reports:codequality (the merge request's Code Quality widget)
#   report.html       the HTML report, kept as an artifact
#   results.json      the JSON results, for `cisgate report` and `cisgate baseline`
# and exits with cisgate's exit code: the job (and the pipeline) fails on regressions.
# Variables: CISGATE_SNAPSHOTS CISGATE_ROOT CISGATE_BENCHMARK CISGATE_K8S_VERSION
# CISGATE_TARGETS CISGATE_BASELINE CISGATE_FAIL_ON CISGATE_ARGS (split on whitespace), and
# CISGATE_CONFIG_DIR / CISGATE_TODAY, which cisgate reads itself.
set -eu

reports=cisgate-reports
mkdir -p "$reports"

set -- scan --json "$reports/results.json" --junit "$reports/junit.xml" \
    --codequality "$reports/codequality.json" --html "$reports/report.html" \
    --fail-on "${CISGATE_FAIL_ON:-fail}"

if [ -n "${CISGATE_SNAPSHOTS:-}" ]; then
    for path in $CISGATE_SNAPSHOTS; do
        set -- "$@" --snapshot "$path"
    done
    # Code Quality paths relative to the repository, so GitLab can show them in the diff.
    set -- "$@" --source-root "${CI_PROJECT_DIR:-.}"
else
    set -- "$@" --root "${CISGATE_ROOT:-/}"
fi
[ -n "${CISGATE_BENCHMARK:-}" ] && set -- "$@" --benchmark "$CISGATE_BENCHMARK"
[ -n "${CISGATE_K8S_VERSION:-}" ] && set -- "$@" --k8s-version "$CISGATE_K8S_VERSION"
[ -n "${CISGATE_TARGETS:-}" ] && set -- "$@" --targets "$CISGATE_TARGETS"
[ -n "${CISGATE_BASELINE:-}" ] && set -- "$@" --baseline "$CISGATE_BASELINE"
# shellcheck disable=SC2086 # extra arguments are split on whitespace on purpose
[ -n "${CISGATE_ARGS:-}" ] && set -- "$@" $CISGATE_ARGS

echo "cisgate $*"
status=0
cisgate "$@" || status=$?
case $status in
    0) echo "cisgate: no regressions" ;;
    1) echo "cisgate: regressions — see the Tests and Code Quality tabs and $reports/report.html" ;;
    3) echo "cisgate: some nodes could not be evaluated; the others are in the reports" ;;
    *) echo "cisgate: the scan could not be done as asked (exit code $status)" ;;
esac
exit "$status"
