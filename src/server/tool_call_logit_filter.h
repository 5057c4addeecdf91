// Constrained decoding for tool_choice "required" / a named function: masks every token
// that would take the answer out of one well-formed Gemma 4 tool call whose arguments fit
// the function's schema (ToolCallPrefixValidator). Like JsonLogitFilter, only the answer is
// constrained: with thinking on, the model may open its thought channel first and think
// freely. The stop tokens are allowed only after <tool_call|>, so the turn ends right
// after the one call.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "server/tool_call_validator.h"
#include "tokenizer/tokenizer.h"

namespace facet::server {

class ToolCallLogitFilter {
 public:
  // `token_texts` (every id's text) and `tokenizer` must outlive the filter.
  ToolCallLogitFilter(std::vector<ToolFunction> functions, const std::vector<std::string>& token_texts,
                      const Tokenizer& tokenizer, std::vector<int32_t> stop_ids, bool thinking);

  // Scheduler::logit_filter: called once per step with the tokens sampled so far.
  void apply(std::span<float> logits, const std::vector<int32_t>& generated);

 private:
  enum class Mode { Start, Thought, Answer };
  void advance(const std::vector<int32_t>& generated);
  bool allowed(int32_t id, const bool first_byte_ok[256]) const;
  // The call-syntax special token `id` stands for, if any.
  bool special_kind(int32_t id, ToolCallPrefixValidator::Special& kind) const;

  std::unique_ptr<std::vector<ToolFunction>> functions_;  // stable address: the validator points into it
  const std::vector<std::string>& texts_;
  const Tokenizer& tokenizer_;
  std::vector<int32_t> stop_ids_;
  bool thinking_;
  int32_t channel_open_ = -1, channel_close_ = -1;
  int32_t call_open_ = -1, call_close_ = -1, quote_ = -1;
  Mode mode_ = Mode::Start;
  size_t seen_ = 0;  // generated tokens already taken into the state
  ToolCallPrefixValidator validator_;
};

}  // namespace facet::server
