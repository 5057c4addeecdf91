// Builds a RenderRequest from an OpenAI chat-completions style JSON body, so the CLI and
// the server read requests the same way. Bad input throws facet::Error naming the field.
//
// Accepted (beyond the fields the template reads), normalized for the template:
//   - thinking: chat_template_kwargs.enable_thinking, enable_thinking, reasoning_effort
//     ("none" = off, minimal/low/medium/high/max/xhigh = on), reasoning.effort, or Ollama's
//     think (bool or level), first found in that order; default off;
//   - content parts: text, image / image_url / input_image, audio / input_audio,
//     video / video_url (OpenAI's part names become the template's placeholders);
//     other part types are ignored, as the template ignores them; with keep_media, the
//     parts' inline bytes are read too, and Ollama's "images" (see request_media.h);
//   - assistant tool_calls whose arguments are a JSON string holding an object are
//     decoded (OpenAI sends strings; the template expects a mapping);
//   - assistant reasoning: reasoning, else reasoning_content, else thinking;
//   - tool results: tool_call_id, name, or Ollama's tool_name;
//   - tools as {"type":"function","function":{...}} or the bare function object.
#pragma once

#include <string_view>

#include "chat/chat_types.h"

namespace facet::chat {

struct RequestParseOptions {
  // Read the bytes of inline media into their parts (request_media.h): data: URLs in
  // content parts and Ollama's per-message "images" (placed before the message's text).
  // Remote URLs and bad base64 are then errors. Off, media parts are bare placeholders,
  // which is all the template needs (facet template, /apply-template, datasets).
  bool keep_media = false;
};

RenderRequest render_request_from_json(const Json& body, const RequestParseOptions& options = {});

// Parses `text` first; malformed JSON is a facet::Error with the parser's position.
RenderRequest render_request_from_json_text(std::string_view text);

// The thinking switch of a request body (see above); `fallback` when none is given.
bool thinking_requested(const Json& body, bool fallback = false);

}  // namespace facet::chat
