# Sourced by scripts that fill the cache folder. read_cache_option SCRIPT HELP_LAST_LINE ARGS...
# sets $cache from --cache DIR (default: $OAP_CACHE, else .cache in the repository), prints the
# script's header comment (lines 2..HELP_LAST_LINE) for -h / --help, and refuses anything else.
read_cache_option() {
  local script="$1" help_last="$2"
  shift 2
  local repo
  repo="$(cd "$(dirname "$script")/.." && pwd)"
  cache="${OAP_CACHE:-$repo/.cache}"
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --cache) cache="${2:?--cache needs a folder}"; shift 2 ;;
      --cache=*) cache="${1#--cache=}"; shift ;;
      -h|--help) sed -n "2,${help_last}p" "$script" | sed 's/^# \{0,1\}//'; exit 0 ;;
      *) echo "$(basename "$script"): unknown argument '$1' (try --help)" >&2; exit 2 ;;
    esac
  done
}
