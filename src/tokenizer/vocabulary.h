// The plain description of a Gemma 4 tokenizer, independent of the file it came from:
// what the Hugging Face tokenizer.json loader produces and what a GGUF loader fills from
// the tokenizer.ggml.* keys. Tokenizer is built from this.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace facet {

// Token types numbered as llama.cpp / GGUF `tokenizer.ggml.token_type` number them.
enum class TokenType : int32_t {
  kUndefined = 0,
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,
};

struct TokenizerVocab {
  std::vector<std::string> tokens;      // piece text by id ("▁" stands for a space)
  std::vector<int32_t> token_types;     // TokenType numbers by id; empty = all normal
  std::vector<std::string> merges;      // "left right", highest priority first
  int32_t bos_id = -1;
  int32_t eos_id = -1;
  int32_t pad_id = -1;
  int32_t unk_id = -1;
  bool add_bos = false;                 // whether plain-text encodes should start with BOS
  std::string source;                   // file the vocabulary came from, for error messages
};

// Reads a Hugging Face `tokenizer.json` (BPE model) into a TokenizerVocab. `path` may be
// the file or a model folder holding it. Added tokens become kControl (kUnknown for the
// unk token; kUserDefined for the Gemma 4 tool/channel tokens that llama.cpp prints when
// decoding), `<0xXX>` pieces kByte, the rest kNormal.
TokenizerVocab load_hf_tokenizer_json(const std::string& path);

}  // namespace facet
