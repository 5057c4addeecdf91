// Base64 decoding (RFC 4648) for media that clients send inline: data: URLs and Ollama's
// "images" lists. Lenient where clients differ (the URL-safe alphabet, missing padding,
// line breaks of MIME-wrapped text), strict about anything else, so that a mistyped
// field is reported rather than decoded into garbage.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace facet {

// The decoded bytes, or nullopt when `text` is not base64: a character outside both
// alphabets, padding before the end or more than two '=' signs, or a length that leaves a
// single dangling character (6 bits cannot make a byte). Spaces, tabs, CR and LF are skipped.
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace facet
