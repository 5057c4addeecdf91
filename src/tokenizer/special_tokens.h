// Finds special-token text (e.g. "<|turn>") inside input text so it can be cut out
// before BPE, as Hugging Face does by default: leftmost occurrence first, and the
// longest token among those starting there.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace facet {

class SpecialTokenMatcher {
 public:
  struct Match {
    size_t position;
    size_t length;
    int32_t id;
  };

  // Registers a token; empty texts are ignored. Later registrations of the same text lose.
  void add(std::string_view text, int32_t id);

  // The leftmost-longest special token in text[from..], if any.
  std::optional<Match> find(std::string_view text, size_t from) const;

  size_t size() const { return tokens_.size(); }

 private:
  struct Entry {
    std::string text;
    int32_t id;
  };
  std::vector<Entry> tokens_;
  // Indices into tokens_ per first byte, longest text first.
  std::array<std::vector<uint32_t>, 256> by_first_byte_;
};

}  // namespace facet
