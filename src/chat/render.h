// Renders a conversation into the Gemma 4 prompt text, byte for byte as the official
// chat template (gemma-4-31B-it.chat_template.jinja, rendered the way Hugging Face's
// apply_chat_template does) would, without a Jinja engine.
//
// Where the template would produce something no client wants, the request builder
// (render_request.h) normalizes the input first; the renderer itself follows the template,
// with these deliberate differences, each where the template would print a Python repr
// or silently lose data:
//   - a first system message given as a list of text parts is rendered like user parts
//     (each part trimmed, joined), not as the list's Python repr;
//   - a tool result given as a JSON object renders in the template's mapping form
//     (response:NAME{key:value}) where the template itself fails on it;
//   - a tool result that no assistant tool call takes in, or whose function name cannot be
//     resolved, is an error instead of being dropped or failing inside the template.
// Faithful quirks kept on purpose: a developer message after the first one keeps the role
// name "developer"; null prints as None; a property named like a schema keyword ("type",
// "description") is left out of tool declarations.
#pragma once

#include <string>

#include "chat/chat_types.h"

namespace facet::chat {

// The prompt text, starting with "<bos>". Throws facet::Error on a conversation the
// template cannot render (no messages, an orphan tool result).
std::string render_chat(const RenderRequest& request, ChatRules rules = ChatRules::Large);

}  // namespace facet::chat
