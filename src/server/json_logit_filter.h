// Constrained decoding for `format` / `response_format`: masks every token whose text
// would take the answer out of the JSON (schema) grammar, as a Scheduler logit filter.
// Only the answer is constrained: when thinking is on, the model may open its thought
// channel first and think freely; the constraint starts after the channel closes (or at
// the first answer token when it never opens). End-of-turn tokens are allowed only once
// the JSON value is complete, and no other special token is, so no Markdown fence or
// prose can surround the JSON.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "server/http_util.h"
#include "server/json_prefix_validator.h"
#include "tokenizer/tokenizer.h"

namespace facet::server {

class JsonLogitFilter {
 public:
  // `token_texts` (every id's text) and `tokenizer` must outlive the filter.
  JsonLogitFilter(Json schema, const std::vector<std::string>& token_texts, const Tokenizer& tokenizer,
                  std::vector<int32_t> stop_ids, bool thinking);

  // Scheduler::logit_filter: called once per step with the tokens sampled so far.
  void apply(std::span<float> logits, const std::vector<int32_t>& generated);

 private:
  enum class Mode { Start, Thought, Answer };
  void advance(const std::vector<int32_t>& generated);
  bool allowed(int32_t id, const bool first_byte_ok[256], bool complete) const;

  std::unique_ptr<Json> schema_;  // stable address: the validator points into it
  const std::vector<std::string>& texts_;
  const Tokenizer& tokenizer_;
  std::vector<int32_t> stop_ids_;
  bool thinking_;
  int32_t channel_open_ = -1, channel_close_ = -1;
  Mode mode_ = Mode::Start;
  size_t seen_ = 0;  // generated tokens already taken into the state
  JsonPrefixValidator validator_;
};

}  // namespace facet::server
