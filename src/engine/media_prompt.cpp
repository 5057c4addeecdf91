#include "engine/media_prompt.h"

#include <filesystem>

#include "media/audio.h"
#include "media/audio_features.h"
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

namespace {

// The three tokens of a media kind, looked up by text (synthetic vocabularies may lack them).
struct MediaTokens {
  const char* name;
  std::optional<int32_t> begin, soft, end;
};

MediaTokens media_tokens(const Tokenizer& t, MediaKind kind) {
  if (kind == MediaKind::Image)
    return {"image", t.find_piece("<|image>"), t.find_piece("<|image|>"), t.find_piece("<image|>")};
  return {"audio", t.find_piece("<|audio>"), t.find_piece("<|audio|>"), t.find_piece("<audio|>")};
}

}  // namespace

MediaPrompt expand_media_placeholders(const std::vector<int32_t>& tokens, const Tokenizer& tokenizer,
                                      const std::vector<EncodedMedia>& media, int64_t hidden) {
  const MediaKind kinds[2] = {MediaKind::Image, MediaKind::Audio};
  MediaTokens marks[2] = {media_tokens(tokenizer, kinds[0]), media_tokens(tokenizer, kinds[1])};
  std::vector<const EncodedMedia*> items[2];
  for (const EncodedMedia& m : media) items[m.kind == MediaKind::Image ? 0 : 1].push_back(&m);
  size_t next[2] = {0, 0};
  MediaPrompt out;
  for (int32_t id : tokens) {
    int k = -1;
    for (int i = 0; i < 2; ++i)
      if (marks[i].soft && id == *marks[i].soft) k = i;
    if (k < 0) {
      out.tokens.push_back(id);
      continue;
    }
    const MediaTokens& mark = marks[k];
    require(next[k] < items[k].size(), "the prompt has more ", mark.name, " places (", next[k] + 1, "+) than ",
            mark.name, " inputs (", items[k].size(), ")");
    require(mark.begin && mark.end, "the model's tokenizer has no begin/end ", mark.name, " tokens: it cannot take ",
            mark.name, " input");
    const EncodedMedia& item = *items[k][next[k]++];
    const int64_t count = static_cast<int64_t>(item.soft_tokens.size()) / hidden;
    require(count > 0 && count * hidden == static_cast<int64_t>(item.soft_tokens.size()), mark.name, " ", next[k],
            ": its soft tokens are not rows of the model's width ", hidden, " (the projector belongs to another model)");
    out.tokens.push_back(*mark.begin);
    PromptMedia m;
    m.first = static_cast<int64_t>(out.tokens.size());
    m.rows = item.soft_tokens;
    m.hash = item.hash;
    m.image = item.kind == MediaKind::Image;
    out.media.push_back(std::move(m));
    out.tokens.insert(out.tokens.end(), static_cast<size_t>(count), *mark.soft);
    out.tokens.push_back(*mark.end);
  }
  for (int k = 0; k < 2; ++k)
    require(next[k] == items[k].size(), items[k].size(), " ", marks[k].name, " input(s) given but the prompt has ",
            next[k], " ", marks[k].name, " place(s)",
            marks[k].soft ? "" : std::string(" (the model's tokenizer has no <|") + marks[k].name + "|> token)");
  return out;
}

MediaPrompt expand_image_placeholders(const std::vector<int32_t>& tokens, const Tokenizer& tokenizer,
                                      const std::vector<EncodedMedia>& images, int64_t hidden) {
  for (const EncodedMedia& m : images) require(m.kind == MediaKind::Image, "expand_image_placeholders: not an image");
  return expand_media_placeholders(tokens, tokenizer, images, hidden);
}

EncodedMedia encode_audio_bytes(const AudioTower& tower, std::span<const uint8_t> bytes, const std::string& what,
                                ThreadPool& pool) {
  AudioClip clip = decode_audio(bytes, what);
  EncodedMedia out;
  if (tower.encoder_free) {  // 12B: the waveform itself, 640 samples per soft token
    const int rate = tower.encoder_free->config.sample_rate;
    if (clip.sample_rate != rate) clip = resample(clip, rate);
    out.soft_tokens = embed_audio_encoder_free(*tower.encoder_free, clip, pool);
  } else {
    const AudioFeatureConfig config;
    if (clip.sample_rate != config.sample_rate) clip = resample(clip, config.sample_rate);
    out.soft_tokens = encode_audio(tower, audio_features(clip, config), pool);
  }
  out.hash = media_hash(bytes, 0x617564696fULL);  // "audio"
  out.kind = MediaKind::Audio;
  return out;
}

std::string default_mmproj_path(const std::string& model_path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path main(model_path);
  // A projector with either tower counts: a random test projector may hold audio only.
  auto has_tower = [](const std::string& p) { return has_vision_tower(p) || has_audio_tower(p); };
  if (fs::is_directory(main, ec)) return has_tower(model_path) ? model_path : "";
  if (main.extension() != ".gguf") return "";
  const std::string stem = main.stem().string();
  for (const fs::path& p : {main.parent_path() / ("mmproj-" + stem + ".gguf"), main.parent_path() / (stem + "-mmproj.gguf"),
                            main.parent_path() / "mmproj.gguf"})
    if (fs::exists(p, ec) && has_tower(p.string())) return p.string();
  return "";
}

}  // namespace facet
