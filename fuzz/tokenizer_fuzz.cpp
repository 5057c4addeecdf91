// libFuzzer target: the Gemma 4 tokenizer (real vocabulary) on arbitrary bytes.
// Checks: no crash; for valid UTF-8 without U+2581, decode(encode(text)) == text; the
// streaming detokenizer gives exactly decode()'s text; decoding arbitrary ids is safe.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "tokenizer/streaming_detokenizer.h"
#include "tokenizer/tokenizer.h"
#include <cstring>
#include "util/error.h"

namespace {

const facet::Tokenizer& tokenizer() {
  // From the GGUF metadata: parsing the 13.6 MB tokenizer.json under ASan + coverage takes
  // over a minute, the GGUF's token arrays a few seconds. Same vocabulary (tested).
  static const facet::Tokenizer t =
      facet::Tokenizer::from_gguf(std::string(FACET_SHARED_DIR) + "/data/models/gemma4-tiny-realvocab-f16.gguf");
  return t;
}

bool valid_utf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    uint32_t cp = n == 1 ? c : c & (0x7f >> n);
    for (size_t k = 1; k < n; ++k) {
      const auto d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xc0) != 0x80) return false;
      cp = cp << 6 | (d & 0x3f);
    }
    const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += n;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const facet::Tokenizer& tok = tokenizer();
  const std::string text(reinterpret_cast<const char*>(data), size);
  const std::vector<int32_t> ids = tok.encode(text);
  const std::string decoded = tok.decode(ids);
  if (valid_utf8(text) && text.find("\xe2\x96\x81") == std::string::npos && decoded != text) std::abort();

  facet::StreamingDetokenizer stream(tok);
  std::string streamed;
  for (int32_t id : ids) streamed += stream.feed(id);
  streamed += stream.flush();
  if (streamed != decoded) std::abort();

  // Arbitrary ids (in and out of range): decode must either work or throw Error.
  std::vector<int32_t> raw;
  for (size_t i = 0; i + 4 <= size && raw.size() < 256; i += 4) {
    int32_t id;
    std::memcpy(&id, data + i, 4);
    raw.push_back(id % 300000);
  }
  try {
    tok.decode(raw);
  } catch (const facet::Error&) {
  }
  return 0;
}
