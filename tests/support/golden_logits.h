// The shared golden files (../shared/data/models/NAME.golden.json): token ids and the
// float64 reference logits an independent implementation computed for them.
#pragma once

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/paths.h"

namespace facet::test {

struct Golden {
  std::vector<int32_t> tokens;
  std::vector<std::vector<double>> logits;  // every position (empty for the real-vocab model)
  std::vector<double> last_logits;
};

inline Golden load_golden(const std::string& name) {
  std::ifstream in(data_dir() + "/models/" + name + ".golden.json");
  auto j = nlohmann::json::parse(in);
  Golden g;
  g.tokens = j["tokens"].get<std::vector<int32_t>>();
  if (j.contains("logits")) g.logits = j["logits"].get<std::vector<std::vector<double>>>();
  if (j.contains("logits_last_position")) g.last_logits = j["logits_last_position"].get<std::vector<double>>();
  return g;
}

}  // namespace facet::test
