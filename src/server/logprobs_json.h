// The APIs' shapes for per-token log-probabilities (GenerationParams::top_logprobs):
//   OpenAI chat and Ollama: [{token, logprob, bytes, top_logprobs: [{token, logprob, bytes}]}]
//     (chat wraps the list as {"content": [...]});
//   OpenAI /v1/completions (legacy): {tokens, token_logprobs, top_logprobs: [{token: logprob}],
//     text_offset}.
// `token` is the token's text as valid UTF-8 (a byte token's lone byte shows as U+FFFD);
// `bytes` are its exact bytes.
#pragma once

#include <string>
#include <vector>

#include "sampling/logprobs.h"
#include "server/http_util.h"

namespace facet::server {

Json logprob_entries(const std::vector<TokenLogprob>& logprobs, const std::vector<std::string>& token_texts);

// `text_offset` counts bytes of the completion from `offset` (what was streamed before
// these tokens), which is advanced past them.
Json legacy_logprobs(const std::vector<TokenLogprob>& logprobs, const std::vector<std::string>& token_texts,
                     size_t& offset);

}  // namespace facet::server
