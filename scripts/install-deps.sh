#!/usr/bin/env bash
# Installs everything pickleguard needs to build and test, on Debian 12
# (bookworm). Run as root. Safe to run again: packages that are already
# installed are skipped, and nothing at all is fetched when none is missing.
#
#   scripts/install-deps.sh           # build + test deps, and the ML libraries
#   scripts/install-deps.sh --no-ml   # without numpy/torch/sklearn/pandas/joblib
#   scripts/install-deps.sh --no-cluster  # without Dask distributed
#
# The ML libraries are needed only to regenerate the test fixtures
# (tests/fixtures/make_fixtures.py); tests that need them skip without them.
# PICKLEGUARD_NO_ML=1 in the environment is the same as --no-ml.
# Dask distributed (python3-distributed) runs `python3 -m pickleguard.cluster`
# (docs/cluster.md) and its test, which skips without it;
# PICKLEGUARD_NO_CLUSTER=1 is the same as --no-cluster.
set -euo pipefail

ml=1
cluster=1
if [[ "${PICKLEGUARD_NO_ML:-0}" == "1" ]]; then ml=0; fi
if [[ "${PICKLEGUARD_NO_CLUSTER:-0}" == "1" ]]; then cluster=0; fi
for arg in "$@"; do
    case "$arg" in
        --ml) ml=1 ;;
        --no-ml) ml=0 ;;
        --cluster) cluster=1 ;;
        --no-cluster) cluster=0 ;;
        -h|--help)
            sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
            exit 0 ;;
        *) echo "install-deps.sh: unknown option: $arg" >&2; exit 2 ;;
    esac
done

packages=(
    # toolchain
    build-essential g++ cmake ninja-build pkg-config git ca-certificates python3
    # clang, its sanitizer and libFuzzer runtimes, and the LLVM tools
    clang libclang-rt-14-dev llvm
    # libraries
    libboost-dev libre2-dev libtomlplusplus-dev nlohmann-json3-dev libcli11-dev
    libgtest-dev libgmock-dev libbenchmark-dev
    zlib1g-dev libbz2-dev liblzma-dev liblz4-dev libzstd-dev libarchive-dev
    libseccomp-dev pybind11-dev python3-dev
    # tests: the Python package's pytest suites, `pip install .` into a venv,
    # the pre-commit hook, the .deb (dpkg-dev comes with build-essential)
    python3-pytest python3-venv python3-pip python3-setuptools python3-wheel pre-commit
    # setuptools and wheel as wheel files, for `pip install .` into a venv of
    # another Python (docs/services.md)
    python3-setuptools-whl python3-wheel-whl
    # tests: `file` for CPack's shlibdeps (the .deb test), python3-lz4 for the
    # lz4-compressed joblib test inputs (tests/containers/make_containers.py)
    file python3-lz4
    # tests: the generated man page rendered by man (groff), and the zsh
    # completion run in zsh (cli_manual_and_completions)
    man-db groff-base zsh
)
if [[ "$ml" == "1" ]]; then
    packages+=(python3-numpy python3-torch python3-sklearn python3-pandas python3-joblib
        # the libraries whose shipped policies are generated from their code
        # (policies/LIB.toml, tests/fixtures/check_library_policy.py)
        python3-networkx python3-scipy python3-sympy python3-statsmodels python3-astropy
        python3-skimage python3-torchvision python3-xgboost python3-gensim python3-nltk)
fi

if [[ "$cluster" == "1" ]]; then
    # the bulk scan on Dask (python/pickleguard/cluster.py)
    packages+=(python3-distributed)
fi

# One dpkg-query for all: it prints the installed ones (and nothing for
# packages it has never heard of, as on a fresh system).
declare -A installed=()
while read -r name status; do
    if [[ "$status" == "installed" ]]; then installed["${name%%:*}"]=1; fi
done < <(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${packages[@]}" 2>/dev/null || true)
missing=()
for p in "${packages[@]}"; do
    [[ -n "${installed[$p]:-}" ]] || missing+=("$p")
done

if [[ ${#missing[@]} -eq 0 ]]; then
    echo "install-deps: all ${#packages[@]} packages already installed"
    exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
    echo "install-deps: missing packages: ${missing[*]}" >&2
    echo "install-deps: run as root (e.g. sudo $0) to install them" >&2
    exit 1
fi

echo "install-deps: installing ${#missing[@]} packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# A mirror hiccup should not fail a CI run: try each step up to three times.
retry() {
    local n
    for n in 1 2 3; do
        "$@" && return 0
        if [[ $n -lt 3 ]]; then
            echo "install-deps: '$*' failed, retrying in $((n * 10))s" >&2
            sleep $((n * 10))
        fi
    done
    return 1
}
retry apt-get update
retry apt-get install -y --no-install-recommends "${missing[@]}"
