#include "tokenizer/streaming_detokenizer.h"

#include "tokenizer/utf8.h"

namespace facet {

StreamingDetokenizer::StreamingDetokenizer(Tokenizer tokenizer, DecodeOptions options)
    : tokenizer_(std::move(tokenizer)), options_(options) {}

std::string StreamingDetokenizer::feed(int32_t id) {
  std::string text;
  int byte = tokenizer_.byte_value(id);  // validates the id
  if (byte >= 0) {
    pending_bytes_.push_back(static_cast<char>(byte));
    size_t consumed = utf8::append_lossy(text, pending_bytes_, /*final=*/false);
    pending_bytes_.erase(0, consumed);
    return text;
  }
  if (!tokenizer_.is_visible(id, options_)) return text;
  text = flush();
  text += tokenizer_.display_text(id);
  return text;
}

std::string StreamingDetokenizer::flush() {
  std::string text;
  utf8::append_lossy(text, pending_bytes_, /*final=*/true);
  pending_bytes_.clear();
  return text;
}

}  // namespace facet
