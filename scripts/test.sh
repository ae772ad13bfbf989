#!/usr/bin/env bash
# The test command: installs the dependencies, then builds and tests pickleguard
# twice, as released (build/) and under AddressSanitizer + UBSan (build-asan/).
# Exits non-zero if anything fails. Run from anywhere; as root on a fresh
# Debian 12 (or as any user once the dependencies are there).
#
#   scripts/test.sh [--no-ml]      # --no-ml: don't install the ML libraries;
#                                  # the tests that need them skip
set -uo pipefail

cd "$(dirname "$0")/.."
source scripts/deps_args.sh

start=$SECONDS
section_start=$SECONDS
section() {
    section_start=$SECONDS
    printf '\n==================== %s ====================\n' "$*"
}
took() { printf -- '-- %s: %s (%ds)\n' "$1" "$2" $((SECONDS - section_start)); }

failures=()
total_passed=0
total_failed=0
total_skipped=0
summary=()

# Runs ctest with a preset, echoing its output, and adds up its counts.
run_ctest() {
    local preset=$1 log
    log=$(mktemp)
    ctest --preset "$preset" 2>&1 | tee "$log"
    local rc=${PIPESTATUS[0]}
    local line
    line=$(grep -E '^[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -n 1)
    # ctest counts skipped tests as passed; it lists them as "(Skipped)".
    local skipped
    skipped=$(grep -cE '^[[:space:]]+[0-9]+ - .* \(Skipped\)$' "$log" || true)
    rm -f "$log"
    if [[ -n "$line" ]]; then
        local failed total
        failed=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$line")
        total=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\2/' <<<"$line")
        total_passed=$((total_passed + total - failed - skipped))
        total_failed=$((total_failed + failed))
        total_skipped=$((total_skipped + skipped))
        if [[ $skipped -gt 0 ]]; then line+=", $skipped skipped"; fi
        summary+=("$preset: $line")
    else
        summary+=("$preset: ctest reported no result")
    fi
    return "$rc"
}

# Configures, builds and tests one preset. A configure or build that fails
# counts as one failed test in the closing line.
run_preset() {
    local preset=$1
    section "$preset: configure"
    if ! cmake --preset "$preset"; then
        took "$preset configure" FAILED; failures+=("$preset configure"); total_failed=$((total_failed + 1)); summary+=("$preset: configure failed"); return
    fi
    took "$preset configure" ok
    section "$preset: build"
    if ! cmake --build --preset "$preset"; then
        took "$preset build" FAILED; failures+=("$preset build"); total_failed=$((total_failed + 1)); summary+=("$preset: build failed"); return
    fi
    took "$preset build" ok
    section "$preset: test"
    if ! run_ctest "$preset"; then
        took "$preset tests" FAILED; failures+=("$preset tests"); return
    fi
    took "$preset tests" ok
}

section "dependencies"
if ! scripts/install-deps.sh "${deps_args[@]}"; then
    took dependencies FAILED
    echo "test.sh: could not install the dependencies" >&2
    exit 1
fi
took dependencies ok

run_preset release
run_preset asan

section "summary"
for line in "${summary[@]}"; do echo "  $line"; done
printf '  total time: %dm%02ds\n' $(((SECONDS - start) / 60)) $(((SECONDS - start) % 60))
if [[ ${#failures[@]} -gt 0 ]]; then
    echo "  FAILED: ${failures[*]}"
    echo "test.sh: $total_passed passed, $total_failed failed, $total_skipped skipped"
    exit 1
fi
echo "test.sh: $total_passed passed, $total_failed failed, $total_skipped skipped"
exit 0
