// tool_choice, read from a chat request: "auto" (the default: the model decides), "none"
// (the tools are not rendered, so no call can come back), "required" (the answer must be
// one tool call to one of the offered functions) or a named function, as OpenAI's
// {"type":"function","function":{"name":"f"}} or the Responses API's
// {"type":"function","name":"f"}; any other string is an error, as in OpenAI. Ollama's /api/chat has no such field; facet accepts
// the same `tool_choice` there as an extension.
#pragma once

#include <optional>
#include <vector>

#include "server/http_util.h"
#include "server/tool_call_validator.h"

namespace facet::server {

// Applies body["tool_choice"]: for "none" erases body["tools"]; for "required" or a named
// function returns the functions the answer must call (constrained decoding); nullopt
// otherwise. 400 for an unknown value, a name that is not among the tools, or
// "required"/a name without tools.
std::optional<std::vector<ToolFunction>> apply_tool_choice(Json& body);

}  // namespace facet::server
