#include "cli/media_inputs.h"

#include <chrono>
#include <cstdio>

#include "util/error.h"
#include "util/mapped_file.h"

namespace facet::cli {

MediaInputs::MediaInputs(std::string model_path, std::string mmproj, int64_t model_width, int threads, int image_tokens,
                         bool verbose)
    : model_path_(std::move(model_path)), mmproj_(std::move(mmproj)), model_width_(model_width),
      image_tokens_(image_tokens), verbose_(verbose), pool_(threads) {}

MediaInputs::~MediaInputs() = default;

const std::string& MediaInputs::projector() {
  if (mmproj_.empty()) mmproj_ = default_mmproj_path(model_path_);
  require(!mmproj_.empty(), "images and audio need a projector: give --mmproj FILE (llama.cpp's mmproj GGUF) or ",
          "put mmproj-NAME.gguf beside the model");
  return mmproj_;
}

void MediaInputs::check_width(int64_t tower_width) {
  require(tower_width == model_width_, mmproj_, ": the projector makes rows of ", tower_width,
          " but the model's width is ", model_width_, " (it belongs to another model)");
}

void MediaInputs::report(const std::string& path, const EncodedMedia& m, double seconds) const {
  if (verbose_)
    std::fprintf(stderr, "%s: %zu soft tokens, encoded in %.2f s\n", path.c_str(),
                 m.soft_tokens.size() / static_cast<size_t>(model_width_), seconds);
}

EncodedMedia MediaInputs::image(const std::string& path) {
  if (!vision_) {
    vision_ = load_vision_tower(projector());
    check_width(vision_->config.text_hidden_size);
  }
  const MappedFile file(path);
  const auto start = std::chrono::steady_clock::now();
  EncodedMedia m = encode_image_bytes(*vision_, {file.data(), file.size()}, path, image_tokens_, pool_);
  report(path, m, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  return m;
}

EncodedMedia MediaInputs::audio(const std::string& path) {
  if (!audio_) {
    audio_ = load_audio_tower(projector());
    check_width(audio_->config.text_hidden_size);
  }
  const MappedFile file(path);
  const auto start = std::chrono::steady_clock::now();
  EncodedMedia m = encode_audio_bytes(*audio_, {file.data(), file.size()}, path, pool_);
  report(path, m, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  return m;
}

}  // namespace facet::cli
