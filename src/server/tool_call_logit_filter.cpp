#include "server/tool_call_logit_filter.h"

#include <algorithm>
#include <limits>

namespace facet::server {

ToolCallLogitFilter::ToolCallLogitFilter(std::vector<ToolFunction> functions,
                                         const std::vector<std::string>& token_texts, const Tokenizer& tokenizer,
                                         std::vector<int32_t> stop_ids, bool thinking)
    : functions_(std::make_unique<std::vector<ToolFunction>>(std::move(functions))), texts_(token_texts),
      tokenizer_(tokenizer), stop_ids_(std::move(stop_ids)), thinking_(thinking), validator_(functions_.get()) {
  channel_open_ = tokenizer.find_piece("<|channel>").value_or(-1);
  channel_close_ = tokenizer.find_piece("<channel|>").value_or(-1);
  call_open_ = tokenizer.find_piece("<|tool_call>").value_or(-1);
  call_close_ = tokenizer.find_piece("<tool_call|>").value_or(-1);
  quote_ = tokenizer.find_piece("<|\"|>").value_or(-1);
}

bool ToolCallLogitFilter::special_kind(int32_t id, ToolCallPrefixValidator::Special& kind) const {
  using S = ToolCallPrefixValidator::Special;
  if (id < 0) return false;
  if (id == call_open_) kind = S::CallOpen;
  else if (id == call_close_) kind = S::CallClose;
  else if (id == quote_) kind = S::Quote;
  else return false;
  return true;
}

void ToolCallLogitFilter::advance(const std::vector<int32_t>& generated) {
  for (; seen_ < generated.size(); ++seen_) {
    const int32_t id = generated[seen_];
    if (mode_ == Mode::Start && thinking_ && id == channel_open_) {
      mode_ = Mode::Thought;
    } else if (mode_ == Mode::Thought) {
      if (id == channel_close_) mode_ = Mode::Answer;
    } else {
      mode_ = Mode::Answer;
      ToolCallPrefixValidator::Special kind;
      if (special_kind(id, kind)) validator_.feed_special(kind);
      else if (id >= 0 && static_cast<size_t>(id) < texts_.size() && !tokenizer_.is_special(id))
        validator_.feed(texts_[static_cast<size_t>(id)]);
    }
  }
}

bool ToolCallLogitFilter::allowed(int32_t id, const bool first_byte_ok[256]) const {
  if (static_cast<size_t>(id) >= texts_.size()) return false;
  if (tokenizer_.is_special(id)) {
    if (validator_.complete()) return std::find(stop_ids_.begin(), stop_ids_.end(), id) != stop_ids_.end();
    if (mode_ == Mode::Start && thinking_ && id == channel_open_) return true;
    ToolCallPrefixValidator::Special kind;
    if (!special_kind(id, kind)) return false;
    ToolCallPrefixValidator trial = validator_;
    return trial.feed_special(kind);
  }
  const std::string& text = texts_[static_cast<size_t>(id)];
  if (text.empty() || !first_byte_ok[static_cast<unsigned char>(text[0])]) return false;
  if (text.size() == 1) return true;
  if (validator_.in_free_string() && text.find('|') == std::string::npos) return true;
  ToolCallPrefixValidator trial = validator_;
  return trial.feed(text);
}

void ToolCallLogitFilter::apply(std::span<float> logits, const std::vector<int32_t>& generated) {
  advance(generated);
  if (mode_ == Mode::Thought) return;  // thinking is free text
  bool first_byte_ok[256];
  for (int b = 0; b < 256; ++b) {
    ToolCallPrefixValidator trial = validator_;
    const char byte = static_cast<char>(b);
    first_byte_ok[b] = trial.feed(std::string_view(&byte, 1));
  }
  constexpr float kMasked = -std::numeric_limits<float>::infinity();
  bool any = false;
  for (size_t id = 0; id < logits.size(); ++id) {
    if (logits[id] == kMasked) continue;
    if (allowed(static_cast<int32_t>(id), first_byte_ok)) any = true;
    else logits[id] = kMasked;
  }
  // A dead end (nothing fits, e.g. a schema the vocabulary cannot spell): let the turn end
  // rather than sample from nothing.
  if (!any)
    for (int32_t stop : stop_ids_)
      if (stop >= 0 && static_cast<size_t>(stop) < logits.size()) logits[static_cast<size_t>(stop)] = 0;
}

}  // namespace facet::server
