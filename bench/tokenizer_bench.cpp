// Encode throughput of the Gemma 4 tokenizer on a few MB of mixed text (the golden
// texts, shuffled and repeated) and on pathological inputs.
//   ./build/bench/facet_bench --benchmark_filter=Tokenizer
#include <benchmark/benchmark.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "tokenizer/streaming_detokenizer.h"
#include "tokenizer/tokenizer.h"

namespace {

const std::string kDataDir = FACET_SHARED_DIR "/data/tokenizer";

const facet::Tokenizer& tokenizer() {
  static const facet::Tokenizer instance = facet::Tokenizer::from_hf_json(kDataDir + "/gemma4-tokenizer.json");
  return instance;
}

std::vector<std::string> golden_texts() {
  std::vector<std::string> texts;
  std::ifstream in(kDataDir + "/golden-gemma4.jsonl", std::ios::binary);
  for (std::string line; std::getline(in, line, '\n');)
    if (!line.empty()) texts.push_back(nlohmann::json::parse(line).at("text").get<std::string>());
  return texts;
}

// About 4 MB: the 323 golden texts in a seeded shuffled order, repeated, one per line.
const std::string& mixed_text() {
  static const std::string text = [] {
    std::vector<std::string> texts = golden_texts();
    std::mt19937 rng(1234);
    std::string out;
    while (out.size() < (4u << 20)) {
      std::shuffle(texts.begin(), texts.end(), rng);
      for (const auto& t : texts) out += t + "\n";
    }
    return out;
  }();
  return text;
}

void encode_benchmark(benchmark::State& state, const std::string& text) {
  const facet::Tokenizer& tok = tokenizer();
  size_t tokens = 0;
  for (auto _ : state) {
    auto ids = tok.encode(text);
    tokens = ids.size();
    benchmark::DoNotOptimize(ids.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
  state.counters["tokens/s"] = benchmark::Counter(static_cast<double>(tokens * state.iterations()),
                                                  benchmark::Counter::kIsRate);
  state.counters["tokens"] = static_cast<double>(tokens);
}

void BM_TokenizerEncodeMixed4MB(benchmark::State& state) { encode_benchmark(state, mixed_text()); }

// The 323 golden texts once each: little repetition, so the per-call chunk cache helps
// little and this shows the cost of the BPE merges themselves.
void BM_TokenizerEncodeGoldenOnce(benchmark::State& state) {
  static const std::string text = [] {
    std::string out;
    for (const auto& t : golden_texts()) out += t + "\n";
    return out;
  }();
  encode_benchmark(state, text);
}

void BM_TokenizerEncodeOneLetter1MB(benchmark::State& state) {
  static const std::string text(1 << 20, 'a');
  encode_benchmark(state, text);
}

void BM_TokenizerEncodeSpaces100k(benchmark::State& state) {
  static const std::string text(100000, ' ');
  encode_benchmark(state, text);
}

void BM_TokenizerEncodeEmoji1MB(benchmark::State& state) {
  static const std::string text = [] {
    std::string out;
    while (out.size() < (1u << 20)) out += "\U0001F600\U0001F44D\U0001F3FD";
    return out;
  }();
  encode_benchmark(state, text);
}

void BM_TokenizerDecodeMixed4MB(benchmark::State& state) {
  const facet::Tokenizer& tok = tokenizer();
  auto ids = tok.encode(mixed_text());
  for (auto _ : state) benchmark::DoNotOptimize(tok.decode(ids));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * mixed_text().size()));
  state.counters["tokens/s"] = benchmark::Counter(static_cast<double>(ids.size() * state.iterations()),
                                                  benchmark::Counter::kIsRate);
}

void BM_TokenizerLoadJson(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(facet::Tokenizer::from_hf_json(kDataDir + "/gemma4-tokenizer.json"));
}

BENCHMARK(BM_TokenizerEncodeMixed4MB)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_TokenizerEncodeGoldenOnce)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_TokenizerEncodeOneLetter1MB)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_TokenizerEncodeSpaces100k)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_TokenizerEncodeEmoji1MB)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_TokenizerDecodeMixed4MB)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_TokenizerLoadJson)->Unit(benchmark::kMillisecond)->Iterations(3);

}  // namespace
