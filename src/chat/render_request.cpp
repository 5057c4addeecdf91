#include "chat/render_request.h"

#include <algorithm>
#include <vector>

#include "chat/jinja_values.h"
#include "chat/request_media.h"
#include "util/error.h"

namespace facet::chat {

namespace {

const Json* find(const Json& object, std::string_view key) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(std::string(key));
  return (it == object.end() || it->is_null()) ? nullptr : &*it;
}

std::optional<std::string> optional_string(const Json& object, std::string_view key, const std::string& where) {
  const Json* value = find(object, key);
  if (!value) return std::nullopt;
  require(value->is_string(), where, ".", key, " must be a string, got ", value->dump());
  return value->get<std::string>();
}

bool optional_bool(const Json& object, std::string_view key, bool fallback, const std::string& where) {
  const Json* value = find(object, key);
  if (!value) return fallback;
  require(value->is_boolean(), where, key, " must be true or false, got ", value->dump());
  return value->get<bool>();
}

bool effort_means_thinking(const Json& effort, std::string_view field) {
  require(effort.is_string(), field, " must be a string, got ", effort.dump());
  const std::string& level = effort.get_ref<const std::string&>();
  if (level == "none") return false;
  if (level == "minimal" || level == "low" || level == "medium" || level == "high" || level == "max" ||
      level == "xhigh")
    return true;
  fail(field, " must be one of none, minimal, low, medium, high, max, got \"", level, "\"");
}

Role parse_role(const Json& message, const std::string& where) {
  const Json* role = find(message, "role");
  require(role && role->is_string(), where, ".role must be a string");
  const std::string& name = role->get_ref<const std::string&>();
  for (Role candidate : {Role::System, Role::Developer, Role::User, Role::Assistant, Role::Tool})
    if (name == role_name(candidate)) return candidate;
  fail(where, ".role: unknown role \"", name, "\" (expected system, developer, user, assistant or tool)");
}

PartKind part_kind(const std::string& type) {
  if (type == "text") return PartKind::Text;
  if (type == "image" || type == "image_url" || type == "input_image") return PartKind::Image;
  if (type == "audio" || type == "input_audio") return PartKind::Audio;
  if (type == "video" || type == "video_url") return PartKind::Video;
  return PartKind::Other;
}

std::vector<ContentPart> parse_parts(const Json& list, const std::string& where, const RequestParseOptions& options) {
  std::vector<ContentPart> parts;
  for (size_t i = 0; i < list.size(); ++i) {
    std::string part_where = where + "[" + std::to_string(i) + "]";
    const Json& part = list[i];
    require(part.is_object(), part_where, " must be an object like {\"type\":\"text\",\"text\":...}");
    std::optional<std::string> type = optional_string(part, "type", part_where);
    require(type.has_value(), part_where, ".type is missing");
    PartKind kind = part_kind(*type);
    if (kind == PartKind::Text) {
      std::optional<std::string> text = optional_string(part, "text", part_where);
      require(text.has_value(), part_where, ".text is missing");
      parts.push_back(ContentPart::of_text(*text));
    } else {
      parts.push_back(ContentPart::of(kind));
      if (options.keep_media && kind != PartKind::Other) read_part_media(part, parts.back(), part_where);
    }
  }
  return parts;
}

// Ollama's "images" become image parts ahead of the text, where the template puts them.
Content with_leading_images(Content content, std::vector<ContentPart> images) {
  if (images.empty()) return content;
  if (content.form == Content::Form::Text) images.push_back(ContentPart::of_text(std::move(content.text)));
  else if (content.form == Content::Form::Parts)
    images.insert(images.end(), std::make_move_iterator(content.parts.begin()),
                  std::make_move_iterator(content.parts.end()));
  return Content::of_parts(std::move(images));
}

Content parse_content(const Json& message, Role role, const std::string& where, const RequestParseOptions& options) {
  std::vector<ContentPart> images;
  if (const Json* list = find(message, "images"); list && options.keep_media)
    images = image_parts_from_list(*list, where + ".images");
  const Json* content = find(message, "content");
  if (!content) return with_leading_images({}, std::move(images));
  if (content->is_string()) return with_leading_images(Content::of_text(content->get<std::string>()), std::move(images));
  if (content->is_array())
    return with_leading_images(Content::of_parts(parse_parts(*content, where + ".content", options)), std::move(images));
  // A tool may return structured data; the template renders it in Gemma's syntax.
  require(role == Role::Tool, where, ".content must be a string or a list of content parts, got ",
          content->dump());
  require(images.empty(), where, ": a tool result with structured content cannot carry images");
  return Content::of_json(*content);
}

ToolCall parse_tool_call(const Json& entry, const std::string& where) {
  require(entry.is_object(), where, " must be an object");
  const Json* function = find(entry, "function");
  require(function && function->is_object(), where, ".function must be an object with a name");
  ToolCall call;
  call.id = optional_string(entry, "id", where);
  std::optional<std::string> name = optional_string(*function, "name", where + ".function");
  require(name && !name->empty(), where, ".function.name is missing");
  call.name = *name;
  const Json* arguments = find(*function, "arguments");
  call.arguments = arguments ? *arguments : Json();
  if (call.arguments.is_string()) {
    Json decoded = Json::parse(call.arguments.get<std::string>(), nullptr, /*allow_exceptions=*/false);
    if (decoded.is_object()) call.arguments = std::move(decoded);
  }
  return call;
}

std::string parse_reasoning(const Json& message, const std::string& where) {
  for (const char* key : {"reasoning", "reasoning_content", "thinking"}) {
    const Json* value = find(message, key);
    if (!jinja::truthy(value)) continue;
    require(value->is_string(), where, ".", key, " must be a string");
    return value->get<std::string>();
  }
  return {};
}

Message parse_message(const Json& json, size_t index, const RequestParseOptions& options) {
  std::string where = "messages[" + std::to_string(index) + "]";
  require(json.is_object(), where, " must be an object with a role");
  Message message;
  message.role = parse_role(json, where);
  message.content = parse_content(json, message.role, where, options);

  const Json* calls = find(json, "tool_calls");
  if (calls) {
    require(calls->is_array(), where, ".tool_calls must be a list");
    require(calls->empty() || message.role == Role::Assistant, where, ": only assistant messages carry tool_calls");
    for (size_t i = 0; i < calls->size(); ++i)
      message.tool_calls.push_back(parse_tool_call((*calls)[i], where + ".tool_calls[" + std::to_string(i) + "]"));
  }
  if (message.role == Role::Assistant) {
    message.reasoning = parse_reasoning(json, where);
    if (const Json* responses = find(json, "tool_responses")) {
      require(responses->is_array(), where, ".tool_responses must be a list");
      for (size_t i = 0; i < responses->size(); ++i) {
        std::string response_where = where + ".tool_responses[" + std::to_string(i) + "]";
        const Json& entry = (*responses)[i];
        require(entry.is_object(), response_where, " must be an object with name and response");
        ToolResponse response;
        response.name = optional_string(entry, "name", response_where).value_or("unknown");
        if (auto it = entry.find("response"); it != entry.end()) response.response = *it;
        message.tool_responses.push_back(std::move(response));
      }
    }
  }
  if (message.role == Role::Tool) {
    message.tool_call_id = optional_string(json, "tool_call_id", where);
    message.name = optional_string(json, "name", where);
    if (!message.name) message.name = optional_string(json, "tool_name", where);
  }
  return message;
}

ToolDefinition parse_tool(const Json& json, size_t index) {
  std::string where = "tools[" + std::to_string(index) + "]";
  require(json.is_object(), where, " must be an object like {\"type\":\"function\",\"function\":{...}}");
  const Json* function = find(json, "function");
  if (!function && find(json, "name")) function = &json;  // the bare function object
  require(function && function->is_object(), where,
          " must be {\"type\":\"function\",\"function\":{\"name\":...,\"parameters\":...}}");
  std::optional<std::string> name = optional_string(*function, "name", where + ".function");
  require(name && !name->empty(), where, ".function.name is missing");
  if (const Json* parameters = find(*function, "parameters"))
    require(parameters->is_object(), where, ".function.parameters must be a JSON Schema object");
  return ToolDefinition{*function};
}

// Nesting depth of a JSON value, counted without recursion so that any input is safe.
size_t nesting_depth(const Json& root) {
  size_t deepest = 0;
  std::vector<std::pair<const Json*, size_t>> stack = {{&root, 1}};
  while (!stack.empty()) {
    auto [value, depth] = stack.back();
    stack.pop_back();
    deepest = std::max(deepest, depth);
    if (value->is_structured())
      for (const Json& child : *value) stack.emplace_back(&child, depth + 1);
  }
  return deepest;
}

// Far deeper than any real request; rendering recurses through nested arguments and schemas.
constexpr size_t kMaxNesting = 128;

}  // namespace

bool thinking_requested(const Json& body, bool fallback) {
  if (const Json* kwargs = find(body, "chat_template_kwargs")) {
    require(kwargs->is_object(), "chat_template_kwargs must be an object");
    if (find(*kwargs, "enable_thinking"))
      return optional_bool(*kwargs, "enable_thinking", fallback, "chat_template_kwargs.");
  }
  if (find(body, "enable_thinking")) return optional_bool(body, "enable_thinking", fallback, "");
  if (const Json* effort = find(body, "reasoning_effort")) return effort_means_thinking(*effort, "reasoning_effort");
  if (const Json* reasoning = find(body, "reasoning")) {
    if (const Json* effort = find(*reasoning, "effort")) return effort_means_thinking(*effort, "reasoning.effort");
  }
  if (const Json* think = find(body, "think")) {
    if (think->is_boolean()) return think->get<bool>();
    return effort_means_thinking(*think, "think");
  }
  return fallback;
}

RenderRequest render_request_from_json(const Json& body, const RequestParseOptions& options) {
  require(body.is_object(), "the request must be a JSON object with \"messages\"");
  require(nesting_depth(body) <= kMaxNesting, "the request is nested more than ", kMaxNesting, " levels deep");
  const Json* messages = find(body, "messages");
  require(messages && messages->is_array(), "\"messages\" must be a list of messages");
  require(!messages->empty(), "\"messages\" is empty");

  RenderRequest request;
  for (size_t i = 0; i < messages->size(); ++i) request.messages.push_back(parse_message((*messages)[i], i, options));
  if (const Json* tools = find(body, "tools")) {
    require(tools->is_array(), "\"tools\" must be a list of function definitions");
    for (size_t i = 0; i < tools->size(); ++i) request.tools.push_back(parse_tool((*tools)[i], i));
  }
  request.enable_thinking = thinking_requested(body);
  request.add_generation_prompt = optional_bool(body, "add_generation_prompt", true, "");
  return request;
}

RenderRequest render_request_from_json_text(std::string_view text) {
  Json body;
  try {
    body = Json::parse(text);
  } catch (const Json::exception& e) {  // parse_error, and out_of_range for numbers like 1e999
    fail("malformed JSON request: ", e.what());
  }
  return render_request_from_json(body);
}

}  // namespace facet::chat
