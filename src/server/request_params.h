// Generation settings read from a request: Ollama's `options` object or OpenAI's top-level
// fields, into one shape. Unknown keys are ignored (clients send legacy ones such as
// mirostat or numa); known keys with a wrong type are a 400 naming the key.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "sampling/sampler.h"
#include "server/http_util.h"

namespace facet::server {

struct GenerationParams {
  SamplingOptions sampling;             // Gemma 4's recommended defaults unless given
  std::optional<int64_t> max_tokens;    // nullopt: until a stop token or the context is full
  std::optional<int64_t> num_ctx;       // a smaller context for this request
  std::vector<std::string> stop;        // stop strings (not included in the output)
  std::optional<Json> schema;           // constrained answer: a JSON Schema ({"type":"object"} for "json")
};

// Gemma 4 model card: temperature 1.0, top_p 0.95, top_k 64; a random seed.
GenerationParams default_params();

// Ollama: body.options {temperature, top_k, top_p, min_p, seed, num_predict, num_ctx,
// stop} and body.format ("json" or a schema).
GenerationParams ollama_params(const Json& body);

// OpenAI chat/completions: temperature, top_p, top_k, min_p, seed, max_tokens /
// max_completion_tokens (or `max_tokens_key` for the Responses API), stop, and
// response_format {type: json_object | json_schema}.
GenerationParams openai_params(const Json& body, const char* max_tokens_key = nullptr);

// The schema a response_format-style object asks for (nullopt for text); 400 when malformed.
// Accepts {"type":"json_object"}, {"type":"json_schema","json_schema":{"schema":...}} and the
// Responses API's flat {"type":"json_schema","schema":...}.
std::optional<Json> schema_from_response_format(const Json& format);

// keep_alive: a number of seconds or a Go duration ("5m", "1h30m", "300ms", "-1m");
// negative = forever. 400 on anything else.
double parse_keep_alive(const Json& value);

}  // namespace facet::server
