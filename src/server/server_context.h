// What every route handler shares: the options, the model registry, the counters, and
// the steps common to the Ollama and OpenAI dialects (find + load a model, render a chat
// into a prompt, run an embedding).
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "server/generation_job.h"
#include "server/http_util.h"
#include "server/model_registry.h"
#include "server/server_options.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace facet::server {

struct Metrics {
  std::atomic<int64_t> http_requests{0};
  std::atomic<int64_t> http_errors{0};  // responses with status >= 400
  std::atomic<int64_t> prompt_tokens{0};
  std::atomic<int64_t> generated_tokens{0};
  std::atomic<int64_t> generations{0};
  std::atomic<int64_t> embeddings{0};
  std::atomic<int64_t> streaming_now{0};
  std::atomic<int64_t> images_encoded{0};  // run through a vision tower
  std::atomic<int64_t> images_reused{0};   // found among a model's recently encoded images
  std::atomic<int64_t> audio_encoded{0};   // clips run through an audio tower
  std::atomic<int64_t> audio_reused{0};    // found among a model's recently encoded clips
  std::atomic<double> prompt_seconds{0};
  std::atomic<double> generation_seconds{0};
};

struct ServerContext {
  explicit ServerContext(ServerOptions o) : options(std::move(o)), registry(options) {}
  ServerOptions options;
  ModelRegistry registry;
  Metrics metrics;
};

// A model named in a request, loaded; load time for the response statistics.
struct UsedModel {
  std::shared_ptr<LoadedModel> model;
  double load_seconds = 0;
  std::string requested_name;  // as the client wrote it (echoed back in responses)
};
UsedModel use_model(ServerContext& ctx, const Json& body);

// Applies the request's keep_alive (or the server default) once the request is done.
void finish_model_use(ServerContext& ctx, const UsedModel& used, const Json& body);

// The prompt for an OpenAI-style chat body (messages, tools, thinking switches), rendered
// with the model's rules and tokenized. `thinking` receives the thinking switch in force.
// Inline images (image_url / input_image data: URLs, Ollama's "images") and audio
// (input_audio; clips in Ollama's "images") are encoded by the model's towers into `media`
// and their places expanded in the tokens; 400 for a model without the tower an item needs,
// unreadable media, a remote URL or video.
std::vector<int32_t> render_chat_prompt(ServerContext& ctx, LoadedModel& model, const Json& body, bool* thinking,
                                        std::vector<PromptMedia>* media);
// Raw text completion: the text with BOS, no template.
std::vector<int32_t> raw_prompt(LoadedModel& model, const std::string& text);

// Last-layer hidden states mean-pooled over the tokens; L2-normalized when `normalize`.
// `truncate`: cut inputs longer than the context (else 400).
std::vector<float> embed_text(ServerContext& ctx, LoadedModel& model, const std::string& text, bool normalize,
                              bool truncate, int64_t* token_count);

void record_generation(ServerContext& ctx, const JobResult& result);

// Runs `body` and turns any exception into the API's error response: HttpError keeps its
// status; facet::Error and JSON errors are 400 (bad input); anything else is 500.
void guarded(Api api, httplib::Response& res, const std::function<void()>& body);

// Streams a job: `piece` formats new output, `end` the closing chunk(s), `keepalive` (may
// be empty) a no-op chunk sent while waiting (SSE comments), which also notices a client
// that went away during a long prompt.
struct StreamFormat {
  std::function<std::string(const JobOutput&)> piece;
  std::function<std::string(const JobResult&)> end;
  std::string keepalive;
};
void stream_job(ServerContext& ctx, httplib::Response& res, std::unique_ptr<GenerationJob> job,
                const std::string& content_type, StreamFormat format, std::function<void()> on_finish);

void add_ollama_routes(httplib::Server& http, ServerContext& ctx);
void add_openai_routes(httplib::Server& http, ServerContext& ctx);
void add_responses_route(httplib::Server& http, ServerContext& ctx);
void add_misc_routes(httplib::Server& http, ServerContext& ctx);

}  // namespace facet::server
