// LoRA adapters in `facet serve` (llama-server's --lora, per-request "lora" on every
// generation route, /v1/responses included, and
// /lora-adapters) with the tiny real-vocabulary model and adapters written here with
// random non-zero B: greedy answers equal `facet run --lora PATH[:SCALE]` (or plain
// `facet run` for scale 0) token for token, concurrent requests with different scales
// each get their own answer, and bad input is a 400 / a start-up error.
#include <gtest/gtest.h>

#include <future>
#include <map>
#include <nlohmann/json.hpp>

#include "model/model.h"
#include "server/lora_adapters.h"
#include "support/lora_fixtures.h"
#include "support/run_command.h"
#include "support/server_requests.h"
#include "support/test_server.h"
#include "train/adapter_io.h"
#include "util/error.h"

namespace facet {
namespace {

using json = nlohmann::ordered_json;

constexpr const char* kPrompt = "The capital of France is";

// A rank-4 adapter (alpha 64: factor 16) on every target with B ~ N(0, 1). The tiny model's
// greedy answer barely moves under any adapter (one token dominates), so the checks that
// the adapter is really applied sample with a fixed seed, where the answers differ.
std::string write_adapter(const test::TempDir& dir, const std::string& model_path, const std::string& name,
                          uint64_t seed) {
  auto model = load_model(model_path);
  train::LoraConfig config;
  config.rank = 4;
  config.alpha = 64;
  const train::LoraModel lora = test::random_adapter(*model, config, seed, 1.0);
  train::save_peft_adapter(lora, *model, dir.file(name));
  return dir.file(name);
}

struct LoraServer {
  test::TempDir dir;
  std::string adapter = write_adapter(dir, test::realvocab_model(), "adapter", 5);
  test::TestServer server{[this](server::ServerOptions& o) {
    o.model_paths = {test::realvocab_model()};
    o.lora_adapters = {{adapter, 1.0}};
  }};
};

LoraServer& shared() {
  static LoraServer s;
  return s;
}

const std::string kModel = "gemma4-tiny-realvocab-f16";

json post(const std::string& path, const json& body, int expect_status = 200) {
  return test::post_json(shared().server, path, body, expect_status);
}

std::string facet_run(const std::string& flags) { return test::facet_run_realvocab(flags); }

// Seeded sampling, the same on both sides: facet run's flags and the request's fields.
constexpr const char* kSampledFlags = " --temp 1 --seed 3 --top-k 64 --top-p 0.95";
void add_sampling(json& body, bool ollama) {
  json& at = ollama ? body["options"] : body;
  at["temperature"] = 1;
  at["seed"] = 3;
  at["top_k"] = 64;
  at["top_p"] = 0.95;
}

std::string raw_expected(const std::string& lora_flags, int n = 12, bool sampled = false) {
  return facet_run(std::string("-p '") + kPrompt + "' -n " + std::to_string(n) + " " + lora_flags +
                   (sampled ? kSampledFlags : ""));
}

json lora_list(double scale) { return json::array({{{"id", 0}, {"scale", scale}}}); }

std::string v1_completion(const json* lora, int n = 12, bool sampled = false) {
  json body{{"model", kModel}, {"prompt", kPrompt}, {"temperature", 0}, {"max_tokens", n}};
  if (sampled) add_sampling(body, false);
  if (lora) body["lora"] = *lora;
  return post("/v1/completions", body)["choices"][0]["text"];
}

std::string api_generate(const json* lora, int n = 12, bool sampled = false) {
  json body{{"model", kModel}, {"prompt", kPrompt}, {"raw", true}, {"stream", false},
            {"options", {{"temperature", 0}, {"num_predict", n}}}};
  if (sampled) add_sampling(body, true);
  if (lora) body["lora"] = *lora;
  return post("/api/generate", body)["response"];
}

TEST(ServerLora, ScaleOneEqualsFacetRunWithLora) {
  const std::string adapted = raw_expected("--lora " + shared().adapter);
  // No lora field: the server-wide scale given with --lora (1).
  EXPECT_EQ(v1_completion(nullptr), adapted);
  EXPECT_EQ(api_generate(nullptr), adapted);
  const json one = lora_list(1.0);
  EXPECT_EQ(v1_completion(&one), adapted);
  EXPECT_EQ(api_generate(&one), adapted);
  // Sampled with a fixed seed, where the adapter visibly changes the answer.
  const std::string adapted_sampled = raw_expected("--lora " + shared().adapter, 12, true);
  ASSERT_NE(adapted_sampled, raw_expected("", 12, true)) << "the test adapter must change the answer";
  EXPECT_EQ(v1_completion(nullptr, 12, true), adapted_sampled);
  EXPECT_EQ(api_generate(&one, 12, true), adapted_sampled);
}

TEST(ServerLora, ScaleZeroOrUnlistedEqualsTheBaseModel) {
  const std::string base = raw_expected("");
  const std::string base_sampled = raw_expected("", 12, true);
  const json zero = lora_list(0.0);
  const json none = json::array();  // adapters a request does not list are off for it
  const json one = lora_list(1.0);
  EXPECT_EQ(v1_completion(&zero), base);
  EXPECT_EQ(api_generate(&none), base);
  // Interleaved with adapted runs of the same prompt: a slot's cached prefix computed
  // under other scales must not be reused.
  EXPECT_EQ(v1_completion(&zero, 12, true), base_sampled);
  EXPECT_NE(v1_completion(&one, 12, true), base_sampled);
  EXPECT_EQ(api_generate(&none, 12, true), base_sampled);
  EXPECT_NE(api_generate(&one, 12, true), base_sampled);
  EXPECT_EQ(v1_completion(&zero, 12, true), base_sampled);
}

TEST(ServerLora, FractionalScaleEqualsFacetRunWithScaledLora) {
  const std::string half = raw_expected("--lora " + shared().adapter + ":0.5");
  const json list = lora_list(0.5);
  EXPECT_EQ(v1_completion(&list), half);
  EXPECT_EQ(api_generate(&list), half);
  EXPECT_EQ(v1_completion(&list, 12, true), raw_expected("--lora " + shared().adapter + ":0.5", 12, true));
}

TEST(ServerLora, ChatRoutesTakeTheLoraField) {
  const std::string adapted = facet_run("--chat -p 'Why is the sky blue?' -n 16 --lora " + shared().adapter);
  const std::string base = facet_run("--chat -p 'Why is the sky blue?' -n 16");
  const json messages = json::array({{{"role", "user"}, {"content", "Why is the sky blue?"}}});
  for (double scale : {1.0, 0.0}) {
    const std::string& want = scale == 1.0 ? adapted : base;
    const json ollama = post("/api/chat", {{"model", kModel}, {"messages", messages}, {"think", false},
                                           {"stream", false}, {"lora", lora_list(scale)},
                                           {"options", {{"temperature", 0}, {"num_predict", 16}}}});
    EXPECT_EQ(ollama["message"]["content"], want) << "scale " << scale;
    const json openai = post("/v1/chat/completions", {{"model", kModel}, {"messages", messages},
                                                      {"reasoning_effort", "none"}, {"temperature", 0},
                                                      {"max_tokens", 16}, {"lora", lora_list(scale)}});
    EXPECT_EQ(openai["choices"][0]["message"]["content"], want) << "scale " << scale;
    const json responses = post("/v1/responses", {{"model", kModel}, {"input", "Why is the sky blue?"},
                                                  {"reasoning", {{"effort", "none"}}}, {"temperature", 0},
                                                  {"max_output_tokens", 16}, {"lora", lora_list(scale)}});
    ASSERT_TRUE(responses["output"].is_array()) << responses.dump();
    std::string text;
    for (const json& item : responses["output"])
      if (item["type"] == "message") text += item["content"][0]["text"].get<std::string>();
    EXPECT_EQ(text, want) << "scale " << scale;
  }
}

TEST(ServerLora, ConcurrentRequestsWithDifferentScalesEachGetTheirOwnAnswer) {
  const std::vector<double> scales = {1.0, 0.0, 0.5, 1.0, 0.0, 0.5};
  std::map<double, std::string> sequential;
  for (double s : {1.0, 0.0, 0.5}) {
    const json list = lora_list(s);
    sequential[s] = v1_completion(&list, 24, true);
  }
  EXPECT_NE(sequential[1.0], sequential[0.0]);
  EXPECT_NE(sequential[0.5], sequential[0.0]);
  // Six at once on four slots: sequences with different scales are decoding together.
  std::vector<std::future<std::string>> answers;
  for (double s : scales)
    answers.push_back(std::async(std::launch::async, [s] {
      const json list = lora_list(s);
      return v1_completion(&list, 24, true);
    }));
  for (size_t i = 0; i < scales.size(); ++i) EXPECT_EQ(answers[i].get(), sequential[scales[i]]) << "scale " << scales[i];
}

TEST(ServerLora, ListAndSetServerWideScales) {
  auto client = shared().server.client();
  auto listed = client.Get("/lora-adapters");
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed->status, 200);
  EXPECT_EQ(json::parse(listed->body),
            json::array({{{"id", 0}, {"path", shared().adapter}, {"scale", 1.0}}}));

  const std::string base = raw_expected("", 12, true);
  EXPECT_EQ(post("/lora-adapters", lora_list(0.0))["success"], true);
  EXPECT_EQ(json::parse(client.Get("/lora-adapters")->body)[0]["scale"], 0.0);
  EXPECT_EQ(v1_completion(nullptr, 12, true), base);  // no lora field: the new server-wide scale
  const json one = lora_list(1.0);
  EXPECT_NE(v1_completion(&one, 12, true), base);  // a request's own list still wins
  // An empty list turns every adapter off, as in llama-server.
  EXPECT_EQ(post("/lora-adapters", lora_list(0.25))["success"], true);
  EXPECT_EQ(post("/lora-adapters", json::array())["success"], true);
  EXPECT_EQ(json::parse(client.Get("/lora-adapters")->body)[0]["scale"], 0.0);
  EXPECT_EQ(post("/lora-adapters", lora_list(1.0))["success"], true);  // as the other tests expect
  EXPECT_EQ(json::parse(client.Get("/lora-adapters")->body)[0]["scale"], 1.0);
}

TEST(ServerLora, BadLoraInputIsA400InTheApisErrorFormat) {
  const json bad_lists[] = {json::array({{{"id", 1}, {"scale", 1}}}),          // no such adapter
                            json::array({{{"id", -1}, {"scale", 1}}}),
                            json::array({{{"id", 0}, {"scale", "high"}}}),     // non-numeric scale
                            json::array({{{"id", 0}}}),                        // no scale
                            json::array({{{"id", "0"}, {"scale", 1}}}),        // id not a number
                            json::array({{{"id", 0.5}, {"scale", 1}}}),
                            json("adapter"), json::array({1})};
  for (const json& lora : bad_lists) {
    const json openai = post("/v1/chat/completions",
                             {{"model", kModel}, {"messages", {{{"role", "user"}, {"content", "hi"}}}},
                              {"max_tokens", 2}, {"lora", lora}}, 400);
    EXPECT_TRUE(openai["error"]["message"].is_string()) << lora.dump();
    const json ollama = post("/api/generate", {{"model", kModel}, {"prompt", "hi"}, {"stream", false},
                                               {"options", {{"num_predict", 2}}}, {"lora", lora}}, 400);
    EXPECT_TRUE(ollama["error"].is_string()) << lora.dump();
    const json responses = post("/v1/responses", {{"model", kModel}, {"input", "hi"}, {"max_output_tokens", 2},
                                                  {"lora", lora}}, 400);
    EXPECT_TRUE(responses["error"]["message"].is_string()) << lora.dump();
    EXPECT_TRUE(post("/lora-adapters", lora, 400)["error"]["message"].is_string()) << lora.dump();
  }
  auto r = shared().server.client().Post("/lora-adapters", "[{\"id\": 0,", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  // The failed POSTs left the server-wide scale alone.
  EXPECT_EQ(json::parse(shared().server.client().Get("/lora-adapters")->body)[0]["scale"], 1.0);
}

TEST(ServerLora, AdaptersThatCannotApplyStopTheServerAtStartUp) {
  test::TempDir dir;
  const std::string fits = write_adapter(dir, test::realvocab_model(), "fits", 6);
  const std::string foreign = write_adapter(dir, test::tiny_e2b_path(), "foreign", 7);
  auto start = [&](std::vector<std::string> models, std::vector<std::pair<std::string, double>> loras) {
    server::ServerOptions o;
    o.port = 0;
    o.threads = 1;
    o.model_paths = std::move(models);
    o.lora_adapters = std::move(loras);
    server::HttpServer s(o);
  };
  EXPECT_NO_THROW(start({test::realvocab_model()}, {{fits, 1.0}}));
  EXPECT_THROW(start({}, {{fits, 1.0}}), Error);  // --lora without --model
  EXPECT_THROW(start({test::realvocab_model()}, {{foreign, 1.0}}), Error);  // made for another model
  EXPECT_THROW(start({test::realvocab_model()}, {{dir.file("missing"), 1.0}}), Error);

  const auto cli = test::run_command(test::facet_bin() + " serve --port 0 --lora " + fits);
  EXPECT_EQ(cli.exit_code, 1);
  EXPECT_NE(cli.err.find("error: --lora needs --model"), std::string::npos) << cli.err;
}

TEST(ServerLora, InitWithoutApplyStartsAtScaleZero) {
  server::ServerOptions o;
  o.lora_adapters = {{"a", 0.7}, {"b", 1.0}};
  EXPECT_EQ(server::ServerLoras(o).scales(), (std::vector<double>{0.7, 1.0}));
  o.lora_init_without_apply = true;
  EXPECT_EQ(server::ServerLoras(o).scales(), (std::vector<double>{0.0, 0.0}));
}

}  // namespace
}  // namespace facet
