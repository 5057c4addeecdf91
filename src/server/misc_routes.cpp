// Routes outside the two APIs: liveness (GET /, /health), Prometheus /metrics, and
// POST /apply-template (the exact prompt a chat request becomes, as llama-server has it).
#include <httplib.h>

#include <sstream>

#include "chat/render.h"
#include "chat/render_request.h"
#include "engine/model_files.h"
#include "server/server_context.h"

namespace facet::server {
namespace {

void metrics_route(ServerContext& ctx, httplib::Response& res) {
  const SchedulerStats s = ctx.registry.stats();
  const Metrics& m = ctx.metrics;
  std::ostringstream out;
  auto metric = [&out](const char* name, const char* type, const char* help, auto value) {
    out << "# HELP facet_" << name << ' ' << help << "\n# TYPE facet_" << name << ' ' << type << "\nfacet_" << name
        << ' ' << value << '\n';
  };
  metric("http_requests_total", "counter", "HTTP requests answered.", m.http_requests.load());
  metric("http_errors_total", "counter", "HTTP responses with a status of 400 or more.", m.http_errors.load());
  metric("prompt_tokens_total", "counter", "Prompt tokens of finished generations and embeddings.",
         m.prompt_tokens.load());
  metric("prompt_seconds_total", "counter", "Seconds spent running prompts.", m.prompt_seconds.load());
  metric("tokens_predicted_total", "counter", "Generated tokens.", m.generated_tokens.load());
  metric("tokens_predicted_seconds_total", "counter", "Seconds spent generating.", m.generation_seconds.load());
  metric("generations_total", "counter", "Finished generation requests.", m.generations.load());
  metric("embeddings_total", "counter", "Embedded inputs.", m.embeddings.load());
  metric("requests_processing", "gauge", "Sequences being generated now.", s.active);
  metric("requests_deferred", "gauge", "Requests waiting for a free sequence slot.", s.queued);
  metric("requests_rejected_total", "counter", "Requests refused because the queue was full (loaded models).",
         s.requests_rejected);
  metric("prompt_tokens_reused_total", "counter", "Prompt tokens found in a cached prefix (loaded models).",
         s.reused_tokens);
  metric("streams_open", "gauge", "Streaming responses in progress.", m.streaming_now.load());
  metric("images_encoded_total", "counter", "Prompt images run through a vision tower.", m.images_encoded.load());
  metric("images_reused_total", "counter", "Prompt images found already encoded (resent in a later turn).",
         m.images_reused.load());
  metric("audio_encoded_total", "counter", "Prompt audio clips run through an audio tower.", m.audio_encoded.load());
  metric("audio_reused_total", "counter", "Prompt audio clips found already encoded (resent in a later turn).",
         m.audio_reused.load());
  metric("models_loaded", "gauge", "Models in memory.", ctx.registry.loaded().size());
  res.set_content(out.str(), "text/plain; version=0.0.4");
}

// Body as for `facet template`, plus optional `model` (its chat rules; default large).
void apply_template_route(ServerContext& ctx, const httplib::Request& req, httplib::Response& res) {
  Json body = parse_body(req);
  chat::ChatRules rules = chat::ChatRules::Large;
  bool thinking_default = ctx.options.think_default;
  if (get_string(body, "model")) {
    const ModelEntry entry = ctx.registry.find(*get_string(body, "model"));
    rules = chat_rules_for_model(entry.path).rules;
  }
  chat::RenderRequest request = chat::render_request_from_json(body);
  request.enable_thinking = chat::thinking_requested(body, thinking_default);
  send_json(res, Json{{"prompt", chat::render_chat(request, rules)}});
}

}  // namespace

void add_misc_routes(httplib::Server& http, ServerContext& ctx) {
  http.Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("facet is running (Ollama-compatible)", "text/plain; charset=utf-8");
  });
  auto health = [](const httplib::Request&, httplib::Response& res) { send_json(res, Json{{"status", "ok"}}); };
  http.Get("/health", health);
  http.Get("/v1/health", health);
  http.Get("/metrics", [&ctx](const httplib::Request&, httplib::Response& res) { metrics_route(ctx, res); });
  http.Post("/apply-template", [&ctx](const httplib::Request& req, httplib::Response& res) {
    guarded(Api::Ollama, res, [&] { apply_template_route(ctx, req, res); });
  });
}

}  // namespace facet::server
