// Random models for the benchmarks, generated from models/configs/<config>.json on first use
// under /tmp (kept between runs) and loaded once per process.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include "model/model.h"
#include "model/random_model.h"

inline const facet::Model& bench_model(const std::string& config) {
  static std::map<std::string, std::unique_ptr<facet::Model>> models;
  auto& model = models[config];
  if (!model) {
    const std::string path = "/tmp/facet-bench-" + config + ".gguf";
    if (!std::filesystem::exists(path)) {
      facet::GeneratorConfig g =
          facet::load_generator_config(std::string(FACET_SOURCE_DIR) + "/models/configs/" + config + ".json");
      facet::write_random_gguf(g.model, g.options, path);
    }
    model = facet::load_model(path);
  }
  return *model;
}
