// Building a Tokenizer's tables from a TokenizerVocab, and the simple accessors.
#include "tokenizer/tokenizer.h"

#include <algorithm>
#include <array>
#include <filesystem>
#include <fstream>

#include "tokenizer/gguf_vocabulary.h"
#include "tokenizer/tokenizer_tables.h"
#include "tokenizer/utf8.h"
#include "util/error.h"

namespace facet {
namespace {

constexpr uint32_t kCodePointCount = 0x110000;
constexpr std::string_view kSpaceMarker = "\xE2\x96\x81";  // U+2581, SentencePiece's space
constexpr uint32_t kSpaceMarkerCodePoint = 0x2581;

std::string replace_space_markers(std::string_view piece) {
  std::string out;
  out.reserve(piece.size());
  for (size_t pos = 0; pos < piece.size();) {
    if (piece.substr(pos, kSpaceMarker.size()) == kSpaceMarker) {
      out.push_back(' ');
      pos += kSpaceMarker.size();
    } else {
      out.push_back(piece[pos++]);
    }
  }
  return out;
}

// The byte a "<0xXX>" piece stands for, or -1.
int parse_byte_piece(std::string_view piece) {
  if (piece.size() != 6 || piece.substr(0, 3) != "<0x" || piece[5] != '>') return -1;
  auto nibble = [](char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  int high = nibble(piece[3]), low = nibble(piece[4]);
  return high < 0 || low < 0 ? -1 : high * 16 + low;
}

void check_special_id(int32_t id, size_t vocab_size, const std::string& source, const char* name) {
  require(id >= -1 && id < static_cast<int64_t>(vocab_size), source, ": ", name, " ", id,
          " is outside the vocabulary of ", vocab_size, " tokens");
}

void build_pieces(const TokenizerVocab& vocab, Tokenizer::Tables& t) {
  const size_t count = vocab.tokens.size();
  t.types.resize(count, TokenType::kNormal);
  for (size_t id = 0; id < vocab.token_types.size(); ++id) {
    int32_t type = vocab.token_types[id];
    require(type >= 0 && type <= static_cast<int32_t>(TokenType::kByte), t.source, ": token type ", type,
            " of token ", id, " is not a llama.cpp token type (0..6)");
    t.types[id] = static_cast<TokenType>(type);
  }
  t.piece_offsets.reserve(count + 1);
  t.display_offsets.reserve(count + 1);
  t.byte_values.assign(count, -1);
  t.byte_token_ids.fill(-1);
  t.piece_offsets.push_back(0);
  t.display_offsets.push_back(0);
  for (size_t id = 0; id < count; ++id) {
    const std::string& piece = vocab.tokens[id];
    t.pieces += piece;
    t.piece_offsets.push_back(static_cast<uint32_t>(t.pieces.size()));
    // Byte pieces are recognised by their text: HF files carry no types, and a GGUF
    // file's BYTE type always goes with a <0xXX> piece.
    int byte = parse_byte_piece(piece);
    bool is_byte = byte >= 0 && (t.types[id] == TokenType::kByte || t.types[id] == TokenType::kNormal);
    if (is_byte) {
      t.types[id] = TokenType::kByte;
      t.byte_values[id] = static_cast<int16_t>(byte);
      if (t.byte_token_ids[byte] < 0) t.byte_token_ids[byte] = static_cast<int32_t>(id);
    } else {
      t.display += replace_space_markers(piece);
    }
    t.display_offsets.push_back(static_cast<uint32_t>(t.display.size()));
  }
  require(t.pieces.size() < UINT32_MAX && t.display.size() < UINT32_MAX, t.source, ": vocabulary text too large");
}

// Per-id lookups that need the packed piece text to stay put (views into t.pieces).
void build_lookups(Tokenizer::Tables& t) {
  t.piece_ids.build(t.vocab_size(), [&t](int32_t id) { return t.piece(id); });  // lowest id wins
  t.code_point_ids.assign(kCodePointCount, -1);
  for (int32_t id = 0; id < t.vocab_size(); ++id) {
    std::string_view piece = t.piece(id);
    TokenType type = t.types[id];
    bool encodable = type == TokenType::kNormal || type == TokenType::kUserDefined ||
                     type == TokenType::kUndefined;
    if (!encodable || piece.empty()) continue;
    size_t length = utf8::valid_sequence_length(piece, 0);
    if (length == 0 || length != piece.size()) continue;
    uint32_t code_point = utf8::decode_code_point(piece, 0, length);
    if (t.code_point_ids[code_point] < 0) t.code_point_ids[code_point] = id;
  }
  for (int32_t id = 0; id < t.vocab_size(); ++id) {
    TokenType type = t.types[id];
    if (type == TokenType::kControl || type == TokenType::kUserDefined || type == TokenType::kUnknown)
      t.specials.add(t.piece(id), id);
  }
}

// Collects, from every merge result, what decides where the encoder may cut a segment
// into independently encoded chunks (see Tables::chunking_allowed).
class ChunkBoundaryFinder {
 public:
  ChunkBoundaryFinder() : joined_before_space_(kCodePointCount, false) {}

  void add_merge_result(std::string_view piece) {
    uint32_t previous = 0;
    bool has_newline = false, has_other = false;
    for (size_t pos = 0; pos < piece.size();) {
      size_t length = utf8::valid_sequence_length(piece, pos);
      if (length == 0) {  // not UTF-8: no character-level claim about it is safe
        invalid_utf8_ = true;
        return;
      }
      uint32_t code_point = utf8::decode_code_point(piece, pos, length);
      if (pos > 0 && code_point == kSpaceMarkerCodePoint && previous != kSpaceMarkerCodePoint)
        joined_before_space_[previous] = true;
      (code_point == '\n' ? has_newline : has_other) = true;
      previous = code_point;
      pos += length;
    }
    newline_mixed_ = newline_mixed_ || (has_newline && has_other);
  }

  void note_byte_token_merge() { byte_tokens_merge_ = true; }

  void store(Tokenizer::Tables& t) const {
    t.chunking_allowed = !byte_tokens_merge_ && !invalid_utf8_;
    t.newline_merges_alone = !newline_mixed_;
    for (uint32_t c = 0; c < kCodePointCount; ++c)
      if (joined_before_space_[c]) t.joined_before_space.push_back(c);
  }

 private:
  std::vector<bool> joined_before_space_;
  bool newline_mixed_ = false;
  bool byte_tokens_merge_ = false;
  bool invalid_utf8_ = false;
};

// Resolves every "left right" merge to ids and fills the merge table. This loop is most
// of the load time and is bound by cache misses (three piece lookups and one insert per
// merge, all at random places), so merges go in batches: first all slots of a batch are
// prefetched, then the lookups run with their misses overlapping.
void build_merges(const TokenizerVocab& vocab, Tokenizer::Tables& t) {
  t.merges = MergeTable(vocab.merges.size());
  ChunkBoundaryFinder boundaries;
  auto piece_of = [&t](int32_t id) { return t.piece(id); };
  struct PendingMerge {
    std::string_view parts[2];
    std::string joined;
    uint64_t hashes[3];
    int32_t ids[3];  // left, right, result; -1 when not a piece
  };
  constexpr size_t kBatch = 16;
  std::array<PendingMerge, kBatch> batch;
  for (size_t first = 0; first < vocab.merges.size(); first += kBatch) {
    const size_t count = std::min(kBatch, vocab.merges.size() - first);
    for (size_t i = 0; i < count; ++i) {
      std::string_view merge = vocab.merges[first + i];
      // Split at the first space after the first character, so a left piece may itself
      // begin with a space.
      size_t split = merge.size() > 1 ? merge.find(' ', 1) : std::string_view::npos;
      require(split != std::string_view::npos, t.source, ": merge #", first + i, " \"", merge,
              "\" is not of the form \"left right\"");
      PendingMerge& m = batch[i];
      m.parts[0] = merge.substr(0, split);
      m.parts[1] = merge.substr(split + 1);
      m.joined.assign(m.parts[0]).append(m.parts[1]);
      m.hashes[0] = hash_piece(m.parts[0]);
      m.hashes[1] = hash_piece(m.parts[1]);
      m.hashes[2] = hash_piece(m.joined);
      for (uint64_t hash : m.hashes) t.piece_ids.prefetch(hash);
    }
    for (size_t i = 0; i < count; ++i) {
      PendingMerge& m = batch[i];
      m.ids[0] = t.piece_ids.find_hashed(m.parts[0], m.hashes[0], piece_of);
      m.ids[1] = t.piece_ids.find_hashed(m.parts[1], m.hashes[1], piece_of);
      m.ids[2] = t.piece_ids.find_hashed(m.joined, m.hashes[2], piece_of);
      if (m.ids[0] >= 0 && m.ids[1] >= 0) t.merges.prefetch(m.ids[0], m.ids[1]);
    }
    for (size_t i = 0; i < count; ++i) {
      const PendingMerge& m = batch[i];
      // A merge whose parts or result are not pieces can never apply; skip it.
      if (m.ids[0] < 0 || m.ids[1] < 0 || m.ids[2] < 0) continue;
      t.merges.insert(m.ids[0], m.ids[1], {static_cast<int32_t>(first + i), m.ids[2]});
      boundaries.add_merge_result(m.joined);
      if (t.byte_values[m.ids[0]] >= 0 || t.byte_values[m.ids[1]] >= 0) boundaries.note_byte_token_merge();
    }
  }
  boundaries.store(t);
}

}  // namespace

void Tokenizer::Tables::check_id(int32_t id) const {
  require(id >= 0 && id < vocab_size(), "token id ", id, " is outside the vocabulary (0..", vocab_size() - 1,
          ")");
}

Tokenizer::Tokenizer(const TokenizerVocab& vocab) {
  auto tables = std::make_shared<Tables>();
  Tables& t = *tables;
  t.source = vocab.source.empty() ? std::string("tokenizer vocabulary") : vocab.source;
  require(!vocab.tokens.empty(), t.source, ": the vocabulary has no tokens");
  require(vocab.token_types.empty() || vocab.token_types.size() == vocab.tokens.size(), t.source,
          ": token_type has ", vocab.token_types.size(), " entries but there are ", vocab.tokens.size(),
          " tokens");
  require(vocab.tokens.size() < INT32_MAX, t.source, ": too many tokens");
  check_special_id(vocab.bos_id, vocab.tokens.size(), t.source, "bos_token_id");
  check_special_id(vocab.eos_id, vocab.tokens.size(), t.source, "eos_token_id");
  check_special_id(vocab.pad_id, vocab.tokens.size(), t.source, "padding_token_id");
  check_special_id(vocab.unk_id, vocab.tokens.size(), t.source, "unknown_token_id");
  t.bos_id = vocab.bos_id;
  t.eos_id = vocab.eos_id;
  t.pad_id = vocab.pad_id;
  t.unk_id = vocab.unk_id;
  t.add_bos = vocab.add_bos;
  build_pieces(vocab, t);
  build_lookups(t);
  build_merges(vocab, t);
  tables_ = std::move(tables);
}

Tokenizer Tokenizer::from_hf_json(const std::string& path) { return Tokenizer(load_hf_tokenizer_json(path)); }

Tokenizer Tokenizer::from_gguf(const std::string& path) { return Tokenizer(load_gguf_vocabulary(path)); }

Tokenizer Tokenizer::from_file(const std::string& path) {
  require(std::filesystem::exists(path), "tokenizer path ", path, " does not exist");
  if (!std::filesystem::is_directory(path)) {
    char magic[4] = {};
    std::ifstream(path, std::ios::binary).read(magic, sizeof magic);
    if (std::string_view(magic, sizeof magic) == "GGUF") return from_gguf(path);
  }
  return from_hf_json(path);
}

int32_t Tokenizer::vocab_size() const { return tables_->vocab_size(); }

std::string_view Tokenizer::piece(int32_t id) const {
  tables_->check_id(id);
  return tables_->piece(id);
}

TokenType Tokenizer::type(int32_t id) const {
  tables_->check_id(id);
  return tables_->types[id];
}

int Tokenizer::byte_value(int32_t id) const {
  tables_->check_id(id);
  return tables_->byte_values[id];
}

std::optional<int32_t> Tokenizer::find_piece(std::string_view piece) const {
  int32_t id = tables_->find_piece(piece);
  if (id < 0) return std::nullopt;
  return id;
}

bool Tokenizer::is_special(int32_t id) const {
  TokenType t = type(id);
  return t == TokenType::kControl || t == TokenType::kUserDefined || t == TokenType::kUnknown;
}

bool Tokenizer::is_visible(int32_t id, const DecodeOptions& options) const {
  TokenType t = type(id);
  return !(options.skip_special && (t == TokenType::kControl || t == TokenType::kUnknown));
}

std::string_view Tokenizer::display_text(int32_t id) const {
  tables_->check_id(id);
  return tables_->display_text(id);
}

int32_t Tokenizer::bos_id() const { return tables_->bos_id; }
int32_t Tokenizer::eos_id() const { return tables_->eos_id; }
int32_t Tokenizer::pad_id() const { return tables_->pad_id; }
int32_t Tokenizer::unk_id() const { return tables_->unk_id; }
bool Tokenizer::add_bos_by_default() const { return tables_->add_bos; }

std::vector<std::string> token_texts(const Tokenizer& tokenizer) {
  std::vector<std::string> out(static_cast<size_t>(tokenizer.vocab_size()));
  for (int32_t id = 0; id < tokenizer.vocab_size(); ++id) {
    const int byte = tokenizer.byte_value(id);
    out[static_cast<size_t>(id)] =
        byte >= 0 ? std::string(1, static_cast<char>(byte)) : std::string(tokenizer.display_text(id));
  }
  return out;
}

}  // namespace facet
