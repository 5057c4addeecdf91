// The conversation a Gemma 4 prompt is rendered from: messages, tool definitions and the
// switches of the official chat template. The fields mirror what the template reads, so
// the renderer can reproduce it byte for byte (see render.h).
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace facet::chat {

// Insertion-ordered JSON: the template sorts keys case-insensitively and Python keeps
// the client's order among keys that compare equal, so the order must survive parsing.
using Json = nlohmann::ordered_json;

enum class Role { System, Developer, User, Assistant, Tool };

std::string_view role_name(Role role);  // "system", "developer", "user", "assistant", "tool"

// Other: a part type the template ignores (e.g. "file"); kept so that the list is as
// long as the client's, which decides whether the content counts as empty.
enum class PartKind { Text, Image, Audio, Video, Other };

struct ContentPart {
  PartKind kind = PartKind::Text;
  std::string text;  // PartKind::Text only
  // Image / audio / video: the file's bytes and the MIME type the client named (may be
  // empty; decoders sniff the bytes). Filled only when a request is read with
  // RequestParseOptions::keep_media (render_request.h); the template needs no bytes.
  std::string data;
  std::string mime;

  static ContentPart of_text(std::string text) {
    ContentPart part;
    part.text = std::move(text);
    return part;
  }
  static ContentPart of(PartKind kind) {
    ContentPart part;
    part.kind = kind;
    return part;
  }
};

// Message content as the client sent it. The template treats a plain string, a list of
// parts and (for tool results) any other JSON value differently, so the form is kept.
struct Content {
  enum class Form { Absent, Text, Parts, Structured };
  Form form = Form::Absent;
  std::string text;                // Form::Text
  std::vector<ContentPart> parts;  // Form::Parts
  Json structured;                 // Form::Structured: tool results given as an object, number...

  static Content of_text(std::string text);
  static Content of_parts(std::vector<ContentPart> parts);
  static Content of_json(Json value);
  // Python truthiness of the original value (an empty string or list is false).
  bool truthy() const;
};

struct ToolCall {
  std::optional<std::string> id;
  std::string name;
  // An object is rendered in Gemma's argument syntax; a string is inserted verbatim (as
  // the template does); anything else renders nothing.
  Json arguments = Json::object();
};

// Gemma-native results carried on the assistant message itself (`tool_responses`).
struct ToolResponse {
  std::string name = "unknown";
  Json response;
};

struct Message {
  Role role = Role::User;
  Content content;
  std::string reasoning;                      // assistant: earlier thinking (reasoning / reasoning_content)
  std::vector<ToolCall> tool_calls;           // assistant
  std::vector<ToolResponse> tool_responses;   // assistant, legacy form
  std::optional<std::string> tool_call_id;    // tool
  std::optional<std::string> name;            // tool: function name when no call id matches
};

// One OpenAI-style function tool: {"type":"function","function":{name, description, parameters}}.
// `function` keeps the whole JSON object because the declaration format reads arbitrary
// JSON Schema keys from it.
struct ToolDefinition {
  Json function;
};

struct RenderRequest {
  std::vector<Message> messages;
  std::vector<ToolDefinition> tools;
  bool enable_thinking = false;
  bool add_generation_prompt = true;
};

// Small models (E2B, E4B) and large ones (26B-A4B, 31B) share the template except for the
// generation prompt with thinking off: large models get an empty thought block.
enum class ChatRules { Small, Large };

ChatRules parse_chat_rules(std::string_view name);  // "small" or "large"; throws facet::Error

}  // namespace facet::chat
