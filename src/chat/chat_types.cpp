#include "chat/chat_types.h"

#include "chat/jinja_values.h"
#include "util/error.h"

namespace facet::chat {

std::string_view role_name(Role role) {
  switch (role) {
    case Role::System: return "system";
    case Role::Developer: return "developer";
    case Role::User: return "user";
    case Role::Assistant: return "assistant";
    case Role::Tool: return "tool";
  }
  return "unknown";
}

ChatRules parse_chat_rules(std::string_view name) {
  if (name == "small") return ChatRules::Small;
  if (name == "large") return ChatRules::Large;
  fail("unknown chat rules \"", name, "\" (expected small or large)");
}

Content Content::of_text(std::string text) {
  Content content;
  content.form = Form::Text;
  content.text = std::move(text);
  return content;
}

Content Content::of_parts(std::vector<ContentPart> parts) {
  Content content;
  content.form = Form::Parts;
  content.parts = std::move(parts);
  return content;
}

Content Content::of_json(Json value) {
  Content content;
  content.form = value.is_null() ? Form::Absent : Form::Structured;
  content.structured = std::move(value);
  return content;
}

bool Content::truthy() const {
  switch (form) {
    case Form::Absent: return false;
    case Form::Text: return !text.empty();
    case Form::Parts: return !parts.empty();
    case Form::Structured: return jinja::truthy(structured);
  }
  return false;
}

}  // namespace facet::chat
