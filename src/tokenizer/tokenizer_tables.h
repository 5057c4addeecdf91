// Internal: the lookup tables behind a Tokenizer (built once in tokenizer.cpp, read by
// the encoder and decoder in tokenizer_codec.cpp).
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/merge_table.h"
#include "tokenizer/piece_index.h"
#include "tokenizer/special_tokens.h"
#include "tokenizer/tokenizer.h"

namespace facet {

struct Tokenizer::Tables {
  std::string source;  // where the vocabulary came from, for error messages

  // Piece text and decoded text of every id, packed: id i spans offsets[i]..offsets[i+1].
  std::string pieces;
  std::vector<uint32_t> piece_offsets;
  std::string display;
  std::vector<uint32_t> display_offsets;

  std::vector<TokenType> types;
  std::vector<int16_t> byte_values;           // per id: 0..255 for <0xXX>, else -1
  std::array<int32_t, 256> byte_token_ids{};  // per byte: its <0xXX> id, or -1
  std::vector<int32_t> code_point_ids;        // per code point: its single-character piece, or -1
  PieceIndex piece_ids;
  MergeTable merges;

  // Where a segment may be cut into chunks that BPE encodes independently, with the same
  // result: a boundary is safe when no merge result contains the two characters on either
  // side of it. Derived from the merge list at load time.
  bool chunking_allowed = false;         // false if any merge involves a byte token
  std::vector<uint32_t> joined_before_space;  // sorted: c with some merge result holding c + "▁" (c != "▁")
  bool newline_merges_alone = false;     // no merge result mixes "\n" with another character
  SpecialTokenMatcher specials;

  int32_t bos_id = -1;
  int32_t eos_id = -1;
  int32_t pad_id = -1;
  int32_t unk_id = -1;
  bool add_bos = false;

  int32_t vocab_size() const { return static_cast<int32_t>(types.size()); }
  std::string_view piece(int32_t id) const {
    return std::string_view(pieces).substr(piece_offsets[id], piece_offsets[id + 1] - piece_offsets[id]);
  }
  std::string_view display_text(int32_t id) const {
    return std::string_view(display).substr(display_offsets[id], display_offsets[id + 1] - display_offsets[id]);
  }
  int32_t find_piece(std::string_view text) const {
    return piece_ids.find(text, [this](int32_t id) { return piece(id); });
  }
  void check_id(int32_t id) const;  // throws Error naming the id when out of range
};

}  // namespace facet
