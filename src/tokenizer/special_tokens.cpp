#include "tokenizer/special_tokens.h"

#include <algorithm>

namespace facet {

void SpecialTokenMatcher::add(std::string_view text, int32_t id) {
  if (text.empty()) return;
  for (const Entry& entry : tokens_)
    if (entry.text == text) return;
  auto index = static_cast<uint32_t>(tokens_.size());
  tokens_.push_back({std::string(text), id});
  auto& bucket = by_first_byte_[static_cast<uint8_t>(text[0])];
  bucket.push_back(index);
  // Stable so that equal lengths keep registration order; longest first so the first
  // hit at a position is the longest.
  std::stable_sort(bucket.begin(), bucket.end(), [this](uint32_t a, uint32_t b) {
    return tokens_[a].text.size() > tokens_[b].text.size();
  });
}

std::optional<SpecialTokenMatcher::Match> SpecialTokenMatcher::find(std::string_view text,
                                                                    size_t from) const {
  if (tokens_.empty()) return std::nullopt;
  for (size_t pos = from; pos < text.size(); ++pos) {
    const auto& bucket = by_first_byte_[static_cast<uint8_t>(text[pos])];
    for (uint32_t index : bucket) {
      const std::string& candidate = tokens_[index].text;
      if (text.substr(pos, candidate.size()) == candidate)
        return Match{pos, candidate.size(), tokens_[index].id};
    }
  }
  return std::nullopt;
}

}  // namespace facet
