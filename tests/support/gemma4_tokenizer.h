// The real Gemma 4 tokenizer and its golden file, loaded once per test process
// (parsing the 13.6 MB tokenizer.json takes most of a second).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace facet::test {

std::string gemma4_tokenizer_json_path();
const Tokenizer& gemma4_tokenizer();

struct GoldenEncoding {
  int line;
  std::string text;
  std::vector<int32_t> ids;
};
const std::vector<GoldenEncoding>& gemma4_golden();

// Reads a JSON-lines file in full (throws on unreadable files / bad JSON).
std::vector<std::string> read_lines(const std::string& path);

}  // namespace facet::test
