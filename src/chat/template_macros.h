// The macros of the official Gemma 4 chat template, one C++ function each, written to
// produce the same bytes (quirks included: skipped property names, unclosed braces when a
// schema has no type, "None" for null).
#pragma once

#include <string>
#include <string_view>

#include "chat/chat_types.h"

namespace facet::chat::macros {

// Gemma value syntax: strings in <|"|>, true/false, objects with sorted keys, arrays,
// numbers and None as Python prints them. Object keys are quoted when escape_keys is set.
std::string format_argument(const Json& argument, bool escape_keys = true);

// `declaration:NAME{description:...,parameters:{...}}` for one OpenAI function object.
std::string format_function_declaration(const Json& function);

// `<|tool_response>response:NAME{...}<tool_response|>` for a mapping or any other value.
std::string format_tool_response_block(std::string_view tool_name, const Json& response);

// Model text with every <|channel>...<channel|> block removed, then trimmed.
std::string strip_thinking(std::string_view text);

}  // namespace facet::chat::macros
