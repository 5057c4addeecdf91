// models/configs/tiny-unified.json (a tiny 12B-like model with the encoder-free embedders) for
// tests that run `facet make-test-model` on it: a copy in `dir` whose tokenizer path points at
// the shared data, since the config's own relative path holds only in a checkout that sits
// beside ../shared (a fresh clone elsewhere does not).
#pragma once

#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "support/paths.h"
#include "support/temp_dir.h"

namespace facet::test {

inline std::string tiny_unified_config(const TempDir& dir) {
  std::ifstream in(source_dir() + "/models/configs/tiny-unified.json");
  nlohmann::json j = nlohmann::json::parse(in);
  j["vocab"]["hf_tokenizer_json"] = data_dir() + "/tokenizer/gemma4-tokenizer.json";
  const std::string path = dir.file("tiny-unified.json");
  std::ofstream(path) << j.dump(2);
  return path;
}

}  // namespace facet::test
