// OpenAI Responses API (POST /v1/responses), stateless: `input` (a string or message /
// function_call / function_call_output items), `instructions`, flat function `tools`,
// `text.format`, `reasoning.effort`, `max_output_tokens`, and llama-server's per-request
// `lora` list (as on the other generation routes). Output items: reasoning,
// message, function_call. Streaming uses named SSE events (response.created ...
// response.completed); `previous_response_id` is refused (nothing is stored).
#include <httplib.h>

#include <algorithm>

#include "server/lora_adapters.h"
#include "server/server_context.h"
#include "server/tool_choice.h"

namespace facet::server {
namespace {

std::string text_of(const Json& content) {
  if (content.is_string()) return content.get<std::string>();
  std::string out;
  if (content.is_array())
    for (const Json& part : content)
      if (part.is_object() && part.contains("text") && part["text"].is_string()) out += part["text"].get<std::string>();
  return out;
}

bool is_media_part(const Json& part) {
  if (!part.is_object()) return false;
  const std::string type = part.value("type", "");
  return type == "input_image" || type == "image_url" || type == "image" || type == "input_audio";
}

// A message's content for the chat renderer: text alone as one string (as before images
// existed); with media, a list of chat parts in order, the text parts as {"type":"text"}.
Json message_content(const Json& content) {
  if (!content.is_array() || std::none_of(content.begin(), content.end(), is_media_part)) return text_of(content);
  Json parts = Json::array();
  for (const Json& part : content) {
    if (is_media_part(part)) {
      parts.push_back(part);
    } else if (part.is_object() && part.contains("text") && part["text"].is_string()) {
      parts.push_back({{"type", "text"}, {"text", part["text"]}});
    }
  }
  return parts;
}

// Responses input -> chat-completions messages (what the chat renderer reads).
Json chat_body_from(const Json& body) {
  Json messages = Json::array();
  if (auto instructions = get_string(body, "instructions"))
    messages.push_back({{"role", "system"}, {"content", *instructions}});
  const Json* input = get_field(body, "input");
  if (!input) throw_http(400, "field \"input\" is required");
  if (input->is_string()) {
    messages.push_back({{"role", "user"}, {"content", input->get<std::string>()}});
  } else if (input->is_array()) {
    for (const Json& item : *input) {
      if (!item.is_object()) throw_http(400, "input items must be objects");
      const std::string type = get_string(item, "type").value_or("message");
      if (type == "message") {
        const std::string role = get_string(item, "role").value_or("user");
        messages.push_back({{"role", role}, {"content", message_content(item.value("content", Json("")))}});
      } else if (type == "function_call") {
        Json call{{"id", get_string(item, "call_id").value_or("")},
                  {"type", "function"},
                  {"function", {{"name", get_string(item, "name").value_or("")},
                                {"arguments", get_string(item, "arguments").value_or("{}")}}}};
        if (messages.empty() || messages.back()["role"] != "assistant" || !messages.back().contains("tool_calls"))
          messages.push_back({{"role", "assistant"}, {"content", ""}, {"tool_calls", Json::array()}});
        messages.back()["tool_calls"].push_back(std::move(call));
      } else if (type == "function_call_output") {
        const Json* output = get_field(item, "output");
        messages.push_back({{"role", "tool"},
                            {"tool_call_id", get_string(item, "call_id").value_or("")},
                            {"content", output ? (output->is_string() ? *output : Json(text_of(*output))) : Json("")}});
      }  // reasoning items and others: the template drops earlier thinking anyway
    }
  } else {
    throw_http(400, "field \"input\" must be a string or a list of items");
  }
  Json chat{{"messages", std::move(messages)}};
  if (const Json* tools = get_field(body, "tools")) {
    if (!tools->is_array()) throw_http(400, "field \"tools\" must be a list");
    Json converted = Json::array();
    for (const Json& t : *tools) {
      if (!t.is_object() || t.value("type", "") != "function") continue;  // built-in tools: not ours
      Json fn{{"name", t.value("name", "")}};
      if (t.contains("description")) fn["description"] = t["description"];
      if (t.contains("parameters")) fn["parameters"] = t["parameters"];
      converted.push_back({{"type", "function"}, {"function", std::move(fn)}});
    }
    if (!converted.empty()) chat["tools"] = std::move(converted);
  }
  if (const Json* r = get_field(body, "reasoning")) chat["reasoning"] = *r;
  if (const Json* c = get_field(body, "tool_choice")) chat["tool_choice"] = *c;
  return chat;
}

struct ResponseState {
  std::string id, model;
  int64_t created = 0;
  int seq = 0;
  std::string thinking, content;
  std::vector<chat::ParsedToolCall> calls;
  std::vector<std::string> call_ids;
  std::string message_id = "msg_" + random_id(), reasoning_id = "rs_" + random_id();
  enum class Open { None, Reasoning, Message } open = Open::None;
  int output_index = -1;

  std::string event(Json data) {
    const std::string type = data["type"];
    data["sequence_number"] = seq++;
    return "event: " + type + "\ndata: " + dump(data) + "\n\n";
  }
  Json reasoning_item() const {
    return Json{{"type", "reasoning"}, {"id", reasoning_id}, {"summary", Json::array()},
                {"content", Json::array({{{"type", "reasoning_text"}, {"text", thinking}}})}};
  }
  Json message_item(const char* status) const {
    return Json{{"type", "message"}, {"id", message_id}, {"status", status}, {"role", "assistant"},
                {"content", Json::array({{{"type", "output_text"}, {"text", content}, {"annotations", Json::array()}}})}};
  }
  Json call_item(size_t i) const {
    return Json{{"type", "function_call"}, {"id", "fc_" + call_ids[i]}, {"call_id", call_ids[i]},
                {"name", calls[i].name}, {"arguments", dump(calls[i].arguments)}, {"status", "completed"}};
  }
  Json response(const char* status, const JobResult* r) const {
    Json output = Json::array();
    if (!thinking.empty()) output.push_back(reasoning_item());
    if (!content.empty() || calls.empty()) output.push_back(message_item("completed"));
    for (size_t i = 0; i < calls.size(); ++i) output.push_back(call_item(i));
    Json j{{"id", id}, {"object", "response"}, {"created_at", created}, {"status", status}, {"model", model},
           {"output", std::move(output)}, {"error", nullptr}};
    j["incomplete_details"] = r && r->finish_reason == "length" ? Json{{"reason", "max_output_tokens"}} : Json(nullptr);
    if (r)
      j["usage"] = {{"input_tokens", r->prompt_tokens},
                    {"input_tokens_details", {{"cached_tokens", r->reused_tokens}}},
                    {"output_tokens", r->completion_tokens},
                    {"output_tokens_details", {{"reasoning_tokens", r->reasoning_tokens}}},
                    {"total_tokens", r->prompt_tokens + r->completion_tokens}};
    return j;
  }

  // Closes the item being streamed (reasoning or message).
  std::string close_open() {
    std::string out;
    if (open == Open::Reasoning) {
      out += event({{"type", "response.reasoning_text.done"}, {"item_id", reasoning_id}, {"output_index", output_index},
                    {"content_index", 0}, {"text", thinking}});
      out += event({{"type", "response.output_item.done"}, {"output_index", output_index}, {"item", reasoning_item()}});
    } else if (open == Open::Message) {
      const Json part{{"type", "output_text"}, {"text", content}, {"annotations", Json::array()}};
      out += event({{"type", "response.output_text.done"}, {"item_id", message_id}, {"output_index", output_index},
                    {"content_index", 0}, {"text", content}});
      out += event({{"type", "response.content_part.done"}, {"item_id", message_id}, {"output_index", output_index},
                    {"content_index", 0}, {"part", part}});
      out += event({{"type", "response.output_item.done"}, {"output_index", output_index},
                    {"item", message_item("completed")}});
    }
    open = Open::None;
    return out;
  }

  std::string piece(const JobOutput& o) {
    std::string out;
    if (!o.thinking.empty()) {
      if (open != Open::Reasoning) {
        out += close_open();
        open = Open::Reasoning;
        ++output_index;
        Json item = reasoning_item();
        item["content"] = Json::array();
        out += event({{"type", "response.output_item.added"}, {"output_index", output_index}, {"item", item}});
      }
      thinking += o.thinking;
      out += event({{"type", "response.reasoning_text.delta"}, {"item_id", reasoning_id}, {"output_index", output_index},
                    {"content_index", 0}, {"delta", o.thinking}});
    }
    if (!o.content.empty()) {
      if (open != Open::Message) {
        out += close_open();
        open = Open::Message;
        ++output_index;
        Json item = message_item("in_progress");
        item["content"] = Json::array();
        out += event({{"type", "response.output_item.added"}, {"output_index", output_index}, {"item", item}});
        out += event({{"type", "response.content_part.added"}, {"item_id", message_id}, {"output_index", output_index},
                      {"content_index", 0},
                      {"part", {{"type", "output_text"}, {"text", ""}, {"annotations", Json::array()}}}});
      }
      content += o.content;
      out += event({{"type", "response.output_text.delta"}, {"item_id", message_id}, {"output_index", output_index},
                    {"content_index", 0}, {"delta", o.content}});
    }
    for (const chat::ParsedToolCall& c : o.tool_calls) {
      out += close_open();
      calls.push_back(c);
      call_ids.push_back("call_" + random_id(8));
      const size_t i = calls.size() - 1;
      ++output_index;
      Json item = call_item(i);
      item["arguments"] = "";
      item["status"] = "in_progress";
      out += event({{"type", "response.output_item.added"}, {"output_index", output_index}, {"item", item}});
      out += event({{"type", "response.function_call_arguments.delta"}, {"item_id", "fc_" + call_ids[i]},
                    {"output_index", output_index}, {"delta", dump(c.arguments)}});
      out += event({{"type", "response.function_call_arguments.done"}, {"item_id", "fc_" + call_ids[i]},
                    {"output_index", output_index}, {"arguments", dump(c.arguments)}});
      out += event({{"type", "response.output_item.done"}, {"output_index", output_index}, {"item", call_item(i)}});
    }
    return out;
  }
};

void responses(ServerContext& ctx, const httplib::Request& req, httplib::Response& res) {
  Json body = parse_body(req);
  if (get_field(body, "previous_response_id"))
    throw_http(400, "previous_response_id is not supported: facet stores no responses; send the whole input");
  Json chat = chat_body_from(body);
  std::optional<std::vector<ToolFunction>> forced_call = apply_tool_choice(chat);
  GenerationParams params = openai_params(body, "max_output_tokens");
  if (const Json* text = get_field(body, "text"); text && text->is_object())
    if (const Json* format = get_field(*text, "format")) params.schema = schema_from_response_format(*format);
  if (forced_call && params.schema)
    throw_http(400, "text.format and tool_choice cannot both constrain the answer: pick one");
  std::vector<double> lora_scales = request_lora_scales(ctx.registry.loras(), body);  // a bad list: 400 here
  UsedModel used = use_model(ctx, body);
  JobSpec spec;
  spec.lora_scales = std::move(lora_scales);
  spec.prompt = render_chat_prompt(ctx, *used.model, chat, &spec.thinking, &spec.media);
  spec.params = std::move(params);
  spec.tools_offered = chat.contains("tools");
  spec.forced_call = std::move(forced_call);
  auto job = GenerationJob::start(used.model, std::move(spec));
  auto state = std::make_shared<ResponseState>();
  state->id = "resp_" + random_id();
  state->model = used.requested_name;
  state->created = now_unix_seconds();

  if (!get_bool(body, "stream").value_or(false)) {
    const JobOutput whole = job->collect();
    const JobResult r = job->result();
    record_generation(ctx, r);
    finish_model_use(ctx, used, body);
    if (!r.error.empty()) throw_http(500, r.error);
    state->thinking = whole.thinking;
    state->content = whole.content;
    state->calls = whole.tool_calls;
    for (size_t i = 0; i < state->calls.size(); ++i) state->call_ids.push_back("call_" + random_id(8));
    send_json(res, state->response(r.finish_reason == "length" ? "incomplete" : "completed", &r));
    return;
  }
  StreamFormat format;
  format.keepalive = ": keep-alive\n\n";
  format.end = [state](const JobResult& r) {
    if (!r.error.empty())
      return state->event({{"type", "error"}, {"code", "server_error"}, {"message", r.error}, {"param", nullptr}});
    std::string out = state->close_open();
    const bool incomplete = r.finish_reason == "length";
    out += state->event({{"type", incomplete ? "response.incomplete" : "response.completed"},
                         {"response", state->response(incomplete ? "incomplete" : "completed", &r)}});
    return out;
  };
  // response.created must come first even when the first output is slow.
  // Two statements: the sequence numbers must follow the order of the events.
  std::string head = state->event({{"type", "response.created"}, {"response", state->response("in_progress", nullptr)}});
  head += state->event({{"type", "response.in_progress"}, {"response", state->response("in_progress", nullptr)}});
  auto first = std::make_shared<std::string>(std::move(head));
  format.piece = [state, first](const JobOutput& o) {
    std::string out = std::move(*first);
    first->clear();
    return out + state->piece(o);
  };
  auto end = format.end;
  format.end = [first, end](const JobResult& r) {
    std::string out = std::move(*first);
    first->clear();
    return out + end(r);
  };
  stream_job(ctx, res, std::move(job), "text/event-stream", std::move(format), [&ctx, used, body] {
    try {
      finish_model_use(ctx, used, body);
    } catch (...) {
    }
  });
}

}  // namespace

void add_responses_route(httplib::Server& http, ServerContext& ctx) {
  http.Post("/v1/responses", [&ctx](const httplib::Request& req, httplib::Response& res) {
    guarded(Api::OpenAI, res, [&] { responses(ctx, req, res); });
  });
}

}  // namespace facet::server
