#include "server/json_logit_filter.h"

#include <algorithm>
#include <limits>

namespace facet::server {

JsonLogitFilter::JsonLogitFilter(Json schema, const std::vector<std::string>& token_texts, const Tokenizer& tokenizer,
                                 std::vector<int32_t> stop_ids, bool thinking)
    : schema_(std::make_unique<Json>(std::move(schema))), texts_(token_texts), tokenizer_(tokenizer),
      stop_ids_(std::move(stop_ids)), thinking_(thinking), validator_(schema_.get(), schema_.get()) {
  channel_open_ = tokenizer.find_piece("<|channel>").value_or(-1);
  channel_close_ = tokenizer.find_piece("<channel|>").value_or(-1);
}

void JsonLogitFilter::advance(const std::vector<int32_t>& generated) {
  for (; seen_ < generated.size(); ++seen_) {
    const int32_t id = generated[seen_];
    if (mode_ == Mode::Start && id == channel_open_) {
      mode_ = Mode::Thought;
    } else if (mode_ == Mode::Thought) {
      if (id == channel_close_) mode_ = Mode::Answer;
    } else {
      mode_ = Mode::Answer;
      if (id >= 0 && static_cast<size_t>(id) < texts_.size() && !tokenizer_.is_special(id))
        validator_.feed(texts_[static_cast<size_t>(id)]);
    }
  }
}

bool JsonLogitFilter::allowed(int32_t id, const bool first_byte_ok[256], bool complete) const {
  if (static_cast<size_t>(id) >= texts_.size()) return false;
  if (tokenizer_.is_special(id)) {
    if (complete && std::find(stop_ids_.begin(), stop_ids_.end(), id) != stop_ids_.end()) return true;
    return mode_ == Mode::Start && thinking_ && id == channel_open_;
  }
  const std::string& text = texts_[static_cast<size_t>(id)];
  if (text.empty() || !first_byte_ok[static_cast<unsigned char>(text[0])]) return false;
  if (text.size() == 1) return true;
  if (validator_.in_free_string() &&
      std::none_of(text.begin(), text.end(),
                   [](char c) { return c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20; }))
    return true;
  JsonPrefixValidator trial = validator_;
  return trial.feed(text);
}

void JsonLogitFilter::apply(std::span<float> logits, const std::vector<int32_t>& generated) {
  advance(generated);
  if (mode_ == Mode::Thought) return;  // thinking is free text
  bool first_byte_ok[256];
  for (int b = 0; b < 256; ++b) {
    JsonPrefixValidator trial = validator_;
    first_byte_ok[b] = trial.feed(static_cast<char>(b));
  }
  const bool complete = validator_.complete();
  constexpr float kMasked = -std::numeric_limits<float>::infinity();
  bool any = false;
  for (size_t id = 0; id < logits.size(); ++id) {
    if (logits[id] == kMasked) continue;
    if (allowed(static_cast<int32_t>(id), first_byte_ok, complete)) any = true;
    else logits[id] = kMasked;
  }
  // A dead end (nothing fits, e.g. the vocabulary cannot spell a required key): let the
  // turn end rather than sample from nothing.
  if (!any)
    for (int32_t stop : stop_ids_)
      if (stop >= 0 && static_cast<size_t>(stop) < logits.size()) logits[static_cast<size_t>(stop)] = 0;
}

}  // namespace facet::server
