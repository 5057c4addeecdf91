#include "cli/answer_printer.h"

namespace facet::cli {
namespace {

constexpr const char* kDim = "\x1b[2m";
constexpr const char* kReset = "\x1b[0m";

void write(std::FILE* stream, const std::string& text) {
  if (stream == nullptr || text.empty()) return;
  std::fwrite(text.data(), 1, text.size(), stream);
  std::fflush(stream);
}

}  // namespace

// The CLI offers no tools, so "call:NAME{" at the start of an answer stays text.
AnswerPrinter::AnswerPrinter(AnswerStyle style) : style_(style), parser_({.calls_without_opener = false}) {}

AnswerPrinter::~AnswerPrinter() { end_dim(); }

void AnswerPrinter::end_dim() {
  if (!dimmed_) return;
  write(style_.thinking, kReset);
  dimmed_ = false;
}

void AnswerPrinter::print(const chat::OutputDelta& delta) {
  if (!delta.thinking.empty()) {
    thinking_ += delta.thinking;
    if (style_.thinking != nullptr) {
      if (style_.dim_thinking && !dimmed_) {
        write(style_.thinking, kDim);
        dimmed_ = true;
      }
      write(style_.thinking, delta.thinking);
      thinking_open_ = delta.thinking.back() != '\n';
    }
  }
  std::string text = delta.content;
  for (const auto& call : delta.tool_calls) text += "[tool call " + call.name + " " + call.arguments.dump() + "]";
  if (text.empty()) return;
  end_dim();
  // Thinking and answer on one stream: keep the answer on a line of its own.
  if (thinking_open_ && style_.thinking == style_.content) write(style_.content, "\n");
  thinking_open_ = false;
  content_ += text;
  write(style_.content, text);
}

void AnswerPrinter::feed(const std::string& piece) { print(parser_.feed(piece)); }

void AnswerPrinter::finish(bool truncated) {
  print(parser_.finish(truncated));
  end_dim();
}

}  // namespace facet::cli
