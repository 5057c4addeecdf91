// libFuzzer target: an OpenAI- or Ollama-style chat request (JSON text) through the request
// reader and the Gemma 4 renderer, with both rule sets, and through the servers' readers of
// generation parameters (sampling, penalties, logit_bias, logprobs, formats). Bad requests
// must be facet::Error (renderer) or an HTTP 4xx error (parameter readers).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "chat/render.h"
#include "chat/render_request.h"
#include "server/request_params.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    auto request = facet::chat::render_request_from_json_text(text);
    facet::chat::render_chat(request, facet::chat::ChatRules::Large);
    facet::chat::render_chat(request, facet::chat::ChatRules::Small);
  } catch (const facet::Error&) {
  }
  const facet::server::Json body = facet::server::Json::parse(text, nullptr, false);
  if (!body.is_object()) return 0;
  auto read = [&](auto reader) {
    try {
      reader();
    } catch (const facet::server::HttpError& e) {
      if (e.status < 400 || e.status >= 500) __builtin_trap();  // bad input is the client's error
    }
  };
  read([&] { facet::server::openai_params(body); });
  read([&] { facet::server::openai_params(body, "max_output_tokens"); });
  read([&] { facet::server::ollama_params(body); });
  return 0;
}
