// tool_choice through the real server with the tiny random-weight model: "required" or a
// named function makes the model's answer one tool call whose arguments fit the schema,
// on /v1/chat/completions (whole and SSE), /api/chat (facet's extension: Ollama has no
// tool_choice) and /v1/responses; "none" leaves the tools out of the prompt; bad choices
// are 400s in each API's error format.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "support/test_server.h"

namespace facet {
namespace {

using json = nlohmann::ordered_json;

test::TestServer& server() {
  static test::TestServer s;
  return s;
}

httplib::Result post_raw(const std::string& path, const json& body) {
  return server().client().Post(path, body.dump(), "application/json");
}

json post(const std::string& path, const json& body) {
  auto r = post_raw(path, body);
  EXPECT_TRUE(r);
  if (!r) return json();
  EXPECT_EQ(r->status, 200) << r->body;
  return json::parse(r->body);
}

const json& tools() {
  static const json t = json::parse(R"([
    {"type":"function","function":{"name":"get_weather","description":"Weather for a city",
      "parameters":{"type":"object","properties":{"city":{"type":"string","maxLength":16},
        "unit":{"type":"string","enum":["celsius","fahrenheit"]},"days":{"type":"integer"}},
        "required":["city","days"]}}},
    {"type":"function","function":{"name":"get_time","description":"The time now",
      "parameters":{"type":"object","properties":{"zone":{"type":"string","maxLength":8}},"required":["zone"]}}}])");
  return t;
}

// Code points in UTF-8 text.
size_t characters(const std::string& s) {
  size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

// The schemas above, as plain rules. (The random-weight model never ends a string by
// itself: maxLength is what closes them.)
void expect_fits(const std::string& name, const json& a) {
  ASSERT_TRUE(a.is_object()) << a;
  if (name == "get_weather") {
    EXPECT_TRUE(a.contains("city") && a["city"].is_string() && characters(a["city"]) <= 16) << a;
    EXPECT_TRUE(a.contains("days") && a["days"].is_number_integer()) << a;
    if (a.contains("unit")) {
      EXPECT_TRUE(a["unit"] == "celsius" || a["unit"] == "fahrenheit") << a;
    }
    for (auto it = a.begin(); it != a.end(); ++it)
      EXPECT_TRUE(it.key() == "city" || it.key() == "days" || it.key() == "unit") << a;
  } else {
    ASSERT_EQ(name, "get_time");
    EXPECT_EQ(a.size(), 1u) << a;
    EXPECT_TRUE(a.contains("zone") && a["zone"].is_string() && characters(a["zone"]) <= 8) << a;
  }
}

json chat_request(const json& choice, bool stream) {
  return json{{"model", "tiny"},
              {"messages", {{{"role", "user"}, {"content", "What is the weather in Paris?"}}}},
              {"tools", tools()},
              {"tool_choice", choice},
              {"seed", 4},
              {"max_tokens", 300},
              {"stream", stream}};
}

std::vector<json> sse_chunks(const std::string& body) {
  std::vector<json> out;
  std::istringstream in(body);
  for (std::string line; std::getline(in, line);)
    if (line.rfind("data: {", 0) == 0) out.push_back(json::parse(line.substr(6)));
  return out;
}

TEST(ServerToolChoice, RequiredGivesOneValidCallOnV1) {
  for (uint64_t seed : {1, 2, 3}) {
    json request = chat_request("required", false);
    request["seed"] = seed;
    const json r = post("/v1/chat/completions", request);
    const json& choice = r["choices"][0];
    EXPECT_EQ(choice["finish_reason"], "tool_calls") << r;
    const json calls = choice["message"].value("tool_calls", json::array());
    ASSERT_EQ(calls.size(), 1u) << r;
    EXPECT_TRUE(choice["message"]["content"].is_null()) << r;
    EXPECT_EQ(calls[0]["type"], "function");
    const std::string args = calls[0]["function"]["arguments"];
    expect_fits(calls[0]["function"]["name"], json::parse(args));
  }
}

TEST(ServerToolChoice, StreamedCallAssemblesToTheSameCall) {
  auto r = post_raw("/v1/chat/completions", chat_request("required", true));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  std::string name, args, finish;
  int calls = 0;
  for (const json& chunk : sse_chunks(r->body)) {
    if (chunk["choices"].empty()) continue;
    const json& choice = chunk["choices"][0];
    if (!choice["finish_reason"].is_null()) finish = choice["finish_reason"];
    if (!choice["delta"].contains("tool_calls")) continue;
    for (const json& c : choice["delta"]["tool_calls"]) {
      EXPECT_EQ(c["index"], 0);
      if (c.contains("id")) ++calls;
      if (c["function"].contains("name")) name += c["function"]["name"].get<std::string>();
      if (c["function"].contains("arguments")) args += c["function"]["arguments"].get<std::string>();
    }
  }
  ASSERT_EQ(calls, 1) << r->body;
  EXPECT_EQ(finish, "tool_calls");
  expect_fits(name, json::parse(args));
  // Same seed, whole answer: the same call.
  const json whole = post("/v1/chat/completions", chat_request("required", false));
  const json whole_calls = whole["choices"][0]["message"].value("tool_calls", json::array());
  ASSERT_EQ(whole_calls.size(), 1u) << whole;
  EXPECT_EQ(whole_calls[0]["function"]["arguments"], args);
}

TEST(ServerToolChoice, NamedFunctionIsTheOneCalled) {
  for (const json& choice : {json{{"type", "function"}, {"function", {{"name", "get_time"}}}}}) {
    const json r = post("/v1/chat/completions", chat_request(choice, false));
    const json calls = r["choices"][0]["message"].value("tool_calls", json::array());
    ASSERT_EQ(calls.size(), 1u) << r;
    EXPECT_EQ(calls[0]["function"]["name"], "get_time");
    expect_fits("get_time", json::parse(calls[0]["function"]["arguments"].get<std::string>()));
  }
}

TEST(ServerToolChoice, OllamaChatTakesToolChoiceAsAnExtension) {
  for (bool think : {false, true}) {
    json request{{"model", "tiny"},
                 {"messages", {{{"role", "user"}, {"content", "Weather?"}}}},
                 {"tools", tools()},
                 {"tool_choice", "required"},
                 {"think", think},
                 {"stream", false},
                 {"options", {{"seed", 9}, {"num_predict", 400}}}};
    const json r = post("/api/chat", request);
    const json calls = r["message"].value("tool_calls", json::array());
    if (think) {
      // Thinking is left free, and the random-weight model may open its thought channel and
      // never close it; the answer, if it starts, is still only the call.
      EXPECT_EQ(r["message"]["content"], "") << r;
      EXPECT_LE(calls.size(), 1u) << r;
      if (calls.size() == 1) expect_fits(calls[0]["function"]["name"], calls[0]["function"]["arguments"]);
      continue;
    }
    ASSERT_EQ(calls.size(), 1u) << r;
    expect_fits(calls[0]["function"]["name"], calls[0]["function"]["arguments"]);
    // NDJSON stream: the call arrives in one line.
    request["stream"] = true;
    auto s = post_raw("/api/chat", request);
    ASSERT_TRUE(s);
    std::istringstream in(s->body);
    int streamed = 0;
    for (std::string line; std::getline(in, line);) {
      if (line.empty()) continue;
      const json chunk = json::parse(line);
      for (const json& c : chunk["message"].value("tool_calls", json::array())) {
        ++streamed;
        EXPECT_EQ(c["function"], calls[0]["function"]) << "streamed and whole differ";
      }
    }
    EXPECT_EQ(streamed, 1);
  }
}

TEST(ServerToolChoice, ResponsesApiFunctionCall) {
  const json r = post("/v1/responses", {{"model", "tiny"},
                                        {"input", "Weather in Paris?"},
                                        {"tools", {{{"type", "function"}, {"name", "get_weather"},
                                                    {"parameters", tools()[0]["function"]["parameters"]}}}},
                                        {"tool_choice", {{"type", "function"}, {"name", "get_weather"}}},
                                        {"seed", 2},
                                        {"max_output_tokens", 300}});
  int calls = 0;
  for (const json& item : r.value("output", json::array()))
    if (item["type"] == "function_call") {
      ++calls;
      EXPECT_EQ(item["name"], "get_weather");
      expect_fits("get_weather", json::parse(item["arguments"].get<std::string>()));
    }
  EXPECT_EQ(calls, 1) << r;
}

TEST(ServerToolChoice, NoneLeavesTheToolsOutOfThePrompt) {
  json plain = chat_request("none", false);
  plain["max_tokens"] = 1;
  const json with_none = post("/v1/chat/completions", plain);
  plain.erase("tools");
  plain.erase("tool_choice");
  const json without = post("/v1/chat/completions", plain);
  EXPECT_EQ(with_none["usage"]["prompt_tokens"], without["usage"]["prompt_tokens"]);
}

TEST(ServerToolChoice, BadChoicesAre400InEachApisFormat) {
  const json unknown{{"type", "function"}, {"function", {{"name", "get_wind"}}}};
  for (const json& body : {chat_request(unknown, false), chat_request("sometimes", false), chat_request(42, false)}) {
    auto r = post_raw("/v1/chat/completions", body);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << r->body;
    EXPECT_TRUE(json::parse(r->body)["error"]["message"].is_string()) << r->body;
  }
  json no_tools = chat_request("required", false);
  no_tools.erase("tools");
  auto r = post_raw("/v1/chat/completions", no_tools);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400) << r->body;
  EXPECT_NE(r->body.find("tools"), std::string::npos) << r->body;
  json both = chat_request("required", false);
  both["response_format"] = {{"type", "json_object"}};
  r = post_raw("/v1/chat/completions", both);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400) << r->body;
  // Ollama's format: {"error": "..."}.
  json ollama{{"model", "tiny"}, {"messages", {{{"role", "user"}, {"content", "hi"}}}},
              {"tools", tools()}, {"tool_choice", unknown}};
  r = post_raw("/api/chat", ollama);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400) << r->body;
  EXPECT_TRUE(json::parse(r->body)["error"].is_string()) << r->body;
}

}  // namespace
}  // namespace facet
