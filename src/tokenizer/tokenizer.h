// The Gemma 4 tokenizer: SentencePiece-style BPE over characters with "▁" for spaces,
// merges applied by rank, byte fallback (<0xXX>), and special tokens cut out of the text
// before BPE. Immutable once built; copies share the tables and are safe to use from
// several threads at once.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/vocabulary.h"

namespace facet {

struct EncodeOptions {
  bool add_bos = false;       // start the ids with the BOS token
  bool parse_special = true;  // special-token text in the input becomes the special id
};

struct DecodeOptions {
  // Drop control tokens (<bos>, <turn|>, ...) and <unk>. User-defined tokens (tool-call
  // and channel markers) are always printed so that an output parser can see them.
  bool skip_special = false;
};

class Tokenizer {
 public:
  // Builds the tokenizer from a vocabulary. When the same piece text occurs at several
  // ids (reported for some GGUF files), the lowest id wins for encoding.
  explicit Tokenizer(const TokenizerVocab& vocab);

  // Loads a Hugging Face tokenizer.json (the file, or a model folder containing it).
  static Tokenizer from_hf_json(const std::string& path);
  // Loads the vocabulary embedded in a GGUF model file (tokenizer.ggml.* metadata).
  static Tokenizer from_gguf(const std::string& path);
  // Loads from any supported path: a tokenizer.json, an HF model folder, or a GGUF file
  // (recognised by its "GGUF" magic).
  static Tokenizer from_file(const std::string& path);

  std::vector<int32_t> encode(std::string_view text, const EncodeOptions& options = {}) const;
  // Same as encode, appending to `out` (saves a copy when building a prompt piecewise).
  void encode_into(std::string_view text, std::vector<int32_t>& out, const EncodeOptions& options = {}) const;

  // Concatenates the tokens' text ("▁" -> " "); runs of byte tokens are decoded as UTF-8
  // with each maximal ill-formed part replaced by one U+FFFD (the Unicode practice; HF
  // writes one U+FFFD per byte when a whole run is invalid; the choice here lets the
  // streaming detokenizer agree with decode exactly). Throws Error on an id outside the
  // vocabulary.
  std::string decode(std::span<const int32_t> ids, const DecodeOptions& options = {}) const;

  int32_t vocab_size() const;
  std::string_view piece(int32_t id) const;         // the raw vocabulary text
  TokenType type(int32_t id) const;
  int byte_value(int32_t id) const;                 // 0..255 for <0xXX> tokens, else -1
  std::optional<int32_t> find_piece(std::string_view piece) const;
  bool is_special(int32_t id) const;                // control, user-defined or unknown
  // Whether decoding shows this token (false only for specials dropped by skip_special).
  bool is_visible(int32_t id, const DecodeOptions& options) const;
  // The text decode prints for a non-byte token ("▁" already turned into " ").
  std::string_view display_text(int32_t id) const;

  int32_t bos_id() const;
  int32_t eos_id() const;
  int32_t pad_id() const;
  int32_t unk_id() const;
  bool add_bos_by_default() const;  // the vocabulary's own add-BOS setting

  struct Tables;

 private:
  std::shared_ptr<const Tables> tables_;
};

// Every id's text as constrained decoding matches it against a grammar: a byte token's
// single raw byte, else its display text (what the logit filters take as token_texts).
std::vector<std::string> token_texts(const Tokenizer& tokenizer);

}  // namespace facet
