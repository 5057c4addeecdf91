// Images and audio in prompts (spec §9.3): the chat template writes one placeholder token
// per item (<|image|>, <|audio|>); the prompt the model runs has, for each image,
// <|image> + N × <|image|> + <image|> (audio: <|audio> + N × <|audio|> + <audio|>) where N is
// the number of soft tokens its tower made, and the soft tokens replace the embeddings of
// those N placeholders.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "engine/generation.h"
#include "model/audio.h"
#include "model/vision.h"
#include "tokenizer/tokenizer.h"

namespace facet {

class ThreadPool;

enum class MediaKind { Image, Audio };

// One image's or clip's soft tokens, ready for a prompt.
struct EncodedMedia {
  std::vector<float> soft_tokens;  // [count, text hidden size]
  uint64_t hash = 0;               // of the encoded file's bytes (and the token budget)
  MediaKind kind = MediaKind::Image;
};

// 64-bit FNV-1a of the bytes: identifies media for the prefix cache.
uint64_t media_hash(std::span<const uint8_t> bytes, uint64_t salt = 0);

// Decodes an image file's bytes (PNG, JPEG, WebP), preprocesses it as Hugging Face's
// processor does for `max_soft_tokens` (0: the tower's default) and runs the tower.
// `what` names the image in errors.
EncodedMedia encode_image_bytes(const VisionTower& tower, std::span<const uint8_t> bytes, const std::string& what,
                                int max_soft_tokens, ThreadPool& pool);

// Decodes an audio file's bytes (WAV, FLAC, OGG, MP3), resamples it to 16 kHz, computes
// Gemma 4's log-mel features (at most 30 s, as transformers) and runs the audio tower; for
// the 12B's encoder-free embedder, the 16 kHz waveform itself goes in (also at most 30 s).
EncodedMedia encode_audio_bytes(const AudioTower& tower, std::span<const uint8_t> bytes, const std::string& what,
                                ThreadPool& pool);

struct MediaPrompt {
  std::vector<int32_t> tokens;
  std::vector<PromptMedia> media;
};

// Expands the media placeholders of a rendered, tokenized prompt: the i-th <|image|> for
// the i-th image of `media`, the i-th <|audio|> for the i-th audio clip. Throws Error when
// the counts differ, when the tokenizer lacks the tokens, or when a soft-token row is not
// `hidden` wide.
MediaPrompt expand_media_placeholders(const std::vector<int32_t>& tokens, const Tokenizer& tokenizer,
                                      const std::vector<EncodedMedia>& media, int64_t hidden);
// The same for prompts with images only.
MediaPrompt expand_image_placeholders(const std::vector<int32_t>& tokens, const Tokenizer& tokenizer,
                                      const std::vector<EncodedMedia>& images, int64_t hidden);

// The mmproj file that goes with a model: for NAME.gguf, mmproj-NAME.gguf or NAME-mmproj.gguf
// or mmproj.gguf beside it; for an HF folder with a vision_config or audio_config, the folder
// itself. A projector with either tower counts.
// Empty when there is none.
std::string default_mmproj_path(const std::string& model_path);

}  // namespace facet
