// Images in prompts (spec §9.3): the chat template writes one placeholder token per image
// (<|image|>); the prompt the model runs has, for each, <|image> + N × <|image|> + <image|>
// where N is the number of soft tokens the vision tower made for that image, and the soft
// tokens replace the embeddings of those N placeholders.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "engine/generation.h"
#include "model/vision.h"
#include "tokenizer/tokenizer.h"

namespace facet {

class ThreadPool;

// One image's soft tokens, ready for a prompt.
struct EncodedMedia {
  std::vector<float> soft_tokens;  // [count, text hidden size]
  uint64_t hash = 0;               // of the encoded file's bytes (and the token budget)
};

// 64-bit FNV-1a of the bytes: identifies media for the prefix cache.
uint64_t media_hash(std::span<const uint8_t> bytes, uint64_t salt = 0);

// Decodes an image file's bytes (PNG, JPEG, WebP), preprocesses it as Hugging Face's
// processor does for `max_soft_tokens` (0: the tower's default) and runs the tower.
// `what` names the image in errors.
EncodedMedia encode_image_bytes(const VisionTower& tower, std::span<const uint8_t> bytes, const std::string& what,
                                int max_soft_tokens, ThreadPool& pool);

struct MediaPrompt {
  std::vector<int32_t> tokens;
  std::vector<PromptMedia> media;
};

// Expands the image placeholders of a rendered, tokenized prompt, the i-th for images[i].
// Throws Error when the counts differ, when the tokenizer lacks the image tokens, or when
// a soft-token row is not `hidden` wide.
MediaPrompt expand_image_placeholders(const std::vector<int32_t>& tokens, const Tokenizer& tokenizer,
                                      const std::vector<EncodedMedia>& images, int64_t hidden);

// The mmproj file that goes with a model: for NAME.gguf, mmproj-NAME.gguf or NAME-mmproj.gguf
// or mmproj.gguf beside it; for an HF folder with a vision_config, the folder itself.
// Empty when there is none.
std::string default_mmproj_path(const std::string& model_path);

}  // namespace facet
