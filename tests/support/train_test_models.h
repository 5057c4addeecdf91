// Generated tiny models for the training tests: the configs in models/configs with
// feature toggles, written as GGUF into a temporary folder and loaded.
#pragma once

#include <fstream>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "model/model.h"
#include "model/random_model.h"
#include "support/paths.h"
#include "support/temp_dir.h"

namespace facet::train::test_models {

using nlohmann::json;

struct Variant {
  std::string name;
  std::string base;                 // models/configs/<base>.json
  std::function<void(json&)> edit;  // feature toggles
  DType dtype = DType::F32;
};

struct BuiltModel {
  test::TempDir dir;
  std::unique_ptr<Model> model;
};

inline std::unique_ptr<BuiltModel> build(const Variant& v) {
  std::ifstream in(test::source_dir() + "/models/configs/" + v.base + ".json");
  json j = json::parse(in);
  if (v.edit) v.edit(j);
  ModelConfig config = ModelConfig::from_hf_json(j, v.name);
  auto built = std::make_unique<BuiltModel>();
  GeneratorOptions options;
  options.dtype = v.dtype;
  options.seed = 23;
  options.threads = 2;
  const std::string path = built->dir.file("model.gguf");
  write_random_gguf(config, options, path);
  built->model = load_model(path);
  return built;
}

inline std::vector<int32_t> random_tokens(int n, int vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int32_t> t = {2};
  while (static_cast<int>(t.size()) < n) t.push_back(static_cast<int32_t>(rng() % static_cast<uint32_t>(vocab)));
  return t;
}

inline auto set(const char* key, json value) { return [=](json& j) { j[key] = value; }; }

inline std::vector<Variant> feature_variants() {
  return {
      {"tiny_all", "tiny-all", nullptr},
      {"tiny_e", "tiny-e", nullptr},
      {"tiny_moe", "tiny-moe", nullptr},
      {"tiny_all_no_ple", "tiny-all", set("hidden_size_per_layer_input", 0)},
      {"tiny_all_no_kv_sharing", "tiny-all", set("num_kv_shared_layers", 0)},
      {"tiny_all_no_k_eq_v", "tiny-all", set("attention_k_eq_v", false)},
      {"tiny_all_no_moe", "tiny-all", set("enable_moe_block", false)},
      {"tiny_all_single_width_mlp", "tiny-all", set("use_double_wide_mlp", false)},
  };
}

}  // namespace facet::train::test_models
