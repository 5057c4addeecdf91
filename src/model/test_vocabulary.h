// The tokenizer vocabulary a generated test model carries, so model files are
// self-contained: either copied from an HF tokenizer.json (the real Gemma 4 tokenizer) or a
// small synthetic BPE vocabulary of any size. Written as GGUF tokenizer.ggml.* keys (spec
// §6.2, the key set llama.cpp's Gemma 4 converter writes) or as an HF tokenizer.json.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace facet {

class GgufWriter;

// llama.cpp token types (tokenizer.ggml.token_type).
enum class GgufTokenType : int32_t { Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Byte = 6 };

struct TestVocabulary {
  std::vector<std::string> tokens;  // by id
  std::vector<GgufTokenType> types;
  std::vector<std::string> merges;  // "left right", highest priority first
  int bos_id = 2, eos_id = 1, pad_id = 0, unk_id = 3, mask_id = 4;
};

// Ids 0-4 <pad> <eos> <bos> <unk> <mask>; then the byte tokens <0x00>..<0xFF> when there is
// room; then "▁" and the printable ASCII characters; then common English words with the
// merges that build them; then <unusedN> fillers. Needs vocab_size >= 5.
TestVocabulary synthetic_vocabulary(int vocab_size);

// Tokens, merges and types from an HF tokenizer.json (BPE model). Fails unless it holds
// exactly `vocab_size` tokens. Added special tokens are typed as llama.cpp types Gemma 4's
// (CONTROL, except the 7 USER_DEFINED tool/channel markers, tokenizer spec §1.5).
TestVocabulary vocabulary_from_hf_tokenizer(const std::string& tokenizer_json_path, int vocab_size);

// tokenizer.ggml.* keys: model/pre "gemma4", tokens, scores (all 0), token_type, merges,
// special ids, add_bos_token true, add_eos_token false, add_space_prefix false.
void write_gguf_tokenizer(GgufWriter& writer, const TestVocabulary& vocab);

// A minimal HF tokenizer.json (BPE with byte fallback, spaces as "▁") for the vocabulary.
nlohmann::json hf_tokenizer_json(const TestVocabulary& vocab);

}  // namespace facet
