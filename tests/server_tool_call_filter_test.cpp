// The tool_choice logit filter over the real Gemma 4 vocabulary: a stand-in "model" that
// samples from random logits (with the special tokens often favoured, so strings end)
// must, under the filter, always write one complete call that the output parser reads
// back and whose arguments satisfy the schema (checked by hand-written rules below, not
// by the validator under test). Thinking stays unconstrained until the channel closes.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "chat/output_parser.h"
#include "engine/generation.h"
#include "server/tool_call_logit_filter.h"
#include "support/gemma4_tokenizer.h"

namespace facet::server {
namespace {

const std::vector<std::string>& token_texts() {
  static const std::vector<std::string> texts = facet::token_texts(test::gemma4_tokenizer());
  return texts;
}

std::vector<ToolFunction> functions() {
  return {{"get_weather", Json::parse(R"({"type":"object","properties":{"city":{"type":"string"},
               "unit":{"enum":["celsius","fahrenheit"]},"days":{"type":"integer"}},"required":["city","days"]})")},
          {"set_flags", Json::parse(R"({"type":"object","properties":{"on":{"type":"boolean"},
               "tags":{"type":"array","items":{"type":"string"},"maxItems":3},
               "where":{"type":"object","properties":{"lat":{"type":"number"}},"required":["lat"]}},
               "required":["on","where"]})")}};
}

// The schemas above, as plain rules.
bool arguments_fit(const chat::ParsedToolCall& call, std::string& why) {
  const Json& a = call.arguments;
  if (call.name == "get_weather") {
    for (auto it = a.begin(); it != a.end(); ++it)
      if (it.key() != "city" && it.key() != "unit" && it.key() != "days") return (why = "extra key " + it.key()), false;
    if (!a.contains("city") || !a["city"].is_string()) return (why = "city"), false;
    if (!a.contains("days") || !a["days"].is_number_integer()) return (why = "days"), false;
    if (a.contains("unit") && a["unit"] != "celsius" && a["unit"] != "fahrenheit") return (why = "unit"), false;
    return true;
  }
  if (call.name == "set_flags") {
    for (auto it = a.begin(); it != a.end(); ++it)
      if (it.key() != "on" && it.key() != "tags" && it.key() != "where") return (why = "extra key " + it.key()), false;
    if (!a.contains("on") || !a["on"].is_boolean()) return (why = "on"), false;
    if (a.contains("tags")) {
      if (!a["tags"].is_array() || a["tags"].size() > 3) return (why = "tags"), false;
      for (const Json& t : a["tags"])
        if (!t.is_string()) return (why = "tag"), false;
    }
    if (!a.contains("where") || !a["where"].is_object() || a["where"].size() != 1 || !a["where"].contains("lat") ||
        !a["where"]["lat"].is_number())
      return (why = "where"), false;
    return true;
  }
  why = "unknown function " + call.name;
  return false;
}

struct Walk {
  std::vector<int32_t> generated;
  bool stopped = false;
};

// Samples greedily from random logits under the filter, after `prefix`.
Walk walk(ToolCallLogitFilter& filter, uint32_t seed, std::vector<int32_t> prefix, const std::vector<int32_t>& stops) {
  const Tokenizer& tok = test::gemma4_tokenizer();
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> noise(0, 1);
  Walk w{std::move(prefix)};
  std::vector<float> logits(token_texts().size());
  for (int step = 0; step < 400 && !w.stopped; ++step) {
    const bool favour_special = noise(rng) < 0.3f;
    for (size_t id = 0; id < logits.size(); ++id)
      logits[id] = noise(rng) + (favour_special && tok.is_special(static_cast<int32_t>(id)) ? 10.f : 0.f);
    filter.apply(logits, w.generated);
    size_t best = 0;
    for (size_t id = 1; id < logits.size(); ++id)
      if (logits[id] > logits[best]) best = id;
    EXPECT_TRUE(std::isfinite(logits[best])) << "everything masked at step " << step;
    w.generated.push_back(static_cast<int32_t>(best));
    w.stopped = std::find(stops.begin(), stops.end(), static_cast<int32_t>(best)) != stops.end();
  }
  return w;
}

std::vector<chat::ParsedToolCall> parse(const std::vector<int32_t>& ids, std::string& text) {
  chat::OutputParser parser;
  std::vector<chat::ParsedToolCall> calls;
  for (int32_t id : ids) {
    text += token_texts()[static_cast<size_t>(id)];
    const chat::OutputDelta d = parser.feed(token_texts()[static_cast<size_t>(id)]);
    calls.insert(calls.end(), d.tool_calls.begin(), d.tool_calls.end());
  }
  const chat::OutputDelta d = parser.finish();
  calls.insert(calls.end(), d.tool_calls.begin(), d.tool_calls.end());
  return calls;
}

TEST(ToolCallLogitFilter, RandomLogitsStillWriteOneValidCall) {
  const Tokenizer& tok = test::gemma4_tokenizer();
  const std::vector<int32_t> stops = default_stop_ids(tok, true);
  for (uint32_t seed = 1; seed <= 6; ++seed) {
    ToolCallLogitFilter filter(functions(), token_texts(), tok, stops, false);
    const Walk w = walk(filter, seed, {}, stops);
    std::string text;
    const auto calls = parse(w.generated, text);
    ASSERT_TRUE(w.stopped) << "seed " << seed << ": " << text;
    EXPECT_EQ(w.generated.front(), tok.find_piece("<|tool_call>").value()) << text;
    ASSERT_EQ(calls.size(), 1u) << "seed " << seed << ": " << text;
    std::string why;
    EXPECT_TRUE(arguments_fit(calls[0], why)) << why << " in " << text;
  }
}

TEST(ToolCallLogitFilter, NamedFunctionOnly) {
  const Tokenizer& tok = test::gemma4_tokenizer();
  const std::vector<int32_t> stops = default_stop_ids(tok, true);
  for (uint32_t seed = 7; seed <= 9; ++seed) {
    ToolCallLogitFilter filter({functions()[1]}, token_texts(), tok, stops, false);
    std::string text;
    const auto calls = parse(walk(filter, seed, {}, stops).generated, text);
    ASSERT_EQ(calls.size(), 1u) << text;
    EXPECT_EQ(calls[0].name, "set_flags") << text;
    std::string why;
    EXPECT_TRUE(arguments_fit(calls[0], why)) << why << " in " << text;
  }
}

TEST(ToolCallLogitFilter, ThinkingIsFreeThenTheAnswerIsACall) {
  const Tokenizer& tok = test::gemma4_tokenizer();
  const std::vector<int32_t> stops = default_stop_ids(tok, true);
  ToolCallLogitFilter filter(functions(), token_texts(), tok, stops, true);
  const int32_t open = tok.find_piece("<|channel>").value(), close = tok.find_piece("<channel|>").value();
  std::vector<float> logits(token_texts().size(), 0.f);
  filter.apply(logits, {});
  EXPECT_EQ(logits[static_cast<size_t>(open)], 0.f);  // the thought channel may open first
  std::vector<int32_t> thought = {open};
  for (int32_t id : tok.encode("thought\nPlain prose, \"quotes\" and call:x{")) thought.push_back(id);
  std::fill(logits.begin(), logits.end(), 0.f);
  filter.apply(logits, thought);
  EXPECT_TRUE(std::all_of(logits.begin(), logits.end(), [](float x) { return x == 0.f; }));  // unmasked
  thought.push_back(close);
  std::string text;
  const auto calls = parse(walk(filter, 3, thought, stops).generated, text);
  ASSERT_EQ(calls.size(), 1u) << text;
  std::string why;
  EXPECT_TRUE(arguments_fit(calls[0], why)) << why << " in " << text;
}

}  // namespace
}  // namespace facet::server
