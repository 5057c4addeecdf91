// libFuzzer target: an OpenAI-style chat request (JSON text) through the request reader and
// the Gemma 4 renderer, with both rule sets. Bad requests must be facet::Error.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "chat/render.h"
#include "chat/render_request.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    auto request = facet::chat::render_request_from_json_text(
        std::string_view(reinterpret_cast<const char*>(data), size));
    facet::chat::render_chat(request, facet::chat::ChatRules::Large);
    facet::chat::render_chat(request, facet::chat::ChatRules::Small);
  } catch (const facet::Error&) {
  }
  return 0;
}
