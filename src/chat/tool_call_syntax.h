// Gemma 4's tool-call syntax, read back into JSON:
//   call:NAME{key:<|"|>text<|"|>,n:42,flag:true,list:[1,2],obj:{k:v}}
// Keys are bare; strings are wrapped in the <|"|> token; numbers, true/false and null are
// written as in JSON (None/True/False as the chat template prints them for history).
// The reader is tolerant of what models really emit: "double" and 'single' quoted
// strings, unquoted text values, trailing commas, a stray closing brace, and (with
// `repair`) delimiters left open at the end.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "chat/chat_types.h"

namespace facet::chat {

struct ParsedToolCall {
  std::string name;
  Json arguments = Json::object();  // always a JSON object

  bool operator==(const ParsedToolCall&) const = default;
};

// Parses one call's text, as found between <|tool_call> and <tool_call|> ("call:" prefix
// optional). With `repair`, strings, arrays and objects still open at the end are closed
// (a model that stopped without closing them); without it such text does not parse.
// Returns nullopt for anything that is not a call; never throws.
std::optional<ParsedToolCall> parse_tool_call(std::string_view text, bool repair);

// One Gemma-syntax value (object, array, string, number...) as JSON; nullopt if it does
// not parse (or leaves anything but whitespace after it).
std::optional<Json> parse_gemma_value(std::string_view text, bool repair);

}  // namespace facet::chat
