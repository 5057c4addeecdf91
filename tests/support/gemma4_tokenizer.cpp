#include "support/gemma4_tokenizer.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "support/paths.h"

namespace facet::test {

std::string gemma4_tokenizer_json_path() { return data_dir() + "/tokenizer/gemma4-tokenizer.json"; }

const Tokenizer& gemma4_tokenizer() {
  static const Tokenizer tokenizer = Tokenizer::from_hf_json(gemma4_tokenizer_json_path());
  return tokenizer;
}

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::vector<std::string> lines;
  // Split on '\n' only: the golden texts may hold other line-break-like characters.
  for (std::string line; std::getline(in, line, '\n');) lines.push_back(line);
  return lines;
}

const std::vector<GoldenEncoding>& gemma4_golden() {
  static const std::vector<GoldenEncoding> golden = [] {
    std::vector<GoldenEncoding> out;
    auto lines = read_lines(data_dir() + "/tokenizer/golden-gemma4.jsonl");
    for (size_t i = 0; i < lines.size(); ++i) {
      if (lines[i].empty()) continue;
      auto j = nlohmann::json::parse(lines[i]);
      out.push_back({static_cast<int>(i + 1), j.at("text").get<std::string>(),
                     j.at("ids").get<std::vector<int32_t>>()});
    }
    return out;
  }();
  return golden;
}

}  // namespace facet::test
