#include "engine/media_prompt.h"

#include <filesystem>

#include "media/image.h"
#include "media/image_preprocess.h"
#include "util/error.h"

namespace facet {

uint64_t media_hash(std::span<const uint8_t> bytes, uint64_t salt) {
  uint64_t h = 14695981039346656037ull ^ salt;
  for (uint8_t b : bytes) {
    h ^= b;
    h *= 1099511628211ull;
  }
  return h;
}

EncodedMedia encode_image_bytes(const VisionTower& tower, std::span<const uint8_t> bytes, const std::string& what,
                                int max_soft_tokens, ThreadPool& pool) {
  const VisionPreprocessConfig pre = tower.config.preprocess(max_soft_tokens);
  const RgbImage image = decode_image(bytes, what);
  const ImagePatches patches = image_to_patches(image, pre);
  EncodedMedia out;
  out.soft_tokens = encode_image(tower, patches, pool);
  out.hash = media_hash(bytes, static_cast<uint64_t>(pre.max_soft_tokens));
  return out;
}

MediaPrompt expand_image_placeholders(const std::vector<int32_t>& tokens, const Tokenizer& tokenizer,
                                      const std::vector<EncodedMedia>& images, int64_t hidden) {
  const std::optional<int32_t> begin = tokenizer.find_piece("<|image>"), soft = tokenizer.find_piece("<|image|>"),
                               end = tokenizer.find_piece("<image|>");
  MediaPrompt out;
  size_t next = 0;
  for (int32_t id : tokens) {
    if (!soft || id != *soft) {
      out.tokens.push_back(id);
      continue;
    }
    require(next < images.size(), "the prompt has more image places (", next + 1, "+) than images (", images.size(), ")");
    require(begin && end, "the model's tokenizer has no <|image> / <image|> tokens: it cannot take images");
    const EncodedMedia& image = images[next++];
    const int64_t count = static_cast<int64_t>(image.soft_tokens.size()) / hidden;
    require(count > 0 && count * hidden == static_cast<int64_t>(image.soft_tokens.size()), "image ", next,
            ": its soft tokens are not rows of the model's width ", hidden, " (the projector belongs to another model)");
    out.tokens.push_back(*begin);
    PromptMedia m;
    m.first = static_cast<int64_t>(out.tokens.size());
    m.rows = image.soft_tokens;
    m.hash = image.hash;
    out.media.push_back(std::move(m));
    out.tokens.insert(out.tokens.end(), static_cast<size_t>(count), *soft);
    out.tokens.push_back(*end);
  }
  require(next == images.size(), images.size(), " image(s) given but the prompt has ", next,
          " image place(s)", soft ? "" : " (the model's tokenizer has no <|image|> token)");
  return out;
}

std::string default_mmproj_path(const std::string& model_path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path main(model_path);
  if (fs::is_directory(main, ec)) return has_vision_tower(model_path) ? model_path : "";
  if (main.extension() != ".gguf") return "";
  const std::string stem = main.stem().string();
  for (const fs::path& p : {main.parent_path() / ("mmproj-" + stem + ".gguf"), main.parent_path() / (stem + "-mmproj.gguf"),
                            main.parent_path() / "mmproj.gguf"})
    if (fs::exists(p, ec) && has_vision_tower(p.string())) return p.string();
  return "";
}

}  // namespace facet
