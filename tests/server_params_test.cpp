// Request reading of the server: keep_alive durations, model names that must never reach
// outside the models folder, and sampling options from both APIs.
#include <gtest/gtest.h>

#include "server/model_registry.h"
#include "server/request_params.h"

namespace facet::server {
namespace {

int status_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const HttpError& e) {
    return e.status;
  }
  return 200;
}

TEST(ServerParams, KeepAliveDurations) {
  EXPECT_DOUBLE_EQ(parse_keep_alive(Json("5m")), 300);
  EXPECT_DOUBLE_EQ(parse_keep_alive(Json("1h30m")), 5400);
  EXPECT_DOUBLE_EQ(parse_keep_alive(Json("300ms")), 0.3);
  EXPECT_DOUBLE_EQ(parse_keep_alive(Json("-1m")), -60);
  EXPECT_DOUBLE_EQ(parse_keep_alive(Json("-1")), -1);
  EXPECT_DOUBLE_EQ(parse_keep_alive(Json(0)), 0);
  EXPECT_DOUBLE_EQ(parse_keep_alive(Json(120)), 120);
  for (const char* bad : {"", "5 minutes", "m", "5x", "--5m"})
    EXPECT_EQ(status_of([&] { parse_keep_alive(Json(bad)); }), 400) << bad;
  EXPECT_EQ(status_of([] { parse_keep_alive(Json::array()); }), 400);
}

TEST(ServerParams, ModelNamesAreNormalizedAndPathsRefused) {
  EXPECT_EQ(normalize_model_name("gemma4"), "gemma4:latest");
  EXPECT_EQ(normalize_model_name("Gemma4:latest"), "gemma4:latest");
  EXPECT_EQ(normalize_model_name("library/gemma4:e4b"), "gemma4:e4b");
  for (const char* bad : {"", "../x", "a/b", "/etc/passwd", "..", ".hidden", "x\\y", "a\nb", "x..y"})
    EXPECT_EQ(normalize_model_name(bad), std::nullopt) << bad;
}

TEST(ServerParams, OllamaOptionsAndFormat) {
  const Json body = Json::parse(R"({"options":{"temperature":0.5,"top_k":10,"top_p":0.9,"min_p":0.05,"seed":7,
      "num_predict":33,"num_ctx":512,"stop":["END"],"mirostat":2,"numa":true},"format":"json"})");
  const GenerationParams p = ollama_params(body);
  EXPECT_DOUBLE_EQ(p.sampling.temperature, 0.5);
  EXPECT_EQ(p.sampling.top_k, 10);
  EXPECT_DOUBLE_EQ(p.sampling.top_p, 0.9);
  EXPECT_DOUBLE_EQ(p.sampling.min_p, 0.05);
  EXPECT_EQ(p.sampling.seed, 7u);
  EXPECT_EQ(p.max_tokens, 33);
  EXPECT_EQ(p.num_ctx, 512);
  EXPECT_EQ(p.stop, std::vector<std::string>{"END"});
  ASSERT_TRUE(p.schema);
  EXPECT_EQ((*p.schema)["type"], "object");
  // Absent options: Gemma 4's recommended sampling, no limit.
  const GenerationParams d = ollama_params(Json::object());
  EXPECT_DOUBLE_EQ(d.sampling.temperature, 1.0);
  EXPECT_EQ(d.sampling.top_k, 64);
  EXPECT_DOUBLE_EQ(d.sampling.top_p, 0.95);
  EXPECT_FALSE(d.max_tokens);
  EXPECT_FALSE(ollama_params(Json::parse(R"({"options":{"num_predict":-1}})")).max_tokens);
}

TEST(ServerParams, WrongTypesAreBadRequests) {
  for (const char* body : {R"({"options":{"temperature":"hot"}})", R"({"options":{"top_k":1.5}})",
                           R"({"options":{"stop":[1]}})", R"({"options":[]})", R"({"format":"yaml"})",
                           R"({"format":3})", R"({"options":{"temperature":-1}})", R"({"options":{"top_p":0}})"})
    EXPECT_EQ(status_of([&] { ollama_params(Json::parse(body)); }), 400) << body;
  for (const char* body : {R"({"max_tokens":"10"})", R"({"n":2})", R"({"response_format":{"type":"xml"}})",
                           R"({"stop":{"a":1}})", R"({"max_tokens":0})", R"({"seed":1e300})"})
    EXPECT_EQ(status_of([&] { openai_params(Json::parse(body)); }), 400) << body;
}

TEST(ServerParams, OpenAiFieldsAndResponseFormat) {
  const GenerationParams p = openai_params(Json::parse(R"({"temperature":0,"max_completion_tokens":5,"stop":"\n",
      "response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"array"}}}})"));
  EXPECT_DOUBLE_EQ(p.sampling.temperature, 0);
  EXPECT_EQ(p.max_tokens, 5);
  EXPECT_EQ(p.stop, std::vector<std::string>{"\n"});
  ASSERT_TRUE(p.schema);
  EXPECT_EQ((*p.schema)["type"], "array");
  EXPECT_FALSE(schema_from_response_format(Json{{"type", "text"}}));
}

}  // namespace
}  // namespace facet::server
