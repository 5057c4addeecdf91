// Splits a Gemma 4 model's output, as it streams, into thinking, answer content and tool
// calls. Pieces are detokenized text with special tokens written out (<|channel>,
// <|tool_call>, <|"|> ...); a piece may end in the middle of a marker, which is then held
// back until the next piece decides it. The concatenated deltas do not depend on how the
// output was split.
//
// What it understands:
//   <|channel>thought\n ... <channel|>      thinking (the "thought" header is dropped)
//   <|tool_call>call:NAME{...}<tool_call|>  a tool call, several per turn
//   call:NAME{...} at the start of the answer, without the opener (models do this right
//                                           after the thought block)
//   <|tool_response> <turn|> <|turn> <eos>  end of the model's turn; the rest is ignored
// It never fails: a call that cannot be read is returned as content, verbatim.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "chat/tool_call_syntax.h"

namespace facet::chat {

struct OutputDelta {
  std::string thinking;
  std::string content;
  std::vector<ParsedToolCall> tool_calls;  // complete calls, in output order

  bool empty() const { return thinking.empty() && content.empty() && tool_calls.empty(); }
};

struct OutputParserOptions {
  // Read `call:NAME{` at the start of the answer as a call even without <|tool_call>.
  // Turn off when no tools were offered, so such text stays content.
  bool calls_without_opener = true;
};

class OutputParser {
 public:
  explicit OutputParser(OutputParserOptions options = {});

  // Takes the next piece of output; returns what it completes.
  OutputDelta feed(std::string_view piece);

  // Ends the output and returns what was held back. `truncated`: the stream was cut (token
  // limit), so a call still open is returned as content instead of being repaired. Later
  // feed() calls are ignored.
  OutputDelta finish(bool truncated = false);

 private:
  enum class Mode { Answer, Thought, Call, Done };

  void process(bool final);
  size_t step_answer(size_t pos, bool final);
  size_t step_thought(size_t pos, bool final);
  size_t step_call(size_t pos, bool final);
  size_t skip_answer_start(size_t pos, bool final, bool& hold);
  void start_call(bool has_opener);
  void end_call(bool repair, std::string_view closing_marker);
  void track_call_char(char c);

  OutputParserOptions options_;
  Mode mode_ = Mode::Answer;
  std::string pending_;       // input not yet decided (a marker may be starting)
  OutputDelta delta_;         // what the current feed() returns
  bool at_answer_start_ = true;   // nothing but whitespace since the answer (re)started
  bool thought_header_ = false;   // right after <|channel>: "thought\n" is still to come
  // The call being read.
  std::string call_text_;
  bool call_has_opener_ = false;
  int call_depth_ = 0;             // brackets open outside strings (ends a call without opener)
  bool call_opened_ = false;       // its argument brace has been seen
  bool call_in_gemma_string_ = false;
  bool call_in_json_string_ = false;
  bool call_escape_ = false;
};

}  // namespace facet::chat
