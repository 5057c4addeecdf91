// libFuzzer target: the streaming model-output parser. Whatever the model emits, the parser
// must not crash, and feeding the output whole or in arbitrary pieces must give the same
// thinking, content and tool calls.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "chat/output_parser.h"

namespace {

struct Collected {
  std::string thinking, content, calls;
  void add(const facet::chat::OutputDelta& d) {
    thinking += d.thinking;
    content += d.content;
    for (const auto& c : d.tool_calls) calls += c.name + "(" + c.arguments.dump() + ")";
  }
  bool operator==(const Collected& o) const { return thinking == o.thinking && content == o.content && calls == o.calls; }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  // Byte 0 seeds the chunking, byte 1 picks the options and truncation; the rest is output.
  const unsigned seed = data[0];
  const bool truncated = data[1] & 1, no_opener_calls = data[1] & 2;
  const std::string text(reinterpret_cast<const char*>(data + 2), size - 2);
  facet::chat::OutputParserOptions options;
  options.calls_without_opener = !no_opener_calls;

  Collected whole, pieces;
  {
    facet::chat::OutputParser p(options);
    whole.add(p.feed(text));
    whole.add(p.finish(truncated));
  }
  {
    facet::chat::OutputParser p(options);
    size_t at = 0, step = 0;
    while (at < text.size()) {
      size_t n = 1 + (seed * 7 + step * 13) % 9;
      pieces.add(p.feed(std::string_view(text).substr(at, n)));
      at += n;
      ++step;
    }
    pieces.add(p.finish(truncated));
  }
  if (!(whole == pieces)) std::abort();
  return 0;
}
