// Generation settings read from a request: Ollama's `options` object or OpenAI's top-level
// fields, into one shape. Unknown keys are ignored (clients send legacy ones such as
// mirostat or numa); known keys with a wrong type are a 400 naming the key.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "sampling/logprobs.h"
#include "sampling/sampler.h"
#include "server/http_util.h"

namespace facet::server {

struct GenerationParams {
  SamplingOptions sampling;             // Gemma 4's recommended defaults unless given
  std::optional<int64_t> max_tokens;    // nullopt: until a stop token or the context is full
  std::optional<int64_t> num_ctx;       // a smaller context for this request
  std::vector<std::string> stop;        // stop strings (not included in the output)
  std::optional<Json> schema;           // constrained answer: a JSON Schema ({"type":"object"} for "json")
  // >= 0: return each token's log-probability and this many alternatives (logprobs /
  // top_logprobs).
  int top_logprobs = -1;
};

// Gemma 4 model card: temperature 1.0, top_p 0.95, top_k 64; a random seed.
GenerationParams default_params();

// Ollama: body.options {temperature, top_k, top_p, min_p, seed, repeat_penalty,
// repeat_last_n, presence_penalty, frequency_penalty, num_predict, num_ctx, stop},
// body.format ("json" or a schema) and body.logprobs / top_logprobs.
GenerationParams ollama_params(const Json& body);

// OpenAI chat/completions: temperature, top_p, top_k, min_p, seed, presence_penalty,
// frequency_penalty (and llama.cpp's repeat_penalty / repeat_last_n), logit_bias,
// max_tokens / max_completion_tokens (or `max_tokens_key` for the Responses API), stop,
// response_format {type: json_object | json_schema}, and logprobs: chat's boolean with
// top_logprobs (0-20), or /v1/completions' integer (0-5).
GenerationParams openai_params(const Json& body, const char* max_tokens_key = nullptr);

// The schema a response_format-style object asks for (nullopt for text); 400 when malformed.
// Accepts {"type":"json_object"}, {"type":"json_schema","json_schema":{"schema":...}} and the
// Responses API's flat {"type":"json_schema","schema":...}.
std::optional<Json> schema_from_response_format(const Json& format);

// keep_alive: a number of seconds or a Go duration ("5m", "1h30m", "300ms", "-1m");
// negative = forever. 400 on anything else.
double parse_keep_alive(const Json& value);

}  // namespace facet::server
