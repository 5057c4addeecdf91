#include "server/media_input.h"

#include <cstdio>

#include "server/http_util.h"
#include "util/error.h"

namespace facet::server {
namespace {

// Audio containers by their first bytes (what libsndfile will be asked to read). PNG, JPEG
// and WebP never match: WebP is RIFF too, but "WEBP", not "WAVE", follows the size; a JPEG
// starts FF D8, which is no MP3 frame sync (11 set bits).
bool looks_like_audio(std::string_view b) {
  auto at = [&](size_t i) { return static_cast<uint8_t>(b[i]); };
  if (b.size() >= 12 && b.substr(0, 4) == "RIFF" && b.substr(8, 4) == "WAVE") return true;
  if (b.size() >= 4 && (b.substr(0, 4) == "fLaC" || b.substr(0, 4) == "OggS")) return true;
  if (b.size() >= 3 && b.substr(0, 3) == "ID3") return true;  // MP3 with an ID3v2 tag
  // A bare MPEG audio frame header: sync bits, and a layer that is not the reserved 00.
  return b.size() >= 4 && at(0) == 0xFF && (at(1) & 0xE0) == 0xE0 && (at(1) & 0x06) != 0;
}

bool mime_allows_audio(const std::string& mime) { return mime.empty() || mime.starts_with("audio/"); }

constexpr const char* kWhereToPutIt = "put mmproj-NAME.gguf beside the model or start facet serve with --mmproj FILE";

}  // namespace

MediaEncoder::MediaEncoder(std::string projector, std::unique_ptr<VisionTower> vision,
                           std::unique_ptr<AudioTower> audio, int threads)
    : projector_(std::move(projector)), vision_(std::move(vision)), audio_(std::move(audio)), threads_(threads) {}

EncodedMedia MediaEncoder::encode(MediaKind kind, std::string_view bytes, const std::string& what,
                                  int max_soft_tokens, bool* reused) {
  if (kind == MediaKind::Audio) max_soft_tokens = 0;  // clips have no token budget
  require(kind == MediaKind::Image ? vision_ != nullptr : audio_ != nullptr, what, ": the projector ", projector_,
          " has no ", kind == MediaKind::Image ? "vision" : "audio", " tower");
  std::lock_guard<std::mutex> lock(mutex_);
  // Compared byte for byte, not by hash: a crafted collision must not hand one client's
  // image or clip to another.
  for (auto it = recent_.begin(); it != recent_.end(); ++it) {
    if (it->kind != kind || it->max_soft_tokens != max_soft_tokens || it->bytes != bytes) continue;
    recent_.splice(recent_.begin(), recent_, it);
    if (reused) *reused = true;
    return recent_.front().media;
  }
  if (reused) *reused = false;
  if (!pool_) pool_ = std::make_unique<ThreadPool>(threads_);
  const std::span<const uint8_t> data(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  EncodedMedia media = kind == MediaKind::Image ? encode_image_bytes(*vision_, data, what, max_soft_tokens, *pool_)
                                                : encode_audio_bytes(*audio_, data, what, *pool_);
  recent_.push_front(Recent{kind, std::string(bytes), max_soft_tokens, media});
  if (recent_.size() > kRecent) recent_.pop_back();
  return media;
}

ProjectorTowers projector_towers(const std::string& mmproj) {
  if (mmproj.empty()) return {};
  return {has_vision_tower(mmproj), has_audio_tower(mmproj)};
}

std::unique_ptr<MediaEncoder> load_media_encoder(const std::string& mmproj, bool named, int64_t model_width,
                                                 const std::string& model_name, int threads) {
  if (mmproj.empty()) return nullptr;
  try {
    const ProjectorTowers towers = projector_towers(mmproj);
    require(towers.vision || towers.audio, mmproj,
            ": not a projector with a vision or audio tower (expected llama.cpp's mmproj GGUF or an HF folder with "
            "a vision_config or audio_config)");
    auto check_width = [&](int64_t width, const char* tower) {
      require(width == model_width, mmproj, ": the ", tower, " tower makes rows of ", width,
              " but the model's width is ", model_width, " (it belongs to another model)");
    };
    std::unique_ptr<VisionTower> vision;
    std::unique_ptr<AudioTower> audio;
    if (towers.vision) {
      vision = load_vision_tower(mmproj);
      check_width(vision->config.text_hidden_size, "vision");
    }
    if (towers.audio) {
      audio = load_audio_tower(mmproj);
      check_width(audio->config.text_hidden_size, "audio");
    }
    return std::make_unique<MediaEncoder>(mmproj, std::move(vision), std::move(audio), threads);
  } catch (const Error& e) {
    if (named) throw;
    // A projector found beside the model by its name only: serve text rather than nothing.
    std::fprintf(stderr, "facet serve: %s: no images or audio (%s)\n", model_name.c_str(), e.what());
    return nullptr;
  }
}

std::vector<PromptMediaPart> prompt_media(chat::RenderRequest& request) {
  std::vector<PromptMediaPart> out;
  int images = 0, clips = 0;
  for (size_t i = 0; i < request.messages.size(); ++i) {
    chat::Message& message = request.messages[i];
    if (message.role == chat::Role::Tool || message.content.form != chat::Content::Form::Parts) continue;
    const std::string where = "(messages[" + std::to_string(i) + "])";
    for (chat::ContentPart& part : message.content.parts) {
      if (part.kind == chat::PartKind::Video)
        throw_http(400, "messages[" + std::to_string(i) + "]: video input is not supported yet");
      // Before the template runs, so that it writes <|audio|> for such a part.
      if (part.kind == chat::PartKind::Image && mime_allows_audio(part.mime) && looks_like_audio(part.data))
        part.kind = chat::PartKind::Audio;
      if (part.kind == chat::PartKind::Image)
        out.push_back({&part, MediaKind::Image, "image " + std::to_string(++images) + " " + where});
      else if (part.kind == chat::PartKind::Audio)
        out.push_back({&part, MediaKind::Audio, "audio " + std::to_string(++clips) + " " + where});
    }
  }
  return out;
}

MediaPrompt add_prompt_media(std::vector<int32_t> tokens, const std::vector<PromptMediaPart>& items,
                             MediaEncoder* encoder, const Tokenizer& tokenizer, int64_t model_width,
                             const std::string& model_name, int max_soft_tokens, MediaCounts* counts) {
  if (items.empty()) return MediaPrompt{std::move(tokens), {}};
  // The towers are checked for every item before any is encoded: a request that cannot be
  // served is refused without seconds of encoding first.
  for (const PromptMediaPart& item : items) {
    if (item.kind == MediaKind::Image && !(encoder && encoder->has_vision())) {
      if (!encoder)
        throw_http(400, "model " + model_name + " has no vision projector (mmproj): it cannot take images; " +
                            kWhereToPutIt);
      throw_http(400, "model " + model_name + " has no vision encoder: its projector " + encoder->projector() +
                          " holds only an audio tower, so it cannot take images");
    }
    if (item.kind == MediaKind::Audio && !(encoder && encoder->has_audio())) {
      if (!encoder)
        throw_http(400, "model " + model_name + " has no audio encoder: it has no projector (mmproj) and cannot take " +
                            "audio; Gemma 4 E2B and E4B have an audio tower in their mmproj: " +
                            kWhereToPutIt);
      throw_http(400, "model " + model_name + " has no audio encoder: its projector " + encoder->projector() +
                          " holds only a vision tower, so it cannot take audio (Gemma 4's audio tower comes with E2B "
                          "and E4B)");
    }
  }
  std::vector<EncodedMedia> encoded;
  encoded.reserve(items.size());
  for (const PromptMediaPart& item : items) {
    bool reused = false;
    encoded.push_back(encoder->encode(item.kind, item.part->data, item.what, max_soft_tokens, &reused));
    if (counts) {
      if (item.kind == MediaKind::Image) ++(reused ? counts->images_reused : counts->images_encoded);
      else ++(reused ? counts->audio_reused : counts->audio_encoded);
    }
  }
  // Error (400) when the template placed another number of images or clips than were
  // given, e.g. a literal "<|image|>" typed in the text.
  return expand_media_placeholders(tokens, tokenizer, encoded, model_width);
}

}  // namespace facet::server
