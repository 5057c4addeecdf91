// Prints a chat answer as it streams: the output parser splits the model's text into
// thinking and content; thinking goes dimmed (ANSI, when allowed) to its own stream or is
// hidden, content goes plain to the content stream. Tool calls (none are offered by the
// CLI, but a model may still write one) are shown as "[tool call NAME {json}]".
#pragma once

#include <cstdio>
#include <string>

#include "chat/output_parser.h"

namespace facet::cli {

struct AnswerStyle {
  std::FILE* content = stdout;
  std::FILE* thinking = stderr;  // nullptr: thinking is hidden
  bool dim_thinking = false;     // wrap thinking in ANSI dim
};

class AnswerPrinter {
 public:
  explicit AnswerPrinter(AnswerStyle style);
  ~AnswerPrinter();  // resets the terminal colour if still dimmed

  void feed(const std::string& piece);
  // Prints what the parser held back; `truncated`: the answer was cut short.
  void finish(bool truncated);
  const std::string& content() const { return content_; }  // the whole answer so far
  const std::string& thinking() const { return thinking_; }

 private:
  void print(const chat::OutputDelta& delta);
  void end_dim();

  AnswerStyle style_;
  chat::OutputParser parser_;
  bool dimmed_ = false;
  bool thinking_open_ = false;  // thinking printed and not yet followed by a newline
  std::string content_, thinking_;
};

}  // namespace facet::cli
