// Turns generated token ids into text one id at a time. Only complete UTF-8 is
// returned: a character spelled as several byte-fallback tokens is held back until its
// last byte arrives. Concatenating every feed() and the final flush() gives exactly
// Tokenizer::decode of the same ids.
#pragma once

#include <cstdint>
#include <string>

#include "tokenizer/tokenizer.h"

namespace facet {

class StreamingDetokenizer {
 public:
  explicit StreamingDetokenizer(Tokenizer tokenizer, DecodeOptions options = {});

  // Text that became complete with this id (possibly empty). Throws Error on an id
  // outside the vocabulary, leaving the state unchanged.
  std::string feed(int32_t id);
  // Ends the stream: held bytes that never completed a character become U+FFFD.
  std::string flush();
  // Whether bytes of an unfinished character are being held.
  bool has_pending() const { return !pending_bytes_.empty(); }

 private:
  Tokenizer tokenizer_;
  DecodeOptions options_;
  std::string pending_bytes_;
};

}  // namespace facet
