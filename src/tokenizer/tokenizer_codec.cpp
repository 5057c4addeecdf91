// Encoding (special-token split, normalization, byte fallback, BPE) and decoding.
#include <algorithm>
#include <unordered_map>

#include "tokenizer/bpe.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_tables.h"
#include "tokenizer/utf8.h"
#include "util/error.h"

namespace facet {
namespace {

constexpr uint32_t kSpaceMarkerCodePoint = 0x2581;
constexpr std::string_view kSpaceMarker = "\xE2\x96\x81";

void push_byte_symbol(const Tokenizer::Tables& t, uint8_t byte, std::vector<int32_t>& symbols) {
  int32_t id = t.byte_token_ids[byte];
  if (id < 0) id = t.unk_id;
  require(id >= 0, t.source, ": cannot encode byte 0x", std::hex, int(byte),
          ": the vocabulary has neither its <0xXX> piece nor an unknown token");
  symbols.push_back(id);
}

// Normalizes one segment (space -> "▁") and turns it into initial BPE symbols: the
// character's piece when the vocabulary has one, else one byte token per UTF-8 byte.
// Bytes that are not valid UTF-8 are byte tokens too, so no input is rejected.
void initial_symbols(const Tokenizer::Tables& t, std::string_view text, std::vector<int32_t>& symbols) {
  symbols.clear();
  for (size_t pos = 0; pos < text.size();) {
    auto lead = static_cast<uint8_t>(text[pos]);
    size_t length = 1;
    uint32_t code_point = lead;
    std::string_view bytes = text.substr(pos, 1);
    if (lead == ' ') {
      code_point = kSpaceMarkerCodePoint;
      bytes = kSpaceMarker;
    } else if (lead >= 0x80) {
      length = utf8::valid_sequence_length(text, pos);
      if (length == 0) {
        push_byte_symbol(t, lead, symbols);
        ++pos;
        continue;
      }
      code_point = utf8::decode_code_point(text, pos, length);
      bytes = text.substr(pos, length);
    }
    int32_t id = t.code_point_ids[code_point];
    if (id >= 0) {
      symbols.push_back(id);
    } else {
      for (char byte : bytes) push_byte_symbol(t, static_cast<uint8_t>(byte), symbols);
    }
    pos += length;
  }
}

bool is_chunk_boundary(const Tokenizer::Tables& t, uint32_t previous, uint32_t current) {
  if (current == kSpaceMarkerCodePoint && previous != kSpaceMarkerCodePoint)
    return !std::binary_search(t.joined_before_space.begin(), t.joined_before_space.end(), previous);
  return t.newline_merges_alone && (current == '\n') != (previous == '\n');
}

// Cuts `segment` where no merge can cross (before a word's "▁", around newline runs; see
// Tables::chunking_allowed) and calls encode_chunk on each piece. BPE on the pieces gives
// the same ids as on the whole, but works on small, cache-friendly symbol lists and lets
// repeated words be looked up instead of merged again.
template <typename EncodeChunk>
void for_each_chunk(const Tokenizer::Tables& t, std::string_view segment, EncodeChunk&& encode_chunk) {
  if (!t.chunking_allowed) {
    encode_chunk(segment);
    return;
  }
  constexpr uint32_t kNotACharacter = 0xFFFFFFFF;  // a byte that is not valid UTF-8
  size_t chunk_start = 0;
  uint32_t previous = kNotACharacter;
  for (size_t pos = 0; pos < segment.size();) {
    auto lead = static_cast<uint8_t>(segment[pos]);
    uint32_t code_point = lead == ' ' ? kSpaceMarkerCodePoint : lead;
    size_t length = 1;
    if (lead >= 0x80) {
      length = utf8::valid_sequence_length(segment, pos);
      code_point = length == 0 ? kNotACharacter : utf8::decode_code_point(segment, pos, length);
      length = std::max<size_t>(length, 1);
    }
    if (pos > 0 && is_chunk_boundary(t, previous, code_point)) {
      encode_chunk(segment.substr(chunk_start, pos - chunk_start));
      chunk_start = pos;
    }
    previous = code_point;
    pos += length;
  }
  encode_chunk(segment.substr(chunk_start));
}

// Ids of chunks already encoded during one encode call, keyed by their text (views into
// the caller's input, which outlives the call). Long chunks are rarely repeated and not kept.
class ChunkCache {
 public:
  static constexpr size_t kMaxChunkBytes = 64;

  // Appends the cached ids of `chunk` to `out`; false if it is not cached.
  bool append(std::string_view chunk, std::vector<int32_t>& out) const {
    if (chunk.size() > kMaxChunkBytes) return false;
    auto it = spans_.find(chunk);
    if (it == spans_.end()) return false;
    out.insert(out.end(), ids_.begin() + it->second.first, ids_.begin() + it->second.second);
    return true;
  }

  void remember(std::string_view chunk, const int32_t* ids, size_t count) {
    if (chunk.size() > kMaxChunkBytes) return;
    spans_.emplace(chunk, std::pair<size_t, size_t>{ids_.size(), ids_.size() + count});
    ids_.insert(ids_.end(), ids, ids + count);
  }

 private:
  std::unordered_map<std::string_view, std::pair<size_t, size_t>> spans_;
  std::vector<int32_t> ids_;
};

}  // namespace

std::vector<int32_t> Tokenizer::encode(std::string_view text, const EncodeOptions& options) const {
  std::vector<int32_t> ids;
  encode_into(text, ids, options);
  return ids;
}

void Tokenizer::encode_into(std::string_view text, std::vector<int32_t>& out, const EncodeOptions& options) const {
  const Tables& t = *tables_;
  if (options.add_bos) {
    require(t.bos_id >= 0, t.source, ": BOS requested but the vocabulary has no bos token");
    out.push_back(t.bos_id);
  }
  std::vector<int32_t> symbols;
  BpeScratch scratch;
  ChunkCache cache;
  auto encode_chunk = [&](std::string_view chunk) {
    if (cache.append(chunk, out)) return;
    size_t start = out.size();
    initial_symbols(t, chunk, symbols);
    bpe_merge(symbols, t.merges, scratch, out);
    cache.remember(chunk, out.data() + start, out.size() - start);
  };
  auto encode_segment = [&](std::string_view segment) {
    if (!segment.empty()) for_each_chunk(t, segment, encode_chunk);
  };
  size_t pos = 0;
  while (pos < text.size()) {
    auto match = options.parse_special ? t.specials.find(text, pos) : std::nullopt;
    if (!match) break;
    encode_segment(text.substr(pos, match->position - pos));
    out.push_back(match->id);
    pos = match->position + match->length;
  }
  encode_segment(text.substr(pos));
}

std::string Tokenizer::decode(std::span<const int32_t> ids, const DecodeOptions& options) const {
  const Tables& t = *tables_;
  std::string text, pending_bytes;
  text.reserve(ids.size() * 4);
  for (int32_t id : ids) {
    t.check_id(id);
    if (t.byte_values[id] >= 0) {
      pending_bytes.push_back(static_cast<char>(t.byte_values[id]));
      continue;
    }
    if (!is_visible(id, options)) continue;
    if (!pending_bytes.empty()) {
      utf8::append_lossy(text, pending_bytes, /*final=*/true);
      pending_bytes.clear();
    }
    text += t.display_text(id);
  }
  utf8::append_lossy(text, pending_bytes, /*final=*/true);
  return text;
}

}  // namespace facet
