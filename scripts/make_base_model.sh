#!/usr/bin/env bash
# Builds an English base model for oap, reproducibly: fetches the corpora
# (scripts/fetch_corpora.sh), trains a byte-level BPE tokenizer with `oap train-tokenizer`,
# pretrains the preset's Llama in PyTorch (/usr/bin/python3, seeded, time- or step-bounded),
# writes a Hugging Face folder that CausalLM::load and `oap generate` read, and reports the
# held-out perplexity, a check of `oap score` against the trainer, and sampled continuations.
# docs/evaluation.md ("Base model") describes the data, split and settings.
#
# Usage: scripts/make_base_model.sh [--preset tiny|small] [--minutes N | --steps N] [--out DIR]
#                                   [--seed N] [--threads N] [--cache DIR] [-- EXTRA...]
#   --preset    tiny (~1M parameters, vocab 1024; default) or small (~30M, vocab 8192)
#   --minutes   training time bound (default 15); the step count is set from the measured
#               speed of the first steps and recorded in DIR/training.json
#   --steps     train exactly N steps instead (same seed, threads and torch: same weights)
#   --out       model folder (default CACHE/base_model/PRESET/model)
#   --seed      seed of the weights and of the data order (default 1)
#   --threads   PyTorch threads (default 2)
#   --cache     cache folder (default $OAP_CACHE, else .cache in the repository)
#   EXTRA       passed to scripts/base_model/make_base_model.py (--lr, --batch, --help ...)
# Never run by the test suite (it downloads and trains).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${OAP_CACHE:-$repo/.cache}"
preset=tiny
out=""
extra=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --preset) preset="${2:?--preset needs a name}"; shift 2 ;;
    --minutes|--steps|--seed|--threads) extra+=("$1" "${2:?$1 needs a value}"); shift 2 ;;
    --out) out="${2:?--out needs a folder}"; shift 2 ;;
    --cache) cache="${2:?--cache needs a folder}"; shift 2 ;;
    -h|--help) sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    --) shift; extra+=("$@"); break ;;
    *) echo "make_base_model.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
done
case "$preset" in
  tiny|small) ;;
  *) echo "make_base_model.sh: --preset must be tiny or small, got '$preset'" >&2; exit 2 ;;
esac
mkdir -p "$cache"
cache="$(cd "$cache" && pwd)"
out="${out:-$cache/base_model/$preset/model}"

"$repo/scripts/fetch_corpora.sh" --cache "$cache"

oap="$repo/build/oap"
if [[ ! -x "$oap" ]] || ! "$oap" train-tokenizer --help >/dev/null 2>&1; then
  echo "make_base_model: building the oap tool (build/oap)" >&2
  [[ -f "$repo/build/CMakeCache.txt" ]] || (cd "$repo" && cmake --preset default) >&2
  cmake --build "$repo/build" --target oap_cli -j2 >&2
fi

exec /usr/bin/python3 "$repo/scripts/base_model/make_base_model.py" \
  --oap "$oap" --corpus "$cache/corpora" --work "$cache/base_model" \
  --preset "$preset" --out "$out" "${extra[@]}"
