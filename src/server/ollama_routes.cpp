// Ollama's native API: /api/chat, /api/generate (NDJSON streaming by default), /api/tags,
// /api/show, /api/ps, /api/embed, /api/embeddings. Durations are nanoseconds. Images come
// as base64 in a message's "images" (or /api/generate's), and so do audio clips (Ollama's
// API has no audio field; the bytes tell them apart), see media_input.h.
#include <httplib.h>

#include "server/logprobs_json.h"
#include "server/lora_adapters.h"
#include "server/model_info.h"
#include "server/model_management.h"
#include "server/server_context.h"
#include "server/tool_choice.h"

namespace facet::server {
namespace {

int64_t ns(double seconds) { return static_cast<int64_t>(seconds * 1e9); }

Json tool_calls_json(const std::vector<chat::ParsedToolCall>& calls, int first_index) {
  Json out = Json::array();
  int index = first_index;
  for (const chat::ParsedToolCall& c : calls)
    out.push_back({{"id", "call_" + random_id(8)},
                   {"function", {{"index", index++}, {"name", c.name}, {"arguments", c.arguments}}}});
  return out;
}

// The statistics block of a final response.
void add_stats(Json& j, const JobResult& r, double load_seconds, int64_t start_ns) {
  j["done_reason"] = r.finish_reason == "length" ? "length" : "stop";
  j["total_duration"] = now_unix_nanoseconds() - start_ns;
  j["load_duration"] = ns(load_seconds);
  j["prompt_eval_count"] = r.prompt_tokens;
  j["prompt_eval_duration"] = ns(r.prefill_seconds);
  j["eval_count"] = r.completion_tokens;
  j["eval_duration"] = ns(r.decode_seconds);
}

// Empty messages / prompt: load the model (or unload it with keep_alive 0), nothing else.
bool load_only(ServerContext& ctx, httplib::Response& res, const UsedModel& used, const Json& body, bool chat) {
  double keep = ctx.options.keep_alive_seconds;
  if (const Json* k = get_field(body, "keep_alive")) keep = parse_keep_alive(*k);
  Json j{{"model", used.requested_name}, {"created_at", rfc3339(now_unix_nanoseconds())}};
  if (chat) j["message"] = {{"role", "assistant"}, {"content", ""}};
  else j["response"] = "";
  j["done"] = true;
  if (keep == 0) {
    ctx.registry.unload(used.model->entry.name);
    j["done_reason"] = "unload";
  } else {
    ctx.registry.touch(used.model->entry.name, keep);
    j["done_reason"] = "load";
  }
  send_json(res, j);
  return true;
}

// Runs a job and answers in Ollama's shape; `chat` decides message{...} vs response.
void answer(ServerContext& ctx, const httplib::Request&, httplib::Response& res, UsedModel used, const Json& body,
            JobSpec spec, bool chat, bool return_context) {
  const int64_t start_ns = now_unix_nanoseconds();
  std::vector<int32_t> prompt = spec.prompt;
  spec.lora_scales = request_lora_scales(ctx.registry.loras(), body);
  const bool want_logprobs = spec.params.top_logprobs >= 0;
  auto job = GenerationJob::start(used.model, std::move(spec));
  const std::string name = used.requested_name;
  // The model (and so its token texts) lives as long as the job that the stream holds.
  const std::vector<std::string>* texts = want_logprobs ? &used.model->token_texts() : nullptr;
  auto chunk = [name, chat, texts](const JobOutput& out, int& call_index) {
    Json j{{"model", name}, {"created_at", rfc3339(now_unix_nanoseconds())}};
    if (chat) {
      Json m{{"role", "assistant"}, {"content", out.content}};
      if (!out.thinking.empty()) m["thinking"] = out.thinking;
      if (!out.tool_calls.empty()) {
        m["tool_calls"] = tool_calls_json(out.tool_calls, call_index);
        call_index += static_cast<int>(out.tool_calls.size());
      }
      j["message"] = std::move(m);
    } else {
      j["response"] = out.content;
      if (!out.thinking.empty()) j["thinking"] = out.thinking;
    }
    if (texts && !out.logprobs.empty()) j["logprobs"] = logprob_entries(out.logprobs, *texts);
    j["done"] = false;
    return j;
  };
  auto final_object = [name, chat, start_ns, load = used.load_seconds, return_context, prompt, texts](
                          const JobResult& r, const JobOutput* whole) {
    Json j{{"model", name}, {"created_at", rfc3339(now_unix_nanoseconds())}};
    if (chat) {
      Json m{{"role", "assistant"}, {"content", whole ? whole->content : ""}};
      if (whole && !whole->thinking.empty()) m["thinking"] = whole->thinking;
      if (whole && !whole->tool_calls.empty()) m["tool_calls"] = tool_calls_json(whole->tool_calls, 0);
      j["message"] = std::move(m);
    } else {
      j["response"] = whole ? whole->content : "";
      if (whole && !whole->thinking.empty()) j["thinking"] = whole->thinking;
    }
    if (texts && whole) j["logprobs"] = logprob_entries(whole->logprobs, *texts);
    j["done"] = true;
    add_stats(j, r, load, start_ns);
    if (return_context) {
      std::vector<int32_t> context = prompt;
      context.insert(context.end(), r.tokens.begin(), r.tokens.end());
      j["context"] = context;
    }
    return j;
  };

  if (!get_bool(body, "stream").value_or(true)) {
    const JobOutput whole = job->collect();
    const JobResult r = job->result();
    record_generation(ctx, r);
    finish_model_use(ctx, used, body);
    if (!r.error.empty()) throw_http(500, r.error);
    send_json(res, final_object(r, &whole));
    return;
  }
  auto call_index = std::make_shared<int>(0);
  StreamFormat format;
  format.piece = [chunk, call_index](const JobOutput& out) { return dump(chunk(out, *call_index)) + "\n"; };
  format.end = [final_object](const JobResult& r) {
    if (!r.error.empty()) return dump(Json{{"error", r.error}}) + "\n";
    return dump(final_object(r, nullptr)) + "\n";
  };
  stream_job(ctx, res, std::move(job), "application/x-ndjson", std::move(format),
             [&ctx, used, body] {
               try {
                 finish_model_use(ctx, used, body);
               } catch (...) {  // keep_alive was checked before; nothing to report here
               }
             });
}

void chat_route(ServerContext& ctx, const httplib::Request& req, httplib::Response& res) {
  Json body = parse_body(req);
  const Json* messages = get_field(body, "messages");
  if (messages && !messages->is_array()) throw_http(400, "field \"messages\" must be a list");
  const Json* tools = get_field(body, "tools");
  if (tools && !tools->is_array()) throw_http(400, "field \"tools\" must be a list");
  if (const Json* k = get_field(body, "keep_alive")) parse_keep_alive(*k);  // 400 before any work
  // Ollama has no tool_choice; facet reads the OpenAI field here too (an extension).
  std::optional<std::vector<ToolFunction>> forced_call = apply_tool_choice(body);
  messages = get_field(body, "messages");  // erasing "tools" may have moved it
  GenerationParams params = ollama_params(body);
  if (forced_call && params.schema)
    throw_http(400, "format and tool_choice cannot both constrain the answer: pick one");
  UsedModel used = use_model(ctx, body);
  if (!messages || messages->empty()) {
    load_only(ctx, res, used, body, true);
    return;
  }
  JobSpec spec;
  spec.prompt = render_chat_prompt(ctx, *used.model, body, &spec.thinking, &spec.media);
  spec.params = std::move(params);
  const Json* offered = get_field(body, "tools");  // tool_choice "none" took them away
  spec.tools_offered = offered && !offered->empty();
  spec.forced_call = std::move(forced_call);
  answer(ctx, req, res, std::move(used), body, std::move(spec), true, false);
}

void generate_route(ServerContext& ctx, const httplib::Request& req, httplib::Response& res) {
  Json body = parse_body(req);
  const std::string prompt = get_string(body, "prompt").value_or("");
  const bool raw = get_bool(body, "raw").value_or(false);
  const std::optional<std::string> system = get_string(body, "system");
  if (!get_string(body, "suffix").value_or("").empty())
    throw_http(400, "this model does not support insert (suffix): Gemma 4 has no fill-in-the-middle tokens");
  if (const Json* k = get_field(body, "keep_alive")) parse_keep_alive(*k);
  GenerationParams params = ollama_params(body);
  UsedModel used = use_model(ctx, body);
  if (prompt.empty()) {
    load_only(ctx, res, used, body, false);
    return;
  }
  const Json* images = get_field(body, "images");
  const bool has_images = images && !(images->is_array() && images->empty());
  JobSpec spec;
  spec.params = std::move(params);
  if (raw && has_images)
    throw_http(400, "images need the chat template: send them without \"raw\": true (or use /api/chat)");
  if (raw) {
    spec.prompt = raw_prompt(*used.model, prompt);
    spec.parse_output = false;
  } else {
    Json chat_body = body;
    Json messages = Json::array();
    if (system) messages.push_back({{"role", "system"}, {"content", *system}});
    messages.push_back({{"role", "user"}, {"content", prompt}});
    if (has_images) messages.back()["images"] = *images;  // placed before the prompt, as in a chat
    chat_body["messages"] = std::move(messages);
    chat_body.erase("tools");
    spec.prompt = render_chat_prompt(ctx, *used.model, chat_body, &spec.thinking, &spec.media);
  }
  answer(ctx, req, res, std::move(used), body, std::move(spec), false, !raw);
}

std::vector<std::string> embed_inputs(const Json& body, const char* key) {
  const Json* input = get_field(body, key);
  if (!input) throw_http(400, std::string("field \"") + key + "\" is required");
  if (input->is_string()) return {input->get<std::string>()};
  if (!input->is_array()) throw_http(400, std::string("field \"") + key + "\" must be a string or a list of strings");
  std::vector<std::string> out;
  for (const Json& s : *input) {
    if (!s.is_string()) throw_http(400, std::string("field \"") + key + "\" must be a list of strings");
    out.push_back(s.get<std::string>());
  }
  return out;
}

std::vector<float> cut_dimensions(std::vector<float> v, std::optional<int64_t> dims, bool renormalize) {
  if (!dims) return v;
  if (*dims < 1) throw_http(400, "dimensions must be at least 1");
  if (static_cast<size_t>(*dims) < v.size()) {
    v.resize(static_cast<size_t>(*dims));
    if (renormalize) {
      double norm = 0;
      for (float x : v) norm += double(x) * x;
      norm = std::sqrt(norm);
      if (norm > 0)
        for (float& x : v) x = static_cast<float>(x / norm);
    }
  }
  return v;
}

void embed_route(ServerContext& ctx, const httplib::Request& req, httplib::Response& res, bool legacy) {
  Json body = parse_body(req);
  const std::vector<std::string> inputs = embed_inputs(body, legacy ? "prompt" : "input");
  const bool truncate = get_bool(body, "truncate").value_or(true);
  const std::optional<int64_t> dims = get_integer(body, "dimensions");
  if (const Json* k = get_field(body, "keep_alive")) parse_keep_alive(*k);
  const int64_t start_ns = now_unix_nanoseconds();
  UsedModel used = use_model(ctx, body);
  Json vectors = Json::array();
  int64_t tokens = 0;
  for (const std::string& text : inputs) {
    int64_t n = 0;
    vectors.push_back(cut_dimensions(embed_text(ctx, *used.model, text, !legacy, truncate, &n), dims, !legacy));
    tokens += n;
  }
  finish_model_use(ctx, used, body);
  if (legacy) {
    send_json(res, Json{{"embedding", vectors[0]}});
    return;
  }
  send_json(res, Json{{"model", used.requested_name},
                      {"embeddings", std::move(vectors)},
                      {"total_duration", now_unix_nanoseconds() - start_ns},
                      {"load_duration", ns(used.load_seconds)},
                      {"prompt_eval_count", tokens}});
}

void show_route(ServerContext& ctx, const httplib::Request& req, httplib::Response& res) {
  Json body = parse_body(req);
  std::optional<std::string> name = get_string(body, "model");
  if (!name) name = get_string(body, "name");  // older clients
  if (!name) throw_http(400, "model is required");
  const ModelEntry entry = ctx.registry.find(*name);
  const ProjectorTowers towers = projector_towers(ctx.registry.mmproj_for(entry));
  send_json(res, show_model(entry, towers.vision, towers.audio));
}

void ps_route(ServerContext& ctx, httplib::Response& res) {
  Json models = Json::array();
  for (const LoadedInfo& info : ctx.registry.loaded()) {
    Json e = tags_entry(info.entry);
    // Kept forever: a far-away date, as Ollama shows it.
    const int64_t forever = now_unix_nanoseconds() + int64_t{100} * 365 * 86400 * 1000000000;
    e["expires_at"] = rfc3339(info.expires_ns.value_or(forever));
    e["size_vram"] = 0;
    e["context_length"] = info.context_size;
    models.push_back(std::move(e));
  }
  send_json(res, Json{{"models", std::move(models)}});
}

}  // namespace

void add_ollama_routes(httplib::Server& http, ServerContext& ctx) {
  auto ollama = [&ctx](void (*fn)(ServerContext&, const httplib::Request&, httplib::Response&)) {
    return [&ctx, fn](const httplib::Request& req, httplib::Response& res) {
      guarded(Api::Ollama, res, [&] { fn(ctx, req, res); });
    };
  };
  http.Post("/api/chat", ollama(chat_route));
  http.Post("/api/generate", ollama(generate_route));
  http.Post("/api/embed", ollama([](ServerContext& c, const httplib::Request& q, httplib::Response& r) {
    embed_route(c, q, r, false);
  }));
  http.Post("/api/embeddings", ollama([](ServerContext& c, const httplib::Request& q, httplib::Response& r) {
    embed_route(c, q, r, true);
  }));
  http.Post("/api/show", ollama(show_route));
  http.Get("/api/tags", ollama([](ServerContext& c, const httplib::Request&, httplib::Response& r) {
    Json models = Json::array();
    for (const ModelEntry& e : c.registry.list()) models.push_back(tags_entry(e));
    send_json(r, Json{{"models", std::move(models)}});
  }));
  http.Get("/api/ps", ollama([](ServerContext& c, const httplib::Request&, httplib::Response& r) { ps_route(c, r); }));
  http.Get("/api/version", ollama([](ServerContext& c, const httplib::Request&, httplib::Response& r) {
    send_json(r, Json{{"version", c.options.version}});
  }));
  // Model management that needs a registry to download from (or a Modelfile): a clear
  // answer, not a 404.
  auto unsupported = [](const httplib::Request& req, httplib::Response& res) {
    send_error(Api::Ollama, res, 501,
               req.path + " is not supported: facet serves the .gguf files and Hugging Face folders in its "
                          "models directory (--models); copy models there instead");
  };
  for (const char* path : {"/api/pull", "/api/push", "/api/create"}) http.Post(path, unsupported);
  http.Post("/api/copy", ollama([](ServerContext& c, const httplib::Request& q, httplib::Response& r) {
    copy_model(c, parse_body(q));
    r.status = 200;
  }));
  http.Delete("/api/delete", ollama([](ServerContext& c, const httplib::Request& q, httplib::Response& r) {
    delete_model(c, parse_body(q));
    r.status = 200;
  }));
}

}  // namespace facet::server
