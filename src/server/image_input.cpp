#include "server/image_input.h"

#include <cstdio>

#include "server/http_util.h"
#include "util/error.h"

namespace facet::server {

ImageEncoder::ImageEncoder(std::unique_ptr<VisionTower> tower, int threads)
    : tower_(std::move(tower)), threads_(threads) {}

EncodedMedia ImageEncoder::encode(std::string_view bytes, const std::string& what, int max_soft_tokens, bool* reused) {
  std::lock_guard<std::mutex> lock(mutex_);
  // Compared byte for byte, not by hash: a crafted collision must not hand one client's
  // image to another.
  for (auto it = recent_.begin(); it != recent_.end(); ++it) {
    if (it->max_soft_tokens != max_soft_tokens || it->bytes != bytes) continue;
    recent_.splice(recent_.begin(), recent_, it);
    if (reused) *reused = true;
    return recent_.front().media;
  }
  if (reused) *reused = false;
  if (!pool_) pool_ = std::make_unique<ThreadPool>(threads_);
  const auto* data = reinterpret_cast<const uint8_t*>(bytes.data());
  EncodedMedia media = encode_image_bytes(*tower_, {data, bytes.size()}, what, max_soft_tokens, *pool_);
  recent_.push_front(Recent{std::string(bytes), max_soft_tokens, media});
  if (recent_.size() > kRecent) recent_.pop_back();
  return media;
}

std::unique_ptr<ImageEncoder> load_image_encoder(const std::string& mmproj, bool named, int64_t model_width,
                                                 const std::string& model_name, int threads) {
  if (mmproj.empty()) return nullptr;
  try {
    std::unique_ptr<VisionTower> tower = load_vision_tower(mmproj);
    require(tower->config.text_hidden_size == model_width, mmproj, ": the projector makes rows of ",
            tower->config.text_hidden_size, " but the model's width is ", model_width,
            " (it belongs to another model)");
    return std::make_unique<ImageEncoder>(std::move(tower), threads);
  } catch (const Error& e) {
    if (named) throw;
    // A projector found beside the model by its name only: serve text rather than nothing.
    std::fprintf(stderr, "facet serve: %s: no vision (%s)\n", model_name.c_str(), e.what());
    return nullptr;
  }
}

std::vector<PromptImage> prompt_images(const chat::RenderRequest& request) {
  std::vector<PromptImage> out;
  for (size_t i = 0; i < request.messages.size(); ++i) {
    const chat::Message& message = request.messages[i];
    if (message.role == chat::Role::Tool || message.content.form != chat::Content::Form::Parts) continue;
    for (const chat::ContentPart& part : message.content.parts) {
      if (part.kind == chat::PartKind::Audio)
        throw_http(400, "messages[" + std::to_string(i) + "]: audio input is not supported yet");
      if (part.kind == chat::PartKind::Video)
        throw_http(400, "messages[" + std::to_string(i) + "]: video input is not supported yet");
      if (part.kind == chat::PartKind::Image)
        out.push_back({&part, "image " + std::to_string(out.size() + 1) + " (messages[" + std::to_string(i) + "])"});
    }
  }
  return out;
}

MediaPrompt add_prompt_images(std::vector<int32_t> tokens, const std::vector<PromptImage>& images,
                              ImageEncoder* encoder, const Tokenizer& tokenizer, int64_t model_width,
                              const std::string& model_name, int max_soft_tokens, ImageCounts* counts) {
  if (images.empty()) return MediaPrompt{std::move(tokens), {}};
  if (!encoder)
    throw_http(400, "model " + model_name +
                        " has no vision projector (mmproj): it cannot take images; put mmproj-NAME.gguf beside "
                        "the model or start facet serve with --mmproj FILE");
  std::vector<EncodedMedia> encoded;
  encoded.reserve(images.size());
  for (const PromptImage& image : images) {
    bool reused = false;
    encoded.push_back(encoder->encode(image.part->data, image.what, max_soft_tokens, &reused));
    if (counts) ++(reused ? counts->reused : counts->encoded);
  }
  // Error (400) when the template placed another number of images than were given, e.g.
  // a literal "<|image|>" typed in the text.
  return expand_image_placeholders(tokens, tokenizer, encoded, model_width);
}

}  // namespace facet::server
