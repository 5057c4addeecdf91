// Cost of one constrained-decoding step over the full 262,144-token Gemma 4 vocabulary:
// the JSON-schema filter (format / response_format) and the tool-call filter
// (tool_choice), each in a few representative states of the answer.
//   ./build/bench/facet_bench --benchmark_filter=LogitFilter
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "engine/generation.h"
#include "server/json_logit_filter.h"
#include "server/tool_call_logit_filter.h"
#include "tokenizer/tokenizer.h"

namespace {

const facet::Tokenizer& tokenizer() {
  static const facet::Tokenizer instance =
      facet::Tokenizer::from_hf_json(FACET_SHARED_DIR "/data/tokenizer/gemma4-tokenizer.json");
  return instance;
}

const std::vector<std::string>& token_texts() {
  static const std::vector<std::string> texts = facet::token_texts(tokenizer());
  return texts;
}

const char* kWeatherSchema = R"({"type":"object","properties":{"city":{"type":"string"},
    "unit":{"enum":["celsius","fahrenheit"]},"days":{"type":"integer"}},"required":["city"]})";

// The answer so far, as ids: special markers spliced between encoded text pieces.
std::vector<int32_t> answer(const std::vector<std::string>& pieces) {
  std::vector<int32_t> ids;
  for (const std::string& p : pieces) {
    if (auto special = tokenizer().find_piece(p); special && tokenizer().is_special(*special)) ids.push_back(*special);
    else tokenizer().encode_into(p, ids);
  }
  return ids;
}

void ToolCallLogitFilterStep(benchmark::State& state, std::vector<std::string> pieces) {
  const std::vector<int32_t> generated = answer(pieces);
  const std::vector<int32_t> stops = facet::default_stop_ids(tokenizer(), true);
  std::vector<float> logits(token_texts().size());
  for (auto _ : state) {
    state.PauseTiming();
    facet::server::ToolCallLogitFilter filter({{"get_weather", facet::server::Json::parse(kWeatherSchema)}},
                                              token_texts(), tokenizer(), stops, false);
    std::fill(logits.begin(), logits.end(), 0.f);
    state.ResumeTiming();
    filter.apply(logits, generated);
    benchmark::DoNotOptimize(logits.data());
  }
}
BENCHMARK_CAPTURE(ToolCallLogitFilterStep, start, std::vector<std::string>{})->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(ToolCallLogitFilterStep, key, std::vector<std::string>{"<|tool_call>", "call:get_weather{"})
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(ToolCallLogitFilterStep, in_string,
                  std::vector<std::string>{"<|tool_call>", "call:get_weather{city:", "<|\"|>", "San Fr"})
    ->Unit(benchmark::kMillisecond);

void JsonLogitFilterStep(benchmark::State& state, std::string text) {
  const std::vector<int32_t> generated = tokenizer().encode(text);
  const std::vector<int32_t> stops = facet::default_stop_ids(tokenizer(), false);
  std::vector<float> logits(token_texts().size());
  for (auto _ : state) {
    state.PauseTiming();
    facet::server::JsonLogitFilter filter(facet::server::Json::parse(kWeatherSchema), token_texts(), tokenizer(), stops,
                                          false);
    std::fill(logits.begin(), logits.end(), 0.f);
    state.ResumeTiming();
    filter.apply(logits, generated);
    benchmark::DoNotOptimize(logits.data());
  }
}
BENCHMARK_CAPTURE(JsonLogitFilterStep, key, std::string("{\""))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(JsonLogitFilterStep, in_string, std::string("{\"city\": \"San Fr"))->Unit(benchmark::kMillisecond);

}  // namespace
