# Sourced by quickstart.sh and test.sh: their shared options, which are
# handed on to install-deps.sh. Sets deps_args; prints the calling script's
# header comment (lines 2-8) for -h/--help.
deps_args=()
for arg in "$@"; do
    case "$arg" in
        --no-ml|--ml) deps_args+=("$arg") ;;
        -h|--help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "$(basename "$0"): unknown option: $arg" >&2; exit 2 ;;
    esac
done
