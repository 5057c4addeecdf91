// Internal: a streaming reader for tokenizer.json. The DOM of nlohmann::json spends most
// of a second on the 262k-entry vocab object and 515k merge arrays; this reader takes
// those two straight from the parser and builds an ordinary DOM for everything else.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace facet {

struct HfTokenizerJson {
  nlohmann::json rest;  // the document, with model.vocab and model.merges left empty
  std::vector<std::pair<std::string, int64_t>> vocab;  // model.vocab entries in file order
  std::vector<std::string> merges;                     // model.merges as "left right"
  bool has_vocab = false;
  bool has_merges = false;
};

// Parses `text` (the content of `path`, which is named in errors).
HfTokenizerJson parse_hf_tokenizer_json(const std::string& text, const std::string& path);

}  // namespace facet
