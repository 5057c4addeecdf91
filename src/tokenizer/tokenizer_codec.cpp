// Encoding (special-token split, normalization, byte fallback, BPE) and decoding.
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
  auto encode_segment = [&](std::string_view segment) {
    if (segment.empty()) return;
    initial_symbols(t, segment, symbols);
    bpe_merge(symbols, t.merges, scratch, out);
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
