// facet's HTTP server without generation: liveness, model listing, errors in each API's
// own format (unknown model, bad JSON, wrong types, oversized body, API key), path-like
// model names, and POST /apply-template against the official template's golden prompts.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "support/gemma4_tokenizer.h"
#include "support/test_server.h"

namespace facet {
namespace {

using json = nlohmann::ordered_json;

test::TestServer& shared_server() {
  static test::TestServer server;
  return server;
}

json body_of(const httplib::Result& r) { return json::parse(r->body); }

TEST(ServerHttp, LivenessVersionAndHealth) {
  auto c = shared_server().client();
  auto root = c.Get("/");
  ASSERT_TRUE(root);
  EXPECT_EQ(root->status, 200);
  EXPECT_NE(root->body.find("running"), std::string::npos);
  EXPECT_EQ(c.Head("/")->status, 200);
  auto version = c.Get("/api/version");
  EXPECT_TRUE(body_of(version)["version"].is_string());
  EXPECT_EQ(body_of(c.Get("/health"))["status"], "ok");
  auto metrics = c.Get("/metrics");
  EXPECT_NE(metrics->body.find("# TYPE facet_tokens_predicted_total counter"), std::string::npos);
}

TEST(ServerHttp, CurlStyleFormLabelledJsonBodiesOver8KiBAreRead) {
  // curl -d sends application/x-www-form-urlencoded; a request with a long prompt (or a
  // base64 image) must not meet httplib's 8 KiB limit for form bodies.
  // The tiny model's 512-token context cannot take 20000 letters: the answer is a 400 that
  // counts the prompt's tokens, which shows the whole body was read and parsed as JSON.
  json body = {{"model", "tiny"}, {"prompt", std::string(20000, 'a')}, {"stream", false},
               {"options", {{"num_predict", 1}}}};
  auto r = shared_server().client().Post("/api/generate", body.dump(), "application/x-www-form-urlencoded");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400) << r->body;
  EXPECT_NE(body_of(r)["error"].get<std::string>().find("does not fit in the context of 512"), std::string::npos)
      << r->body;
  // A short one answers.
  body["prompt"] = "hi";
  r = shared_server().client().Post("/api/generate", body.dump(), "application/x-www-form-urlencoded");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
}

TEST(ServerHttp, ListsTheModelsFolder) {
  auto c = shared_server().client();
  const json tags = body_of(c.Get("/api/tags"));
  ASSERT_EQ(tags["models"].size(), 1u);
  EXPECT_EQ(tags["models"][0]["name"], "tiny:latest");
  EXPECT_EQ(tags["models"][0]["details"]["format"], "gguf");
  EXPECT_EQ(tags["models"][0]["size"], std::filesystem::file_size(test::realvocab_model()));
  const json models = body_of(c.Get("/v1/models"));
  EXPECT_EQ(models["object"], "list");
  EXPECT_EQ(models["data"][0]["id"], "tiny:latest");
  EXPECT_EQ(c.Get("/v1/models/tiny")->status, 200);
  EXPECT_EQ(c.Get("/v1/models/nope")->status, 404);
  auto show = c.Post("/api/show", R"({"model":"tiny"})", "application/json");
  ASSERT_EQ(show->status, 200);
  const json s = body_of(show);
  EXPECT_EQ(s["model_info"]["gemma4.block_count"], 6);  // the model's README: a 6-layer decoder
  EXPECT_EQ(s["model_info"]["gemma4.embedding_length"], 48);
  EXPECT_NE(std::find(s["capabilities"].begin(), s["capabilities"].end(), "tools"), s["capabilities"].end());
}

TEST(ServerHttp, UnknownModelIs404InEachApisFormat) {
  auto c = shared_server().client();
  auto ollama = c.Post("/api/chat", R"({"model":"nope","messages":[{"role":"user","content":"hi"}]})",
                       "application/json");
  EXPECT_EQ(ollama->status, 404);
  EXPECT_EQ(body_of(ollama)["error"], "model 'nope' not found");
  auto openai = c.Post("/v1/chat/completions", R"({"model":"nope","messages":[{"role":"user","content":"hi"}]})",
                       "application/json");
  EXPECT_EQ(openai->status, 404);
  EXPECT_EQ(body_of(openai)["error"]["code"], "model_not_found");
  EXPECT_EQ(body_of(openai)["error"]["type"], "not_found_error");
}

TEST(ServerHttp, PathLikeModelNamesNeverReachTheDisk) {
  auto c = shared_server().client();
  for (const char* name : {"../tiny", "/etc/passwd", "..", "a/../../tiny", ".tiny"}) {
    json body{{"model", name}, {"prompt", "x"}};
    auto r = c.Post("/api/generate", body.dump(), "application/json");
    EXPECT_EQ(r->status, 400) << name;
    EXPECT_NE(body_of(r)["error"].get<std::string>().find("invalid model name"), std::string::npos);
  }
}

TEST(ServerHttp, MalformedRequestsAre400) {
  auto c = shared_server().client();
  auto bad_json = c.Post("/api/chat", "{\"model\": \"tiny\", ", "application/json");
  EXPECT_EQ(bad_json->status, 400);
  EXPECT_NE(body_of(bad_json)["error"].get<std::string>().find("invalid JSON"), std::string::npos);
  EXPECT_EQ(c.Post("/api/chat", "[1,2]", "application/json")->status, 400);
  EXPECT_EQ(c.Post("/api/chat", "{\"model\": 5}", "application/json")->status, 400);
  EXPECT_EQ(c.Post("/api/chat", R"({"model":"tiny","messages":"hi"})", "application/json")->status, 400);
  EXPECT_EQ(c.Post("/api/chat", R"({"model":"tiny","messages":[{"role":"wizard","content":"x"}]})",
                   "application/json")->status, 400);
  EXPECT_EQ(c.Post("/api/generate", R"({"model":"tiny","prompt":"x","options":{"num_predict":1e400}})",
                   "application/json")->status, 400);
  EXPECT_EQ(c.Post("/api/generate", R"({"model":"tiny","prompt":"x","keep_alive":"soon"})",
                   "application/json")->status, 400);
  auto wrong_type = c.Post("/v1/chat/completions",
                           R"({"model":"tiny","messages":[{"role":"user","content":"x"}],"temperature":"hot"})",
                           "application/json");
  EXPECT_EQ(wrong_type->status, 400);
  EXPECT_EQ(body_of(wrong_type)["error"]["type"], "invalid_request_error");
  // Invalid UTF-8 in a JSON string is malformed JSON.
  EXPECT_EQ(c.Post("/api/chat", "{\"model\":\"tiny\",\"messages\":[{\"role\":\"user\",\"content\":\"\xff\"}]}",
                   "application/json")->status, 400);
  auto unknown_route = c.Get("/api/nothing");
  EXPECT_EQ(unknown_route->status, 404);
  EXPECT_TRUE(body_of(unknown_route)["error"].is_string());
}

TEST(ServerHttp, OversizedBodyIs413AndTheServerKeepsServing) {
  auto c = shared_server().client();
  const std::string big = "{\"model\":\"tiny\",\"prompt\":\"" + std::string(100 * 1024, 'a') + "\"}";
  auto r = c.Post("/v1/completions", big, "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_TRUE(body_of(r)["error"]["message"].is_string());
  EXPECT_EQ(shared_server().client().Get("/api/version")->status, 200);
}

TEST(ServerHttp, ApiKeyIsRequiredWhenSet) {
  test::TestServer keyed([](server::ServerOptions& o) { o.api_key = "s3cret"; });
  auto c = keyed.client();
  auto none = c.Get("/v1/models");
  EXPECT_EQ(none->status, 401);
  EXPECT_EQ(body_of(none)["error"]["type"], "authentication_error");
  auto wrong = c.Get("/api/tags", {{"Authorization", "Bearer nope"}});
  EXPECT_EQ(wrong->status, 401);
  EXPECT_TRUE(body_of(wrong)["error"].is_string());  // Ollama's format on /api
  EXPECT_EQ(c.Get("/api/tags", {{"Authorization", "Bearer s3cret"}})->status, 200);
  EXPECT_EQ(c.Get("/v1/models", {{"Authorization", "Bearer s3cret"}})->status, 200);
  EXPECT_EQ(c.Get("/")->status, 200);  // liveness stays open (n8n's credential test)
}

TEST(ServerHttp, ApplyTemplateReproducesTheOfficialTemplate) {
  auto c = shared_server().client();
  const auto lines = test::read_lines(test::data_dir() + "/chat/golden-31B.jsonl");
  ASSERT_FALSE(lines.empty());
  for (const std::string& line : lines) {
    const json golden = json::parse(line);
    auto r = c.Post("/apply-template", line, "application/json");
    ASSERT_EQ(r->status, 200) << golden["case"] << r->body;
    EXPECT_EQ(body_of(r)["prompt"], golden["rendered"]) << golden["case"];
  }
  auto orphan = c.Post("/apply-template", R"({"messages":[{"role":"tool","content":"42"}]})", "application/json");
  EXPECT_EQ(orphan->status, 400);
}

}  // namespace
}  // namespace facet
