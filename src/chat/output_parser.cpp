#include "chat/output_parser.h"

#include <utility>

namespace facet::chat {

namespace {

constexpr std::string_view kChannelOpen = "<|channel>";
constexpr std::string_view kChannelClose = "<channel|>";
constexpr std::string_view kCallOpen = "<|tool_call>";
constexpr std::string_view kCallClose = "<tool_call|>";
constexpr std::string_view kToolResponse = "<|tool_response>";
constexpr std::string_view kTurnEnd = "<turn|>";
constexpr std::string_view kTurnStart = "<|turn>";
constexpr std::string_view kEos = "<eos>";
constexpr std::string_view kQuote = "<|\"|>";
constexpr std::string_view kMarkers[] = {kChannelOpen, kChannelClose, kCallOpen, kCallClose, kToolResponse,
                                         kTurnEnd,     kTurnStart,    kEos,      kQuote};
constexpr std::string_view kThoughtHeader = "thought\n";
constexpr std::string_view kBareCall = "call:";

// Returned by a step that needs more input before it can decide.
constexpr size_t kHold = std::string_view::npos;

enum class Match { None, Partial, Full };

// Whether `text` starts with a marker (Full, stored in `marker`) or is cut off inside one
// (Partial: the next piece decides).
Match match_marker(std::string_view text, std::string_view& marker) {
  bool partial = false;
  for (std::string_view candidate : kMarkers) {
    if (text.substr(0, candidate.size()) == candidate) {
      marker = candidate;
      return Match::Full;
    }
    if (text.size() < candidate.size() && candidate.substr(0, text.size()) == text) partial = true;
  }
  return partial ? Match::Partial : Match::None;
}

// Tokens after which the model's turn is over.
bool ends_turn(std::string_view marker) {
  return marker == kToolResponse || marker == kTurnEnd || marker == kTurnStart || marker == kEos;
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
         c == '.';
}

// `call:NAME{` — a call written without its <|tool_call> opener.
Match match_bare_call(std::string_view text) {
  size_t n = std::min(text.size(), kBareCall.size());
  if (text.substr(0, n) != kBareCall.substr(0, n)) return Match::None;
  size_t i = kBareCall.size();
  if (text.size() <= i) return Match::Partial;
  while (i < text.size() && is_name_char(text[i])) ++i;
  if (i == text.size()) return Match::Partial;
  return (text[i] == '{' && i > kBareCall.size()) ? Match::Full : Match::None;
}

}  // namespace

OutputParser::OutputParser(OutputParserOptions options) : options_(options) {}

OutputDelta OutputParser::feed(std::string_view piece) {
  if (mode_ == Mode::Done) return {};
  pending_ += piece;
  process(/*final=*/false);
  return std::exchange(delta_, {});
}

OutputDelta OutputParser::finish(bool truncated) {
  if (mode_ != Mode::Done) {
    process(/*final=*/true);
    if (mode_ == Mode::Call) end_call(/*repair=*/!truncated, "");
  }
  mode_ = Mode::Done;
  pending_.clear();
  return std::exchange(delta_, {});
}

void OutputParser::process(bool final) {
  size_t pos = 0;
  while (pos < pending_.size() && mode_ != Mode::Done) {
    size_t next = kHold;
    switch (mode_) {
      case Mode::Answer: next = step_answer(pos, final); break;
      case Mode::Thought: next = step_thought(pos, final); break;
      case Mode::Call: next = step_call(pos, final); break;
      case Mode::Done: break;
    }
    if (next == kHold) break;
    pos = next;  // a step that consumes nothing has changed the mode
  }
  pending_.erase(0, pos);
  if (mode_ == Mode::Done) pending_.clear();
}

// At the start of the answer: whitespace waits until we know whether content, a marker or
// a call without opener follows (whitespace before a marker or a call is dropped).
size_t OutputParser::skip_answer_start(size_t pos, bool final, bool& hold) {
  size_t p = pos;
  while (p < pending_.size() && is_space(pending_[p])) ++p;
  if (p == pending_.size()) {
    hold = !final;
    return final ? p : pos;
  }
  std::string_view rest = std::string_view(pending_).substr(p);
  std::string_view marker;
  Match match = rest[0] == '<' ? match_marker(rest, marker)
                               : (options_.calls_without_opener ? match_bare_call(rest) : Match::None);
  if (match == Match::Partial && !final) {
    hold = true;
    return pos;
  }
  if (match == Match::Full && rest[0] == '<' && marker != kQuote) return p;
  if (match == Match::Full && rest[0] != '<') {
    start_call(/*has_opener=*/false);
    return p;
  }
  at_answer_start_ = false;
  return pos;
}

size_t OutputParser::step_answer(size_t pos, bool final) {
  if (at_answer_start_) {
    bool hold = false;
    pos = skip_answer_start(pos, final, hold);
    if (hold) return kHold;
    if (mode_ != Mode::Answer || pos == pending_.size()) return pos;
  }
  std::string_view rest = std::string_view(pending_).substr(pos);
  if (rest[0] != '<') {
    size_t length = std::min(rest.find('<'), rest.size());
    delta_.content.append(rest.substr(0, length));
    at_answer_start_ = false;
    return pos + length;
  }
  std::string_view marker;
  Match match = match_marker(rest, marker);
  if (match == Match::Partial && !final) return kHold;
  if (match != Match::Full || marker == kQuote) {
    size_t length = match == Match::Full ? marker.size() : 1;
    delta_.content.append(rest.substr(0, length));
    at_answer_start_ = false;
    return pos + length;
  }
  if (marker == kChannelOpen) {
    mode_ = Mode::Thought;
    thought_header_ = true;
  } else if (marker == kCallOpen) {
    start_call(/*has_opener=*/true);
  } else if (marker == kChannelClose || marker == kCallClose) {
    at_answer_start_ = true;  // a stray closer: dropped
  } else if (ends_turn(marker)) {
    mode_ = Mode::Done;
  }
  return pos + marker.size();
}

size_t OutputParser::step_thought(size_t pos, bool final) {
  std::string_view rest = std::string_view(pending_).substr(pos);
  if (thought_header_) {
    if (rest.substr(0, kThoughtHeader.size()) == kThoughtHeader) {
      thought_header_ = false;
      return pos + kThoughtHeader.size();
    }
    if (rest.size() < kThoughtHeader.size() && kThoughtHeader.substr(0, rest.size()) == rest && !final)
      return kHold;
    thought_header_ = false;
    // "thought" right before a marker (an empty thought without the newline) or at the end.
    std::string_view name = kThoughtHeader.substr(0, kThoughtHeader.size() - 1);
    if (rest.substr(0, name.size()) == name && (rest.size() == name.size() || rest[name.size()] == '<'))
      return pos + name.size();
  }
  if (rest[0] != '<') {
    size_t length = std::min(rest.find('<'), rest.size());
    delta_.thinking.append(rest.substr(0, length));
    return pos + length;
  }
  std::string_view marker;
  Match match = match_marker(rest, marker);
  if (match == Match::Partial && !final) return kHold;
  if (match != Match::Full || marker == kQuote) {
    size_t length = match == Match::Full ? marker.size() : 1;
    delta_.thinking.append(rest.substr(0, length));
    return pos + length;
  }
  if (marker == kChannelClose) {
    mode_ = Mode::Answer;
    at_answer_start_ = true;
  } else if (marker == kCallOpen) {
    start_call(/*has_opener=*/true);  // the thought was never closed: the call ends it
  } else if (marker == kChannelOpen) {
    thought_header_ = true;  // re-opened inside the thought: dropped
  } else if (ends_turn(marker)) {
    mode_ = Mode::Done;
  }
  return pos + marker.size();
}

size_t OutputParser::step_call(size_t pos, bool final) {
  std::string_view rest = std::string_view(pending_).substr(pos);
  if (rest[0] == '<') {
    std::string_view marker;
    Match match = match_marker(rest, marker);
    if (match == Match::Partial && !final) return kHold;
    if (match != Match::Full) {
      call_text_ += '<';
      track_call_char('<');
      return pos + 1;
    }
    if (marker == kQuote) {
      call_text_ += marker;
      if (!call_in_json_string_) call_in_gemma_string_ = !call_in_gemma_string_;
      return pos + marker.size();
    }
    if (marker == kCallClose) {
      end_call(/*repair=*/true, marker);
      return pos + marker.size();
    }
    end_call(/*repair=*/true, "");  // any other marker ends the call; the answer reads it
    return pos;
  }
  size_t i = pos;
  while (i < pending_.size() && pending_[i] != '<') {
    char c = pending_[i++];
    call_text_ += c;
    track_call_char(c);
    // Without an opener there is no closing token either: the balanced brace ends the call.
    if (!call_has_opener_ && call_opened_ && call_depth_ <= 0) {
      end_call(/*repair=*/false, "");
      break;
    }
  }
  return i;
}

void OutputParser::track_call_char(char c) {
  if (call_in_gemma_string_) return;
  if (call_in_json_string_) {
    if (call_escape_) {
      call_escape_ = false;
    } else if (c == '\\') {
      call_escape_ = true;
    } else if (c == '"') {
      call_in_json_string_ = false;
    }
    return;
  }
  if (c == '"') {
    call_in_json_string_ = true;
  } else if (c == '{' || c == '[') {
    ++call_depth_;
    call_opened_ = true;
  } else if (c == '}' || c == ']') {
    --call_depth_;
  }
}

void OutputParser::start_call(bool has_opener) {
  mode_ = Mode::Call;
  call_text_.clear();
  call_has_opener_ = has_opener;
  call_depth_ = 0;
  call_opened_ = false;
  call_in_gemma_string_ = call_in_json_string_ = call_escape_ = false;
}

void OutputParser::end_call(bool repair, std::string_view closing_marker) {
  if (auto call = parse_tool_call(call_text_, repair)) {
    delta_.tool_calls.push_back(std::move(*call));
  } else {
    // Not readable as a call: the client gets the text exactly as the model wrote it.
    if (call_has_opener_) delta_.content += kCallOpen;
    delta_.content += call_text_;
    delta_.content += closing_marker;
  }
  call_text_.clear();
  mode_ = Mode::Answer;
  at_answer_start_ = true;
}

}  // namespace facet::chat
