#!/usr/bin/env bash
# Quick start: installs the dependencies, builds pickleguard (build/), and
# shows what it says about the bundled example pickles in examples/seed/.
# Run as root on a fresh Debian 12 (or as any user once the dependencies are
# there).
#
#   scripts/quickstart.sh [--no-ml]   # --no-ml: skip the ML libraries, which
#                                     # only some tests and fixtures need
set -euo pipefail

cd "$(dirname "$0")/.."
source scripts/deps_args.sh

section() { printf '\n==================== %s ====================\n' "$*"; }

section "dependencies"
scripts/install-deps.sh "${deps_args[@]}"

section "build (release preset, build/)"
cmake --preset release
cmake --build --preset release --target pickleguard

pg=build/tools/pickleguard
worst=0
# Runs pickleguard and reports its exit code: 0 accepted, 1 rejected (both
# are answers); 2 or more means the command itself failed.
run() {
    printf '\n$ %s\n' "$*"
    local rc=0
    "$pg" "$@" || rc=$?
    case $rc in
        0) ;;
        1) echo "(exit 1: input rejected)" ;;
        *) echo "(exit $rc: error)"; [[ $rc -gt $worst ]] && worst=$rc ;;
    esac
    return 0
}

shopt -s nullglob
examples=(examples/seed/*.pkl)
shopt -u nullglob

section "pickleguard scan examples/: verdicts under the default policy"
# examples/seed/ holds benign pickles of every protocol; examples/attacks/
# holds byte-built malicious ones (never load them), so both verdicts show.
run scan examples/

section "pickleguard decode: the value each pickle describes, as JSON"
if [[ ${#examples[@]} -eq 0 ]]; then
    echo "(no example pickles in examples/seed/ yet)"
fi
for f in "${examples[@]}"; do run decode "$f"; done

section "pickleguard disasm: every opcode the loader would execute"
run disasm examples/seed/seed_p4.pkl
run disasm examples/attacks/payload_then_broken_tail.pkl

section "done"
echo "pickleguard is built at $pg; run '$pg --help' for the commands,"
echo "and scripts/test.sh to build and run the tests."
exit "$worst"
