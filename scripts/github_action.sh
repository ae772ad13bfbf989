#!/usr/bin/env bash
# The steps of the pickleguard GitHub Action (action.yml), one subcommand each:
#
#   github_action.sh install   pickleguard on PATH, or built from the action's
#                              own checkout ($GITHUB_ACTION_PATH) and installed
#   github_action.sh scan      scan INPUT_PATHS under INPUT_POLICY, SARIF to
#                              INPUT_SARIF_FILE; `status` and `sarif-file` to
#                              $GITHUB_OUTPUT; never fails the step itself, so
#                              the upload runs
#   github_action.sh verdict   exit non-zero when SCAN_STATUS is, after printing
#                              the findings as text in the job's log
#
# Inputs come from the environment as GitHub hands them to composite steps.
# tests/cli/action_test.py runs these on a local repository.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
action_path="${GITHUB_ACTION_PATH:-$here}"

# Inputs are lists separated by spaces or new lines; args are split as a
# shell would split words, without running anything (no eval): read -a.
split_words() { local IFS=$' \t\n'; read -r -d '' -a words <<<"$1" || true; }

policy_args() {
    split_words "${INPUT_POLICY:-default}"
    local p
    for p in "${words[@]}"; do printf '%s\0%s\0' --policy "$p"; done
}

scan_args() {
    local -n out=$1
    out=()
    local item
    while IFS= read -r -d '' item; do out+=("$item"); done < <(policy_args)
    split_words "${INPUT_ARGS:-}"
    out+=("${words[@]}")
    split_words "${INPUT_PATHS:-.}"
    out+=(--)
    out+=("${words[@]}")
}

case "${1:-}" in
install)
    if command -v pickleguard >/dev/null 2>&1; then
        echo "pickleguard: using $(command -v pickleguard) ($(pickleguard --version))"
        exit 0
    fi
    sudo=""
    if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
    $sudo "$action_path/scripts/install-deps.sh" --no-ml
    build="${RUNNER_TEMP:-/tmp}/pickleguard-build"
    cmake -S "$action_path" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPICKLEGUARD_TESTS=OFF
    cmake --build "$build"
    $sudo cmake --install "$build"
    pickleguard --version
    ;;
scan)
    sarif="${INPUT_SARIF_FILE:-pickleguard.sarif}"
    declare -a args
    scan_args args
    set +e
    pickleguard scan --format sarif -o "$sarif" "${args[@]}"
    status=$?
    set -e
    echo "pickleguard scan exited $status (0: all safe, 1: an unsafe file, 2: a file it could not read)"
    if [[ -n "${GITHUB_OUTPUT:-}" ]]; then
        echo "status=$status" >>"$GITHUB_OUTPUT"
        if [[ -s "$sarif" ]]; then echo "sarif-file=$sarif" >>"$GITHUB_OUTPUT"; fi
    fi
    ;;
verdict)
    status="${SCAN_STATUS:-}"
    if [[ -z "$status" ]]; then
        echo "pickleguard: the scan step did not run" >&2
        exit 2
    fi
    if [[ "$status" == 0 ]]; then
        echo "pickleguard: every file is safe to load"
        exit 0
    fi
    declare -a args
    scan_args args
    # The reasons in the log too, as text.
    pickleguard scan --quiet "${args[@]}" || true
    echo "pickleguard: exit $status (1: an unsafe file, 2: a file it could not read or open)" >&2
    exit "$status"
    ;;
*)
    echo "usage: github_action.sh install|scan|verdict" >&2
    exit 2
    ;;
esac
