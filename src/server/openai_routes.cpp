// OpenAI-compatible API: /v1/models, /v1/chat/completions, /v1/completions,
// /v1/embeddings. Streaming is SSE ("data: {...}\n\n", ending with "data: [DONE]").
// Thinking comes back as both `reasoning_content` and `reasoning` (clients read one or
// the other); tool-call arguments are JSON strings here (objects in Ollama's API).
#include <httplib.h>

#include "server/logprobs_json.h"
#include "server/lora_adapters.h"
#include "server/server_context.h"
#include "server/tool_choice.h"

namespace facet::server {
namespace {

std::string sse(const Json& j) { return "data: " + dump(j) + "\n\n"; }

Json usage_json(const JobResult& r) {
  return Json{{"prompt_tokens", r.prompt_tokens},
              {"completion_tokens", r.completion_tokens},
              {"total_tokens", r.prompt_tokens + r.completion_tokens},
              {"prompt_tokens_details", {{"cached_tokens", r.reused_tokens}}},
              {"completion_tokens_details", {{"reasoning_tokens", r.reasoning_tokens}}}};
}

std::string finish_reason(const JobResult& r, bool had_calls) {
  if (r.finish_reason == "length") return "length";
  return had_calls ? "tool_calls" : "stop";
}

Json openai_calls(const std::vector<chat::ParsedToolCall>& calls, int first_index, bool with_index) {
  Json out = Json::array();
  int index = first_index;
  for (const chat::ParsedToolCall& c : calls) {
    Json call{{"id", "call_" + random_id(8)},
              {"type", "function"},
              {"function", {{"name", c.name}, {"arguments", dump(c.arguments)}}}};
    if (with_index) call["index"] = index;
    ++index;
    out.push_back(std::move(call));
  }
  return out;
}

bool include_usage(const Json& body) {
  const Json* o = get_field(body, "stream_options");
  return o && o->is_object() && get_bool(*o, "include_usage").value_or(false);
}

struct Envelope {
  std::string id;
  std::string object;
  int64_t created;
  std::string model;
  Json make(Json choices) const {
    return Json{{"id", id}, {"object", object}, {"created", created}, {"model", model},
                {"system_fingerprint", "facet"}, {"choices", std::move(choices)}};
  }
};

// Shared by chat and text completions: run the job, answer whole or as SSE chunks.
void run_completion(ServerContext& ctx, httplib::Response& res, UsedModel used, const Json& body, JobSpec spec,
                    bool chat) {
  spec.lora_scales = request_lora_scales(ctx.registry.loras(), body);
  const bool want_logprobs = spec.params.top_logprobs >= 0;
  auto job = GenerationJob::start(used.model, std::move(spec));
  // The model (and so its token texts) lives as long as the job that the stream holds.
  const std::vector<std::string>* texts = want_logprobs ? &used.model->token_texts() : nullptr;
  // choice.logprobs: chat {"content": [...]}, text completions the legacy arrays; null when
  // not asked for, and for a streamed chat piece that carries none.
  auto logprobs_json = [texts, chat](const std::vector<TokenLogprob>& lps, size_t& text_offset, bool whole) -> Json {
    if (!texts) return nullptr;
    if (!chat) return legacy_logprobs(lps, *texts, text_offset);
    if (lps.empty() && !whole) return nullptr;
    return Json{{"content", logprob_entries(lps, *texts)}};
  };
  const Envelope env{(chat ? "chatcmpl-" : "cmpl-") + random_id(), chat ? "chat.completion" : "text_completion",
                     now_unix_seconds(), used.requested_name};
  if (!get_bool(body, "stream").value_or(false)) {
    const JobOutput whole = job->collect();
    const JobResult r = job->result();
    record_generation(ctx, r);
    finish_model_use(ctx, used, body);
    if (!r.error.empty()) throw_http(500, r.error);
    Json choice{{"index", 0}};
    if (chat) {
      Json message{{"role", "assistant"}};
      message["content"] = whole.content.empty() && !whole.tool_calls.empty() ? Json(nullptr) : Json(whole.content);
      if (!whole.thinking.empty()) {
        message["reasoning_content"] = whole.thinking;
        message["reasoning"] = whole.thinking;
      }
      if (!whole.tool_calls.empty()) message["tool_calls"] = openai_calls(whole.tool_calls, 0, false);
      choice["message"] = std::move(message);
    } else {
      choice["text"] = whole.content;
    }
    size_t text_offset = 0;
    choice["logprobs"] = logprobs_json(whole.logprobs, text_offset, true);
    choice["finish_reason"] = finish_reason(r, !whole.tool_calls.empty());
    Json out = env.make(Json::array({std::move(choice)}));
    out["object"] = env.object;
    out["usage"] = usage_json(r);
    send_json(res, out);
    return;
  }
  const std::string chunk_object = chat ? "chat.completion.chunk" : "text_completion";
  struct State {
    bool first = true;
    int calls = 0;
    size_t text_bytes = 0;  // of the completion so far: the legacy logprobs' text_offset
  };
  auto state = std::make_shared<State>();
  const bool usage = include_usage(body);
  auto chunk = [env, chunk_object](Json choice) {
    Json j = env.make(Json::array({std::move(choice)}));
    j["object"] = chunk_object;
    return j;
  };
  StreamFormat format;
  format.keepalive = ": keep-alive\n\n";
  format.piece = [chunk, state, chat, logprobs_json](const JobOutput& out) {
    if (!chat)
      return sse(chunk(Json{{"index", 0},
                            {"text", out.content},
                            {"logprobs", logprobs_json(out.logprobs, state->text_bytes, false)},
                            {"finish_reason", nullptr}}));
    Json delta = Json::object();
    if (state->first) delta["role"] = "assistant";
    state->first = false;
    if (!out.thinking.empty()) {
      delta["reasoning_content"] = out.thinking;
      delta["reasoning"] = out.thinking;
    }
    if (!out.content.empty()) delta["content"] = out.content;
    if (!out.tool_calls.empty()) {
      delta["tool_calls"] = openai_calls(out.tool_calls, state->calls, true);
      state->calls += static_cast<int>(out.tool_calls.size());
    }
    return sse(chunk(Json{{"index", 0},
                          {"delta", std::move(delta)},
                          {"logprobs", logprobs_json(out.logprobs, state->text_bytes, false)},
                          {"finish_reason", nullptr}}));
  };
  format.end = [chunk, state, chat, usage, env](const JobResult& r) {
    if (!r.error.empty())
      return sse(Json{{"error", {{"message", r.error}, {"type", "server_error"}, {"code", nullptr}}}}) +
             "data: [DONE]\n\n";
    Json last{{"index", 0}};
    if (chat) last["delta"] = state->first ? Json{{"role", "assistant"}, {"content", ""}} : Json::object();
    else last["text"] = "";
    last["logprobs"] = nullptr;
    last["finish_reason"] = finish_reason(r, state->calls > 0);
    std::string out = sse(chunk(std::move(last)));
    if (usage) {
      Json u = chunk(Json());
      u["choices"] = Json::array();
      u["usage"] = usage_json(r);
      out += sse(u);
    }
    return out + "data: [DONE]\n\n";
  };
  stream_job(ctx, res, std::move(job), "text/event-stream", std::move(format), [&ctx, used, body] {
    try {
      finish_model_use(ctx, used, body);
    } catch (...) {
    }
  });
}

void chat_completions(ServerContext& ctx, const httplib::Request& req, httplib::Response& res) {
  Json body = parse_body(req);
  const Json* messages = get_field(body, "messages");
  if (!messages || !messages->is_array() || messages->empty())
    throw_http(400, "field \"messages\" must be a non-empty list");
  const Json* tools = get_field(body, "tools");
  if (tools && !tools->is_array()) throw_http(400, "field \"tools\" must be a list");
  // tool_choice "none": the model is not told about the tools at all; "required" or a
  // named function: the answer is constrained to a call.
  std::optional<std::vector<ToolFunction>> forced_call = apply_tool_choice(body);
  GenerationParams params = openai_params(body);
  if (forced_call && params.schema)
    throw_http(400, "response_format and tool_choice cannot both constrain the answer: pick one");
  UsedModel used = use_model(ctx, body);
  JobSpec spec;
  spec.prompt = render_chat_prompt(ctx, *used.model, body, &spec.thinking, &spec.media);
  spec.params = std::move(params);
  const Json* offered = get_field(body, "tools");
  spec.tools_offered = offered && !offered->empty();
  spec.forced_call = std::move(forced_call);
  run_completion(ctx, res, std::move(used), body, std::move(spec), true);
}

std::string completion_prompt(const Json& body, LoadedModel& model, std::vector<int32_t>& ids) {
  const Json* prompt = get_field(body, "prompt");
  if (!prompt) throw_http(400, "field \"prompt\" is required");
  if (prompt->is_string()) return prompt->get<std::string>();
  if (prompt->is_array() && prompt->size() == 1 && (*prompt)[0].is_string()) return (*prompt)[0].get<std::string>();
  if (prompt->is_array() && !prompt->empty() && (*prompt)[0].is_number_integer()) {  // token ids
    for (const Json& t : *prompt) {
      if (!t.is_number_integer() || t.get<int64_t>() < 0 || t.get<int64_t>() >= model.tokenizer.vocab_size())
        throw_http(400, "prompt token " + dump(t) + " is not a token id of this model");
      ids.push_back(t.get<int32_t>());
    }
    return {};
  }
  throw_http(400, "field \"prompt\" must be a string (one prompt per request) or a list of token ids");
}

void completions(ServerContext& ctx, const httplib::Request& req, httplib::Response& res) {
  Json body = parse_body(req);
  GenerationParams params = openai_params(body);
  if (!params.max_tokens) params.max_tokens = 16;  // OpenAI's documented default for completions
  if (!get_string(body, "suffix").value_or("").empty())
    throw_http(400, "suffix is not supported: Gemma 4 has no fill-in-the-middle tokens");
  UsedModel used = use_model(ctx, body);
  std::vector<int32_t> ids;
  const std::string text = completion_prompt(body, *used.model, ids);
  JobSpec spec;
  spec.prompt = ids.empty() ? raw_prompt(*used.model, text) : ids;
  spec.params = std::move(params);
  spec.parse_output = false;
  run_completion(ctx, res, std::move(used), body, std::move(spec), false);
}

std::string base64_floats(const std::vector<float>& v) {
  static const char* table = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const auto* bytes = reinterpret_cast<const unsigned char*>(v.data());
  const size_t n = v.size() * sizeof(float);
  std::string out;
  for (size_t i = 0; i < n; i += 3) {
    const uint32_t b = (uint32_t(bytes[i]) << 16) | (i + 1 < n ? uint32_t(bytes[i + 1]) << 8 : 0) |
                       (i + 2 < n ? bytes[i + 2] : 0);
    out += table[(b >> 18) & 63];
    out += table[(b >> 12) & 63];
    out += i + 1 < n ? table[(b >> 6) & 63] : '=';
    out += i + 2 < n ? table[b & 63] : '=';
  }
  return out;
}

void embeddings(ServerContext& ctx, const httplib::Request& req, httplib::Response& res) {
  Json body = parse_body(req);
  const Json* input = get_field(body, "input");
  if (!input) throw_http(400, "field \"input\" is required");
  const std::string encoding = get_string(body, "encoding_format").value_or("float");
  if (encoding != "float" && encoding != "base64") throw_http(400, "encoding_format must be float or base64");
  const std::optional<int64_t> dims = get_integer(body, "dimensions");
  if (dims && *dims < 1) throw_http(400, "dimensions must be at least 1");
  UsedModel used = use_model(ctx, body);
  std::vector<std::string> texts;
  auto ids_text = [&](const Json& list) {
    std::vector<int32_t> ids;
    for (const Json& t : list) {
      if (!t.is_number_integer() || t.get<int64_t>() < 0 || t.get<int64_t>() >= used.model->tokenizer.vocab_size())
        throw_http(400, "input token " + dump(t) + " is not a token id of this model");
      ids.push_back(t.get<int32_t>());
    }
    return used.model->tokenizer.decode(ids);
  };
  if (input->is_string()) texts.push_back(input->get<std::string>());
  else if (input->is_array() && !input->empty() && (*input)[0].is_number_integer()) texts.push_back(ids_text(*input));
  else if (input->is_array()) {
    for (const Json& item : *input) {
      if (item.is_string()) texts.push_back(item.get<std::string>());
      else if (item.is_array()) texts.push_back(ids_text(item));
      else throw_http(400, "field \"input\" must be a string, a list of strings or token id lists");
    }
  } else {
    throw_http(400, "field \"input\" must be a string, a list of strings or token id lists");
  }
  if (texts.empty()) throw_http(400, "field \"input\" is empty");
  Json data = Json::array();
  int64_t tokens = 0;
  for (size_t i = 0; i < texts.size(); ++i) {
    int64_t n = 0;
    std::vector<float> v = embed_text(ctx, *used.model, texts[i], true, true, &n);
    if (dims && static_cast<size_t>(*dims) < v.size()) {
      v.resize(static_cast<size_t>(*dims));
      double norm = 0;
      for (float x : v) norm += double(x) * x;
      if (norm > 0)
        for (float& x : v) x = static_cast<float>(x / std::sqrt(norm));
    }
    tokens += n;
    data.push_back(Json{{"object", "embedding"}, {"index", i},
                        {"embedding", encoding == "base64" ? Json(base64_floats(v)) : Json(v)}});
  }
  finish_model_use(ctx, used, body);
  send_json(res, Json{{"object", "list"}, {"data", std::move(data)}, {"model", used.requested_name},
                      {"usage", {{"prompt_tokens", tokens}, {"total_tokens", tokens}}}});
}

Json model_object(const ModelEntry& e) {
  return Json{{"id", e.name}, {"object", "model"}, {"created", e.modified_ns / 1000000000}, {"owned_by", "facet"}};
}

}  // namespace

void add_openai_routes(httplib::Server& http, ServerContext& ctx) {
  auto openai = [&ctx](void (*fn)(ServerContext&, const httplib::Request&, httplib::Response&)) {
    return [&ctx, fn](const httplib::Request& req, httplib::Response& res) {
      guarded(Api::OpenAI, res, [&] { fn(ctx, req, res); });
    };
  };
  http.Post("/v1/chat/completions", openai(chat_completions));
  http.Post("/v1/completions", openai(completions));
  http.Post("/v1/embeddings", openai(embeddings));
  http.Get("/v1/models", openai([](ServerContext& c, const httplib::Request&, httplib::Response& r) {
    Json data = Json::array();
    for (const ModelEntry& e : c.registry.list()) data.push_back(model_object(e));
    send_json(r, Json{{"object", "list"}, {"data", std::move(data)}});
  }));
  http.Get(R"(/v1/models/(.+))", openai([](ServerContext& c, const httplib::Request& q, httplib::Response& r) {
    send_json(r, model_object(c.registry.find(q.matches[1].str())));
  }));
}

}  // namespace facet::server
