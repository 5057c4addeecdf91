// Sampling options the earlier server tests did not reach, through the HTTP routes with
// the tiny real-vocabulary model: repetition penalties (Ollama options and OpenAI fields)
// give what `facet run` gives with the same flags, and logprobs are the float64 reference
// forward pass's log-softmax (Ollama /api/generate, OpenAI /v1/completions and chat).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <numeric>

#include "formats/gguf.h"
#include "support/gemma4_tokenizer.h"
#include "support/reference_forward.h"
#include "support/server_requests.h"
#include "support/test_server.h"

namespace facet {
namespace {

using json = nlohmann::ordered_json;

test::TestServer& shared_server() {
  static test::TestServer server;
  return server;
}

json post(const std::string& path, const json& body, int expect_status = 200) {
  return test::post_json(shared_server(), path, body, expect_status);
}

const std::string kPrompt = "The capital of France is";

TEST(ServerSamplingOptions, PenaltiesGiveWhatFacetRunGives) {
  const std::string plain = test::facet_run_realvocab("-p '" + kPrompt + "' -n 12", true);
  const std::string penalised = test::facet_run_realvocab(
      "-p '" + kPrompt +
          "' -n 12 --repeat-penalty 1.5 --repeat-last-n 16 --presence-penalty 0.5 --frequency-penalty 0.5",
      true);
  ASSERT_NE(penalised, plain);  // the flags change the answer, so agreement below means something
  const json options{{"temperature", 0},    {"num_predict", 12},       {"repeat_penalty", 1.5},
                     {"repeat_last_n", 16}, {"presence_penalty", 0.5}, {"frequency_penalty", 0.5}};
  const json r = post("/api/generate",
                      {{"model", "tiny"}, {"prompt", kPrompt}, {"raw", true}, {"stream", false}, {"options", options}});
  EXPECT_EQ(r["response"], penalised);
  json v1{{"model", "tiny"}, {"prompt", kPrompt}, {"max_tokens", 12}};
  for (const char* key : {"temperature", "repeat_penalty", "repeat_last_n", "presence_penalty", "frequency_penalty"})
    v1[key] = options[key];
  EXPECT_EQ(post("/v1/completions", v1)["choices"][0]["text"], penalised);
}

TEST(ServerSamplingOptions, BadValuesAre400) {
  const json base{{"model", "tiny"}, {"prompt", kPrompt}, {"max_tokens", 2}};
  for (const json& extra : {json{{"repeat_penalty", 0}}, json{{"repeat_last_n", -2}}, json{{"presence_penalty", "x"}},
                            json{{"logit_bias", {{"abc", 1}}}}, json{{"logit_bias", {{"5", 101}}}},
                            json{{"logit_bias", {{"999999999", 1}}}}, json{{"logit_bias", json::array()}},
                            json{{"logprobs", 6}}, json{{"logprobs", -1}}}) {
    json body = base;
    body.update(extra);
    const json r = post("/v1/completions", body, 400);
    EXPECT_TRUE(r["error"]["message"].is_string()) << extra.dump();
  }
  json chat{{"model", "tiny"}, {"messages", {{{"role", "user"}, {"content", "Hi"}}}}, {"top_logprobs", 2}};
  EXPECT_NE(post("/v1/chat/completions", chat, 400)["error"]["message"].get<std::string>().find("logprobs"),
            std::string::npos);
  chat["logprobs"] = true;
  chat["top_logprobs"] = 21;
  post("/v1/chat/completions", chat, 400);
}

TEST(ServerSamplingOptions, LogitBiasSteersTheAnswer) {
  // The plain greedy answer's first token, banned: the answer must start differently.
  const json plain =
      post("/v1/completions",
           {{"model", "tiny"}, {"prompt", kPrompt}, {"temperature", 0}, {"max_tokens", 1}, {"logprobs", 0}});
  const std::string first = plain["choices"][0]["logprobs"]["tokens"][0];
  const std::vector<int32_t> ids = test::gemma4_tokenizer().encode(first);
  ASSERT_EQ(ids.size(), 1u) << first;
  const json banned = post("/v1/completions", {{"model", "tiny"},
                                               {"prompt", kPrompt},
                                               {"temperature", 0},
                                               {"max_tokens", 1},
                                               {"logprobs", 0},
                                               {"logit_bias", {{std::to_string(ids[0]), -100}}}});
  EXPECT_NE(banned["choices"][0]["logprobs"]["tokens"][0], first);
}

TEST(ServerSamplingOptions, LogprobsAreTheReferenceLogSoftmax) {
  constexpr int kSteps = 4, kTop = 3;
  const json r = post("/api/generate", {{"model", "tiny"},
                                        {"prompt", kPrompt},
                                        {"raw", true},
                                        {"stream", false},
                                        {"logprobs", true},
                                        {"top_logprobs", kTop},
                                        {"options", {{"temperature", 0}, {"num_predict", kSteps}}}});
  ASSERT_EQ(r["logprobs"].size(), static_cast<size_t>(kSteps)) << r.dump();

  // The reference: whole-sequence float64 forward pass, log-softmax, greedy pick.
  auto gguf = GgufFile::open(test::realvocab_model());
  test::ReferenceModel reference(*gguf);
  const Tokenizer& tok = test::gemma4_tokenizer();
  EncodeOptions with_bos;
  with_bos.add_bos = true;
  std::vector<int32_t> tokens = tok.encode(kPrompt, with_bos);
  std::string text;
  for (int step = 0; step < kSteps; ++step) {
    const std::vector<double> logits = reference.forward(tokens).back();
    const double max = *std::max_element(logits.begin(), logits.end());
    double sum = 0;
    for (double v : logits) sum += std::exp(v - max);
    std::vector<int32_t> order(logits.size());
    std::iota(order.begin(), order.end(), 0);
    std::partial_sort(order.begin(), order.begin() + kTop, order.end(),
                      [&](int32_t a, int32_t b) { return logits[a] > logits[b]; });
    auto ref_logprob = [&](int32_t id) { return logits[static_cast<size_t>(id)] - max - std::log(sum); };
    const json& got = r["logprobs"][step];
    const std::string piece = tok.decode(std::vector<int32_t>{order[0]});
    EXPECT_EQ(got["token"], piece) << "step " << step;
    EXPECT_NEAR(got["logprob"].get<double>(), ref_logprob(order[0]), 2e-3) << "step " << step;
    ASSERT_EQ(got["top_logprobs"].size(), static_cast<size_t>(kTop));
    for (int k = 0; k < kTop; ++k) {
      EXPECT_EQ(got["top_logprobs"][k]["token"], tok.decode(std::vector<int32_t>{order[k]})) << step << "/" << k;
      EXPECT_NEAR(got["top_logprobs"][k]["logprob"].get<double>(), ref_logprob(order[k]), 2e-3);
    }
    std::string bytes;
    for (const json& b : got["bytes"]) bytes += static_cast<char>(b.get<int>());
    EXPECT_EQ(bytes, piece);
    text += piece;
    tokens.push_back(order[0]);
  }
  EXPECT_EQ(r["response"], text);

  // OpenAI's legacy completions: the same numbers in its own shape.
  const json v1 =
      post("/v1/completions",
           {{"model", "tiny"}, {"prompt", kPrompt}, {"temperature", 0}, {"max_tokens", kSteps}, {"logprobs", kTop}});
  const json& legacy = v1["choices"][0]["logprobs"];
  ASSERT_EQ(legacy["tokens"].size(), static_cast<size_t>(kSteps));
  size_t offset = 0;
  for (int step = 0; step < kSteps; ++step) {
    EXPECT_EQ(legacy["tokens"][step], r["logprobs"][step]["token"]);
    EXPECT_FLOAT_EQ(legacy["token_logprobs"][step].get<float>(), r["logprobs"][step]["logprob"].get<float>());
    EXPECT_EQ(legacy["top_logprobs"][step].size(), static_cast<size_t>(kTop));
    EXPECT_EQ(legacy["text_offset"][step], offset);
    offset += r["logprobs"][step]["bytes"].size();
  }
  EXPECT_TRUE(v1["choices"][0]["text"] == text);
}

}  // namespace
}  // namespace facet
