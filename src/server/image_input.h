// Images in served chats. Each served model gets its vision tower when it has one (the
// --mmproj file for a single --model, else the projector beside the model file, see
// default_mmproj_path). A request's image parts are encoded by that tower and their soft
// tokens put into the prompt where the chat template wrote <|image|>.
//
// Encoding runs on the request's own thread, with the model's small pool, before the job
// is queued, not on the scheduler's worker (Scheduler::run_between_steps): an image takes
// the tower seconds on a CPU, and on the worker that would freeze every other stream of
// the model for that long. A bad image also fails there, as a 400, before anything
// reaches the scheduler. One image is encoded at a time per model (the pool is not
// re-entrant), and the last few are kept, since chat clients resend every earlier image
// of a conversation with each new turn.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "chat/chat_types.h"
#include "engine/media_prompt.h"
#include "model/vision.h"
#include "util/thread_pool.h"

namespace facet::server {

class ImageEncoder {
 public:
  ImageEncoder(std::unique_ptr<VisionTower> tower, int threads);

  const VisionTower& tower() const { return *tower_; }
  // Decodes and encodes one image (Error on a corrupt, oversized or unsupported file);
  // `reused` says whether it came from the recent ones. Thread-safe.
  EncodedMedia encode(std::string_view bytes, const std::string& what, int max_soft_tokens, bool* reused);

 private:
  struct Recent {
    std::string bytes;
    int max_soft_tokens;
    EncodedMedia media;
  };
  static constexpr size_t kRecent = 8;

  std::unique_ptr<VisionTower> tower_;
  int threads_;
  std::mutex mutex_;
  std::unique_ptr<ThreadPool> pool_;  // made at the first image
  std::list<Recent> recent_;          // most recently used first
};

// The vision encoder for a model: the projector at `mmproj` ("" = none: nullptr). The
// projector must make rows as wide as the model's; a mismatch or an unreadable file is an
// Error when the user named the file (`named`), else a warning on stderr and no vision.
std::unique_ptr<ImageEncoder> load_image_encoder(const std::string& mmproj, bool named, int64_t model_width,
                                                 const std::string& model_name, int threads);

struct PromptImage {
  const chat::ContentPart* part;
  std::string what;  // "image 2 (messages[1])", for errors
};

// The image parts of a parsed chat that the template writes into the prompt, in order
// (tool results' parts are not written). Throws HttpError 400 for audio and video (not
// supported yet).
std::vector<PromptImage> prompt_images(const chat::RenderRequest& request);

struct ImageCounts {
  int64_t encoded = 0;  // images run through the tower
  int64_t reused = 0;   // images found among the recent ones
};

// `tokens` (the rendered, tokenized chat) with each <|image|> expanded to the soft-token
// span of its image. 400 when the model has no projector or an image cannot be read.
MediaPrompt add_prompt_images(std::vector<int32_t> tokens, const std::vector<PromptImage>& images,
                              ImageEncoder* encoder, const Tokenizer& tokenizer, int64_t model_width,
                              const std::string& model_name, int max_soft_tokens, ImageCounts* counts);

}  // namespace facet::server
