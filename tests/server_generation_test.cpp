// facet's HTTP server generating text with the tiny real-vocabulary model: greedy output
// of /api/generate (raw) and /api/chat equals `facet run` on the same prompt, streams
// (NDJSON, SSE) add up to the whole answer and end well-formed, stop strings, JSON-schema
// constrained answers, embeddings against the float64 reference, disconnects, and 503
// when the queue is full.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "formats/gguf.h"
#include "support/gemma4_tokenizer.h"
#include "support/reference_forward.h"
#include "support/run_command.h"
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

std::string facet_run(const std::string& flags) { return test::facet_run_realvocab(flags, true); }

// POSTs and hands the response body to `receive` as it arrives; returning false hangs up.
bool post_streaming(httplib::Client& c, const std::string& path, const std::string& body,
                    std::function<bool(const char*, size_t)> receive) {
  httplib::Request req;
  req.method = "POST";
  req.path = path;
  req.body = body;
  req.set_header("Content-Type", "application/json");
  req.content_receiver = [receive](const char* data, size_t n, uint64_t, uint64_t) { return receive(data, n); };
  httplib::Response res;
  httplib::Error error;
  return c.send(req, res, error);
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(line);
  return out;
}

TEST(ServerGeneration, GreedyRawGenerateEqualsFacetRun) {
  const std::string expected = facet_run("-p 'The capital of France is' -n 12");
  const json r = post("/api/generate", {{"model", "tiny"}, {"prompt", "The capital of France is"}, {"raw", true},
                                        {"stream", false}, {"options", {{"temperature", 0}, {"num_predict", 12}}}});
  EXPECT_EQ(r["response"], expected);
  EXPECT_EQ(r["done"], true);
  EXPECT_GT(r["eval_count"].get<int>(), 0);
  EXPECT_EQ(r["prompt_eval_count"], test::gemma4_tokenizer().encode("The capital of France is").size() + 1);
  for (const char* key : {"total_duration", "load_duration", "prompt_eval_duration", "eval_duration"})
    EXPECT_TRUE(r[key].is_number_integer()) << key;
  EXPECT_FALSE(r.contains("context"));  // raw: no context
  // The OpenAI legacy completions route runs the same raw prompt.
  const json v1 = post("/v1/completions", {{"model", "tiny"}, {"prompt", "The capital of France is"},
                                           {"temperature", 0}, {"max_tokens", 12}});
  EXPECT_EQ(v1["choices"][0]["text"], expected);
  EXPECT_EQ(v1["object"], "text_completion");
}

TEST(ServerGeneration, GreedyChatEqualsFacetRunChat) {
  const std::string expected = facet_run("--chat -p 'Why is the sky blue?' -n 16");
  const json request{{"model", "tiny:latest"},
                     {"messages", {{{"role", "user"}, {"content", "Why is the sky blue?"}}}},
                     {"think", false},
                     {"stream", false},
                     {"options", {{"temperature", 0}, {"num_predict", 16}}}};
  const json r = post("/api/chat", request);
  EXPECT_EQ(r["message"]["role"], "assistant");
  EXPECT_EQ(r["message"]["content"], expected);
  EXPECT_TRUE(r["done_reason"] == "stop" || r["done_reason"] == "length");
  // The same conversation through the OpenAI route.
  const json v1 = post("/v1/chat/completions", {{"model", "tiny"},
                                                {"messages", request["messages"]},
                                                {"reasoning_effort", "none"},
                                                {"temperature", 0},
                                                {"max_tokens", 16}});
  EXPECT_EQ(v1["choices"][0]["message"]["content"], expected);
  EXPECT_EQ(v1["usage"]["completion_tokens"], r["eval_count"]);
}

TEST(ServerGeneration, NdjsonStreamAddsUpToTheWholeAnswer) {
  json request{{"model", "tiny"},
               {"messages", {{{"role", "user"}, {"content", "Count to ten"}}}},
               {"think", true},
               {"options", {{"temperature", 0.8}, {"seed", 42}, {"num_predict", 24}}}};
  request["stream"] = false;
  const json whole = post("/api/chat", request);
  request["stream"] = true;
  auto r = shared_server().client().Post("/api/chat", request.dump(), "application/json");
  ASSERT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/x-ndjson");
  std::string content, thinking;
  const auto lines = split_lines(r->body);
  ASSERT_GE(lines.size(), 2u);
  for (size_t i = 0; i < lines.size(); ++i) {
    const json j = json::parse(lines[i]);
    EXPECT_EQ(j["done"], i + 1 == lines.size());
    content += j["message"]["content"].get<std::string>();
    if (j["message"].contains("thinking")) thinking += j["message"]["thinking"].get<std::string>();
  }
  const json last = json::parse(lines.back());
  EXPECT_EQ(content, whole["message"]["content"]);
  EXPECT_EQ(thinking, whole["message"].value("thinking", ""));
  EXPECT_EQ(last["eval_count"], whole["eval_count"]);
  EXPECT_EQ(last["prompt_eval_count"], whole["prompt_eval_count"]);
}

TEST(ServerGeneration, SseStreamIsWellFormedWithUsage) {
  json request{{"model", "tiny"},
               {"messages", {{{"role", "user"}, {"content", "Hello"}}}},
               {"seed", 3},
               {"max_tokens", 10},
               {"stream", true},
               {"stream_options", {{"include_usage", true}}}};
  auto r = shared_server().client().Post("/v1/chat/completions", request.dump(), "application/json");
  ASSERT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Type"), "text/event-stream");
  const auto lines = split_lines(r->body);
  ASSERT_GE(lines.size(), 3u);
  EXPECT_EQ(lines.back(), "data: [DONE]");
  std::string content;
  int finish_chunks = 0;
  json usage;
  for (size_t i = 0; i + 1 < lines.size(); ++i) {
    ASSERT_EQ(lines[i].rfind("data: ", 0), 0u) << lines[i];
    const json chunk = json::parse(lines[i].substr(6));
    EXPECT_EQ(chunk["object"], "chat.completion.chunk");
    if (chunk["choices"].empty()) {
      usage = chunk["usage"];
      continue;
    }
    const json& choice = chunk["choices"][0];
    if (i == 0) {
      EXPECT_EQ(choice["delta"]["role"], "assistant");
    }
    if (choice["delta"].contains("content")) content += choice["delta"]["content"].get<std::string>();
    if (!choice["finish_reason"].is_null()) ++finish_chunks;
  }
  EXPECT_EQ(finish_chunks, 1);
  ASSERT_TRUE(usage.is_object());
  EXPECT_GT(usage["completion_tokens"].get<int>(), 0);
  EXPECT_EQ(usage["total_tokens"], usage["prompt_tokens"].get<int>() + usage["completion_tokens"].get<int>());
  request["stream"] = false;
  EXPECT_EQ(post("/v1/chat/completions", request)["choices"][0]["message"]["content"], content);
}

TEST(ServerGeneration, StopStringEndsTheAnswerBeforeIt) {
  const std::string full = facet_run("-p 'Once upon a time' -n 20");
  ASSERT_GE(full.size(), 6u);
  const std::string stop = full.substr(full.size() / 2, 3);
  const std::string expected = full.substr(0, full.find(stop));
  const json r = post("/api/generate", {{"model", "tiny"}, {"prompt", "Once upon a time"}, {"raw", true},
                                        {"stream", false},
                                        {"options", {{"temperature", 0}, {"num_predict", 20}, {"stop", {stop}}}}});
  EXPECT_EQ(r["response"], expected);
  EXPECT_EQ(r["done_reason"], "stop");
}

TEST(ServerGeneration, JsonSchemaAnswerParsesAndValidates) {
  const json schema = json::parse(R"({"type":"object","properties":{"color":{"enum":["red","green","blue"]},
      "ok":{"type":"boolean"},"n":{"type":"null"}},"required":["color","ok","n"]})");
  for (bool think : {false, true}) {
    const json r = post("/api/chat", {{"model", "tiny"},
                                      {"messages", {{{"role", "user"}, {"content", "Pick a color"}}}},
                                      {"format", schema},
                                      {"think", think},
                                      {"stream", false},
                                      {"options", {{"seed", 11}, {"num_predict", 400}}}});
    const std::string content = r["message"]["content"];
    json answer;
    ASSERT_NO_THROW(answer = json::parse(content)) << content;
    ASSERT_TRUE(answer.is_object()) << content;
    EXPECT_TRUE(answer["color"] == "red" || answer["color"] == "green" || answer["color"] == "blue") << content;
    EXPECT_TRUE(answer["ok"].is_boolean()) << content;
    EXPECT_TRUE(answer["n"].is_null() && answer.contains("n")) << content;
    EXPECT_EQ(answer.size(), 3u) << content;
  }
  // OpenAI's response_format does the same.
  const json v1 = post("/v1/chat/completions",
                       {{"model", "tiny"},
                        {"messages", {{{"role", "user"}, {"content", "Pick"}}}},
                        {"seed", 5},
                        {"max_tokens", 400},
                        {"response_format", {{"type", "json_schema"}, {"json_schema", {{"name", "c"}, {"schema", schema}}}}}});
  const std::string v1_content = v1["choices"][0]["message"]["content"];
  EXPECT_TRUE(json::accept(v1_content)) << v1_content;
}

TEST(ServerGeneration, EmbeddingIsTheMeanOfTheFinalHiddenStates) {
  const std::string text = "Hello world";
  EncodeOptions with_bos;
  with_bos.add_bos = true;
  const std::vector<int32_t> tokens = test::gemma4_tokenizer().encode(text, with_bos);
  auto gguf = GgufFile::open(test::realvocab_model());
  test::ReferenceModel reference(*gguf);
  test::ReferenceTrace trace;
  reference.forward(tokens, &trace);
  const size_t H = trace.final_norm[0].size();
  std::vector<double> mean(H, 0.0);
  for (const auto& row : trace.final_norm)
    for (size_t i = 0; i < H; ++i) mean[i] += row[i] / static_cast<double>(tokens.size());
  double norm = 0;
  for (double v : mean) norm += v * v;
  norm = std::sqrt(norm);

  const json embed = post("/api/embed", {{"model", "tiny"}, {"input", {text, text}}});
  ASSERT_EQ(embed["embeddings"].size(), 2u);
  ASSERT_EQ(embed["embeddings"][0].size(), H);
  EXPECT_EQ(embed["prompt_eval_count"], 2 * tokens.size());
  const json legacy = post("/api/embeddings", {{"model", "tiny"}, {"prompt", text}});
  const json v1 = post("/v1/embeddings", {{"model", "tiny"}, {"input", text}});
  for (size_t i = 0; i < H; ++i) {
    EXPECT_NEAR(embed["embeddings"][0][i].get<double>(), mean[i] / norm, 1e-4) << i;
    EXPECT_NEAR(legacy["embedding"][i].get<double>(), mean[i], 1e-3) << i;  // not normalized
    EXPECT_NEAR(v1["data"][0]["embedding"][i].get<double>(), mean[i] / norm, 1e-4) << i;
  }
}

int64_t metric(const std::string& name) {
  const std::string text = shared_server().client().Get("/metrics")->body;
  const size_t at = text.find("\nfacet_" + name + " ");
  return at == std::string::npos ? -1 : std::stoll(text.substr(at + 8 + name.size()));
}

TEST(ServerGeneration, ClientThatLeavesFreesItsSlot) {
  auto c = shared_server().client();
  json request{{"model", "tiny"}, {"prompt", "Tell a long story"}, {"raw", true},
               {"options", {{"num_predict", 400}, {"seed", 1}}}};
  int chunks = 0;
  const bool finished = post_streaming(c, "/api/generate", request.dump(),
                                       [&chunks](const char*, size_t) { return ++chunks < 3; });  // hang up
  EXPECT_FALSE(finished);  // the client cancelled
  // The sequence must be gone well before its 400 tokens could have been generated.
  int64_t active = -1;
  for (int i = 0; i < 100 && active != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    active = metric("requests_processing");
  }
  EXPECT_EQ(active, 0);
  EXPECT_EQ(metric("streams_open"), 0);
  // And the server still answers.
  EXPECT_EQ(post("/api/generate", {{"model", "tiny"}, {"prompt", "x"}, {"stream", false},
                                   {"options", {{"num_predict", 2}}}})["done"], true);
}

TEST(ServerGeneration, FullQueueIs503) {
  test::TestServer small([](server::ServerOptions& o) {
    o.parallel = 1;
    o.max_queue = 1;
  });
  const json long_request{{"model", "tiny"}, {"prompt", "go"}, {"raw", true},
                          {"options", {{"num_predict", 300}, {"seed", 1}}}};
  // Two long streams: one runs, one waits; the third request finds the queue full.
  std::atomic<int> started{0};
  std::atomic<bool> release{false};
  std::vector<std::thread> streams;
  for (int i = 0; i < 2; ++i)
    streams.emplace_back([&] {
      auto c = small.client();
      post_streaming(c, "/api/generate", long_request.dump(), [&](const char*, size_t) {
        ++started;
        return !release.load();  // hang up once the third request has its answer
      });
    });
  // Wait for the first stream to produce output (it is then running, the second queued).
  for (int i = 0; i < 400 && started.load() == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  auto c = small.client();
  auto third = c.Post("/v1/completions", R"({"model":"tiny","prompt":"x","max_tokens":300})", "application/json");
  release = true;
  for (auto& t : streams) t.join();
  ASSERT_TRUE(third);
  if (third->status == 200) GTEST_SKIP() << "the queue drained before the third request arrived";
  EXPECT_EQ(third->status, 503);
  EXPECT_EQ(json::parse(third->body)["error"]["type"], "unavailable_error");
}

TEST(ServerGeneration, ResponsesApiAnswersAndStreams) {
  const json r = post("/v1/responses", {{"model", "tiny"}, {"input", "Hi"}, {"instructions", "Be brief"},
                                        {"max_output_tokens", 8}, {"temperature", 0}});
  EXPECT_EQ(r["object"], "response");
  ASSERT_FALSE(r["output"].empty());
  const json& message = r["output"].back();
  EXPECT_EQ(message["type"], "message");
  const std::string text = message["content"][0]["text"];
  EXPECT_GT(r["usage"]["output_tokens"].get<int>(), 0);

  auto s = shared_server().client().Post(
      "/v1/responses",
      json{{"model", "tiny"}, {"input", "Hi"}, {"instructions", "Be brief"}, {"max_output_tokens", 8},
           {"temperature", 0}, {"stream", true}}.dump(),
      "application/json");
  ASSERT_EQ(s->status, 200);
  const auto lines = split_lines(s->body);
  std::string streamed, last_event;
  int sequence = 0;
  for (size_t i = 0; i + 1 < lines.size(); i += 2) {
    ASSERT_EQ(lines[i].rfind("event: ", 0), 0u) << lines[i];
    const json data = json::parse(lines[i + 1].substr(6));
    last_event = lines[i].substr(7);
    EXPECT_EQ(data["type"], last_event);
    EXPECT_EQ(data["sequence_number"], sequence++);
    if (last_event == "response.output_text.delta") streamed += data["delta"].get<std::string>();
  }
  EXPECT_EQ(json::parse(lines[1].substr(6))["type"], "response.created");
  EXPECT_TRUE(last_event == "response.completed" || last_event == "response.incomplete");
  EXPECT_EQ(streamed, text);
}

TEST(ServerGeneration, KeepAliveZeroUnloads) {
  post("/api/generate", {{"model", "tiny"}, {"prompt", "x"}, {"stream", false}, {"options", {{"num_predict", 1}}}});
  EXPECT_EQ(json::parse(shared_server().client().Get("/api/ps")->body)["models"].size(), 1u);
  const json r = post("/api/generate", {{"model", "tiny"}, {"prompt", ""}, {"keep_alive", 0}});
  EXPECT_EQ(r["done_reason"], "unload");
  EXPECT_EQ(json::parse(shared_server().client().Get("/api/ps")->body)["models"].size(), 0u);
}

}  // namespace
}  // namespace facet
