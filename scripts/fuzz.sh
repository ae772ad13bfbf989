#!/usr/bin/env bash
# Bounded fuzzing run: builds the libFuzzer targets (the `fuzz` preset: clang,
# ASan + UBSan, build-fuzz/), runs each for SECONDS (default 60) on its seed
# corpus (fuzz/corpus/<target>/ plus tests/regressions/<target>/) with the
# dictionary, and fails if any target crashes, times out, runs out of memory
# or leaks. Artifacts are copied to tests/regressions/<target>/ so they become
# regression inputs (see docs/fuzzing.md).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]    # e.g. scripts/fuzz.sh 3600 (soak)
#
# FUZZ_BUILD_DIR overrides build-fuzz/; FUZZ_JOBS runs that many targets at
# once (default 1). FUZZ_RUNS=N makes the run reproducible for CI: a fixed
# seed and at most N inputs per target (SECONDS still caps it; a slower
# machine then runs a prefix of the same sequence).
set -uo pipefail

cd "$(dirname "$0")/.."
root=$PWD
seconds=${1:-60}
shift $(( $# > 0 ? 1 : 0 ))
case "$seconds" in
    ''|*[!0-9]*) echo "fuzz.sh: SECONDS must be a number, not '$seconds'" >&2; exit 2 ;;
esac
all_targets=(decode_fuzzer scan_fuzzer file_fuzzer policy_fuzzer wire_fuzzer tensor_fuzzer)
targets=("${@:-${all_targets[@]}}")
build=${FUZZ_BUILD_DIR:-build-fuzz}
jobs=${FUZZ_JOBS:-1}

configure=(cmake --preset fuzz)
[[ -n "${FUZZ_BUILD_DIR:-}" ]] && configure+=(-B "$build")
"${configure[@]}" >/dev/null || { echo "fuzz.sh: configure failed" >&2; exit 2; }
cmake --build "$build" --target "${targets[@]}" || { echo "fuzz.sh: build failed" >&2; exit 2; }

# Longest input worth trying, per target: pickles and policies are small;
# containers need room for headers and compressed streams.
max_len() {
    case "$1" in
        file_fuzzer) echo 262144 ;;
        policy_fuzzer|wire_fuzzer) echo 16384 ;;
        *) echo 65536 ;;
    esac
}
dict() {
    case "$1" in
        policy_fuzzer) echo "$root/fuzz/policy.dict" ;;
        wire_fuzzer) ;;  # binary records: no dictionary
        *) echo "$root/fuzz/pickle.dict" ;;
    esac
}

run_target() {
    local t=$1
    local work="$build/fuzz-work/$t"
    rm -rf "$work/artifacts"
    mkdir -p "$work/corpus" "$work/artifacts" "$root/tests/regressions/$t"
    local seeds=("$root/fuzz/corpus/$t")
    [[ -n "$(ls -A "$root/tests/regressions/$t" 2>/dev/null)" ]] && seeds+=("$root/tests/regressions/$t")
    # New inputs go to the first directory, in the build tree; the seeds in
    # the repository are only read.
    local runs=()
    [[ -n "${FUZZ_RUNS:-}" ]] && runs=(-runs="$FUZZ_RUNS" -seed=1)
    local dictionary=()
    [[ -n "$(dict "$t")" ]] && dictionary=(-dict="$(dict "$t")")
    # (The sanitizer options go on the fuzzer's own command line: placed
    # before `local`, they were set for that builtin only.)
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1} \
    UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
    "$build/fuzz/$t" "$work/corpus" "${seeds[@]}" "${runs[@]}" \
        -max_total_time="$seconds" -max_len="$(max_len "$t")" -rss_limit_mb=2048 -timeout=10 \
        "${dictionary[@]}" -artifact_prefix="$work/artifacts/" -print_final_stats=1 \
        >"$work/log.txt" 2>&1
    echo $? >"$work/status"
}

failed=()
running=0
for t in "${targets[@]}"; do
    echo "fuzz.sh: $t for ${seconds}s (log: $build/fuzz-work/$t/log.txt)"
    run_target "$t" &
    running=$((running + 1))
    if (( running >= jobs )); then wait -n; running=$((running - 1)); fi
done
wait

printf '\n%-14s %12s %8s %8s %10s  %s\n' target execs cov ft corpus result
for t in "${targets[@]}"; do
    work="$build/fuzz-work/$t"
    log="$work/log.txt"
    execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | tail -1 | awk '{print $2}')
    last=$(grep -E '^#[0-9]+' "$log" | tail -1)
    cov=$(sed -n 's/.*cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.*ft: \([0-9]*\).*/\1/p' <<<"$last")
    corp=$(sed -n 's/.*corp: \([0-9]*\/[0-9]*[a-zA-Z]*\).*/\1/p' <<<"$last")
    artifacts=$(find "$work/artifacts" -type f \( -name 'crash-*' -o -name 'timeout-*' -o -name 'oom-*' -o -name 'leak-*' \) 2>/dev/null)
    result=ok
    if [[ -n "$artifacts" ]]; then
        result="FAILED: $(echo "$artifacts" | xargs -n1 basename | tr '\n' ' ')"
        cp $artifacts "$root/tests/regressions/$t/"
        failed+=("$t")
    elif [[ "$(cat "$work/status" 2>/dev/null)" != 0 ]]; then
        result="FAILED: exit $(cat "$work/status" 2>/dev/null) (see $log)"
        failed+=("$t")
    fi
    printf '%-14s %12s %8s %8s %10s  %s\n' "$t" "${execs:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$result"
done

if (( ${#failed[@]} )); then
    echo
    echo "fuzz.sh: ${failed[*]} found problems; inputs copied to tests/regressions/<target>/."
    echo "Reproduce with: $build/fuzz/<target> tests/regressions/<target>/<file>"
    exit 1
fi
echo "fuzz.sh: no crash, timeout, leak or out-of-memory in ${#targets[@]} targets x ${seconds}s"
