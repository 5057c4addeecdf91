// Media that chat requests carry inline, read into the bytes of their content parts:
//   - OpenAI chat: {"type":"image_url","image_url":{"url":"data:image/png;base64,..."}} (or
//     the URL as a plain string), {"type":"input_audio","input_audio":{"data":B64,"format":"wav"}};
//   - Responses API: {"type":"input_image","image_url":"data:..."};
//   - Hugging Face style: {"type":"image","image"|"url":...};
//   - Ollama: "images": [B64, ...] on a message (or /api/generate), bare base64 or a data:
//     URL (Open WebUI strips the prefix, other clients keep it).
// facet fetches nothing: a remote URL (http, https, file, ...) is refused, so a request
// can never make the server reach the network or read its disk. Errors are facet::Error
// naming the field.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "chat/chat_types.h"

namespace facet::chat {

struct InlineMedia {
  std::string mime;   // from a data: URL; empty for bare base64
  std::string bytes;  // decoded
};

// A data: URL with base64 data, or bare base64. `where` names the field, `kind` the media
// ("image", "audio", "video") in messages.
InlineMedia read_media_reference(std::string_view value, const std::string& where, std::string_view kind);

// Fills `part.data` and `part.mime` from an image / audio / video content part (its kind
// already set). Throws when the part carries no inline data.
void read_part_media(const Json& part, ContentPart& out, const std::string& where);

// Ollama's "images" list: one image part per entry, in order.
std::vector<ContentPart> image_parts_from_list(const Json& images, const std::string& where);

}  // namespace facet::chat
