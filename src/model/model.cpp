#include "model/model.h"

#include <cmath>
#include <filesystem>

#include "model/gguf_source.h"
#include "tensor/convert.h"
#include "util/error.h"

namespace facet {

std::unique_ptr<Model> make_model(std::string path, ModelConfig config, std::unique_ptr<WeightSource> source) {
  auto model = std::make_unique<Model>();
  model->path = std::move(path);
  model->config = std::move(config);
  model->source = std::move(source);
  model->weights = bind_weights(model->config, *model->source, model->path);
  const float scale = std::sqrt(static_cast<float>(model->config.hidden_size));
  model->embedding_scale =
      model->weights.token_embd.dtype == DType::BF16 ? bf16_to_f32(f32_to_bf16(scale)) : scale;
  return model;
}

std::unique_ptr<Model> load_hf_model(const std::string& dir);  // hf_source.cpp

std::unique_ptr<Model> load_model(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_directory(path, ec)) return load_hf_model(path);
  require(fs::exists(path, ec), path, ": no such file or folder");
  auto file = GgufFile::open(path);
  ModelConfig config = ModelConfig::from_gguf(*file);
  return make_model(path, std::move(config), std::make_unique<GgufWeightSource>(std::move(file)));
}

}  // namespace facet
