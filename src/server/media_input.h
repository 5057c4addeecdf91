// Images and audio in served chats. Each served model gets the towers of its projector
// when it has one (the --mmproj file for a single --model, else the projector beside the
// model file, see default_mmproj_path): the vision tower when the file has one, the audio
// tower when it has one (Gemma 4 E2B/E4B's mmproj holds both). A request's image and audio
// parts are encoded by those towers and their soft tokens put into the prompt where the
// chat template wrote <|image|> / <|audio|>, so one request may mix both.
//
// Encoding runs on the request's own thread, with the model's small pool, before the job
// is queued, not on the scheduler's worker (Scheduler::run_between_steps): an image or a
// clip takes a tower seconds on a CPU, and on the worker that would freeze every other
// stream of the model for that long. Bad media also fail there, as a 400, before anything
// reaches the scheduler. One item is encoded at a time per model (the pool is not
// re-entrant), and the last few are kept, since chat clients resend every earlier image
// and clip of a conversation with each new turn.
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
#include "model/audio.h"
#include "model/vision.h"
#include "util/thread_pool.h"

namespace facet::server {

class MediaEncoder {
 public:
  // Either tower may be null (a projector with one of them), not both. `projector` is the
  // file they came from, for messages.
  MediaEncoder(std::string projector, std::unique_ptr<VisionTower> vision, std::unique_ptr<AudioTower> audio,
               int threads);

  const std::string& projector() const { return projector_; }
  bool has_vision() const { return vision_ != nullptr; }
  bool has_audio() const { return audio_ != nullptr; }
  // Decodes and encodes one image (MediaKind::Image, at `max_soft_tokens`) or audio clip
  // (MediaKind::Audio; max_soft_tokens unused); Error on a corrupt, oversized or unsupported
  // file, or when the tower for `kind` is missing. `reused` says whether it came from the
  // recent ones. Thread-safe.
  EncodedMedia encode(MediaKind kind, std::string_view bytes, const std::string& what, int max_soft_tokens,
                      bool* reused);

 private:
  struct Recent {
    MediaKind kind;
    std::string bytes;
    int max_soft_tokens;
    EncodedMedia media;
  };
  static constexpr size_t kRecent = 8;

  std::string projector_;
  std::unique_ptr<VisionTower> vision_;
  std::unique_ptr<AudioTower> audio_;
  int threads_;
  std::mutex mutex_;
  std::unique_ptr<ThreadPool> pool_;  // made at the first item
  std::list<Recent> recent_;          // most recently used first
};

// Which towers a projector file holds (false, false for "" or an unreadable file).
struct ProjectorTowers {
  bool vision = false;
  bool audio = false;
};
ProjectorTowers projector_towers(const std::string& mmproj);

// The encoder for a model: the towers of the projector at `mmproj` ("" = none: nullptr).
// The towers must make rows as wide as the model's; a mismatch, an unreadable file or a file
// with neither tower is an Error when the user named the file (`named`), else a warning on
// stderr and no media.
std::unique_ptr<MediaEncoder> load_media_encoder(const std::string& mmproj, bool named, int64_t model_width,
                                                 const std::string& model_name, int threads);

struct PromptMediaPart {
  const chat::ContentPart* part;
  MediaKind kind;
  std::string what;  // "image 2 (messages[1])", "audio 1 (messages[0])", for errors
};

// The image and audio parts of a parsed chat that the template writes into the prompt, in
// order (tool results' parts are not written). An image part whose bytes are an audio file
// (RIFF/WAVE, FLAC, Ogg, MP3) and whose MIME type is empty or audio/* becomes an audio
// part: Ollama's API has no audio field, and its clients send clips in "images". Throws
// HttpError 400 for video (not supported yet).
std::vector<PromptMediaPart> prompt_media(chat::RenderRequest& request);

struct MediaCounts {
  int64_t images_encoded = 0;  // run through the vision tower
  int64_t images_reused = 0;   // found among the recent ones
  int64_t audio_encoded = 0;   // clips run through the audio tower
  int64_t audio_reused = 0;
};

// `tokens` (the rendered, tokenized chat) with each <|image|> and <|audio|> expanded to the
// soft-token span of its item. 400 when the model lacks the tower an item needs or an item
// cannot be read.
MediaPrompt add_prompt_media(std::vector<int32_t> tokens, const std::vector<PromptMediaPart>& items,
                             MediaEncoder* encoder, const Tokenizer& tokenizer, int64_t model_width,
                             const std::string& model_name, int max_soft_tokens, MediaCounts* counts);

}  // namespace facet::server
