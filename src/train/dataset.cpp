// JSONL training data: row formats, chat rendering with assistant-only loss masks,
// truncation, bad-line handling, eval split.
#include "train/dataset.h"

#include <algorithm>
#include <fstream>
#include <random>

#include "chat/render.h"
#include "chat/render_request.h"
#include "train/train_model.h"
#include "util/error.h"

namespace facet::train {
namespace {

using chat::Json;

constexpr std::string_view kModelHeader = "<|turn>model\n";
constexpr std::string_view kEndOfTurn = "<turn|>";

bool starts_with(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() && text.compare(0, prefix.size(), prefix) == 0;
}

// A conversation rendered as one text, with the character spans that carry the loss.
struct RenderedChat {
  std::string text;
  std::vector<std::pair<size_t, size_t>> trained_spans;
};

chat::RenderRequest request_of(const Json& messages, const char* field) {
  require(messages.is_array() && !messages.empty(), "'", field, "' must be a non-empty list of messages");
  Json body = Json::object();
  body["messages"] = messages;
  chat::RenderRequest request = chat::render_request_from_json(body);
  request.add_generation_prompt = false;
  return request;
}

std::string render_first(const chat::RenderRequest& all, size_t count, chat::ChatRules rules) {
  if (count == 0) return "<bos>";
  chat::RenderRequest part = all;
  part.messages.resize(count);
  return chat::render_chat(part, rules);
}

// Renders `request`; the assistant messages at index >= first_trained are trained: their
// content and closing <turn|> (the model must learn to stop), not their "<|turn>model\n"
// header nor the newline after <turn|>. Spans are found by rendering prefixes of the
// conversation, which must be prefixes of the whole text.
RenderedChat render_with_spans(const chat::RenderRequest& request, size_t first_trained, chat::ChatRules rules) {
  RenderedChat out;
  out.text = chat::render_chat(request, rules);
  for (size_t i = first_trained; i < request.messages.size(); ++i) {
    if (request.messages[i].role != chat::Role::Assistant) continue;
    const std::string head = render_first(request, i, rules) + std::string(kModelHeader);
    const std::string upto = render_first(request, i + 1, rules);
    require(starts_with(out.text, head) && starts_with(out.text, upto) && upto.size() >= head.size(),
            "cannot find assistant message ", i + 1, " in the rendered conversation");
    size_t end = upto.size();
    while (end > head.size() && out.text[end - 1] == '\n') --end;
    require(std::string_view(out.text).substr(0, end).ends_with(kEndOfTurn), "assistant message ", i + 1,
            " does not end with <turn|> in the rendered conversation");
    out.trained_spans.emplace_back(head.size(), end);
  }
  return out;
}

size_t common_prefix(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
  size_t n = 0;
  while (n < a.size() && n < b.size() && a[n] == b[n]) ++n;
  return n;
}

// Tokenizes a rendered chat and marks the tokens inside the trained spans. A span
// boundary that falls inside a token (BPE merged across it) marks that token trained.
SftExample tokenize_chat(const RenderedChat& chat, const Tokenizer& tokenizer) {
  SftExample ex;
  ex.tokens = tokenizer.encode(chat.text);
  ex.trained.assign(ex.tokens.size(), 0);
  for (auto [begin, end] : chat.trained_spans) {
    const std::string_view text(chat.text);
    const size_t t0 = common_prefix(tokenizer.encode(text.substr(0, begin)), ex.tokens);
    const std::vector<int32_t> upto_end = tokenizer.encode(text.substr(0, end));
    const size_t whole = common_prefix(upto_end, ex.tokens);
    // A token that straddles `end` (BPE merged across it) is trained too.
    const size_t stop = std::min(ex.tokens.size(), whole + (upto_end.size() > whole ? 1 : 0));
    for (size_t t = t0; t < stop; ++t) ex.trained[t] = 1;
  }
  return ex;
}

const Json* field(const Json& row, const char* key) {
  auto it = row.find(key);
  return it == row.end() || it->is_null() ? nullptr : &*it;
}

std::string string_field(const Json& value, const char* key) {
  require(value.is_string(), "'", key, "' must be a string or a list of messages");
  return value.get<std::string>();
}

SftExample string_pair(const std::string& prompt, const std::string& completion, const Tokenizer& tokenizer,
                       bool add_eos) {
  EncodeOptions bos;
  bos.add_bos = true;
  SftExample ex;
  ex.tokens = tokenizer.encode(prompt + completion, bos);
  if (add_eos) ex.tokens.push_back(tokenizer.eos_id());
  const size_t n_prompt = prompt.empty() ? 1 : common_prefix(tokenizer.encode(prompt, bos), ex.tokens);
  ex.trained.assign(ex.tokens.size(), 0);
  for (size_t t = std::max<size_t>(n_prompt, 1); t < ex.tokens.size(); ++t) ex.trained[t] = 1;
  return ex;
}

// The completion text after a chat prompt: what the template renders for the
// completion's messages, up to and including its last <turn|>.
std::string chat_completion_text(const Json& prompt, const Json& completion, const char* key,
                                 chat::ChatRules rules, std::string& prompt_text) {
  require(completion.is_array(), "'", key, "' must be a list of messages when 'prompt' is one");
  Json all = prompt;
  for (const Json& m : completion) all.push_back(m);
  const chat::RenderRequest request = request_of(all, key);
  const std::string full = chat::render_chat(request, rules);
  prompt_text = render_first(request, prompt.size(), rules) + std::string(kModelHeader);
  require(starts_with(full, prompt_text), "'", key, "' must start with an assistant message");
  std::string text = full.substr(prompt_text.size());
  while (!text.empty() && text.back() == '\n') text.pop_back();
  return text;
}

template <typename Example, typename Parse>
std::vector<Example> load_lines(const std::string& path, const DataOptions& options, DataReport& report,
                                Parse parse) {
  std::ifstream in(path, std::ios::binary);
  require(in.good(), "cannot open the data file ", path);
  std::vector<Example> examples;
  std::string line;
  for (int64_t number = 1; std::getline(in, line); ++number) {
    if (number == 1 && starts_with(line, "\xEF\xBB\xBF")) line.erase(0, 3);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    ++report.rows;
    try {
      Json row;
      try {
        row = Json::parse(line);
      } catch (const std::exception& e) {
        fail("not valid JSON (", e.what(), ")");
      }
      require(row.is_object(), "a row must be a JSON object");
      // parse() returns false when the row is dropped (too long, nothing to train on).
      Example ex;
      if (parse(row, ex, number)) {
        ex.line = number;
        examples.push_back(std::move(ex));
      }
    } catch (const std::exception& e) {
      const std::string message = str_cat(path, ":", number, ": ", e.what());
      if (!options.skip_bad_lines) fail(message, " (use --skip-bad-lines to skip such lines)");
      ++report.bad_lines;
      report.messages.push_back("skipped " + message);
    }
  }
  require(!in.bad(), "error reading ", path);
  return examples;
}

// 1 where a token opens an example (position 0 of the sequence and, when packed, the
// first token of every later example): nothing before it in its example predicts it.
std::vector<uint8_t> example_starts(const SftExample& ex) {
  std::vector<uint8_t> starts(ex.tokens.size(), 0);
  if (!starts.empty()) starts[0] = 1;
  size_t at = 0;
  for (int64_t length : ex.segments) {
    if (at < starts.size()) starts[at] = 1;
    at += static_cast<size_t>(length);
  }
  return starts;
}

}  // namespace

std::vector<int32_t> SftExample::targets() const {
  const std::vector<uint8_t> starts = example_starts(*this);
  std::vector<int32_t> t(tokens.size(), kIgnoreTarget);
  for (size_t i = 0; i + 1 < tokens.size(); ++i)
    if (trained[i + 1] && !starts[i + 1]) t[i] = tokens[i + 1];
  return t;
}

int64_t SftExample::n_targets() const {
  const std::vector<uint8_t> starts = example_starts(*this);
  int64_t n = 0;
  for (size_t i = 0; i < trained.size(); ++i) n += trained[i] && !starts[i];
  return n;
}

std::string DataReport::summary() const {
  return str_cat(rows, " rows, ", bad_lines, " bad lines skipped, ", truncated, " truncated, ", skipped_long,
                 " too long and skipped, ", no_targets, " without trainable tokens");
}

SftExample sft_example_from_json(const Json& row, const Tokenizer& tokenizer, const DataOptions& options) {
  SftExample ex;
  if (const Json* messages = field(row, "messages")) {
    ex = tokenize_chat(render_with_spans(request_of(*messages, "messages"), 0, options.rules), tokenizer);
  } else if (const Json* prompt = field(row, "prompt")) {
    const Json* completion = field(row, "completion");
    require(completion != nullptr, "a row with 'prompt' needs 'completion' (or use 'messages' or 'text')");
    if (prompt->is_array()) {
      require(completion->is_array(), "'completion' must be a list of messages when 'prompt' is one");
      Json all = *prompt;
      for (const Json& m : *completion) all.push_back(m);
      ex = tokenize_chat(render_with_spans(request_of(all, "prompt"), prompt->size(), options.rules), tokenizer);
    } else {
      ex = string_pair(string_field(*prompt, "prompt"), string_field(*completion, "completion"), tokenizer, true);
    }
  } else if (const Json* text = field(row, "text")) {
    ex = string_pair("", string_field(*text, "text"), tokenizer, true);
  } else {
    fail("a row needs 'messages', 'prompt' + 'completion', or 'text'");
  }
  if (options.train_on_prompt) std::fill(ex.trained.begin() + 1, ex.trained.end(), 1);
  return ex;
}

PreferenceExample preference_example_from_json(const Json& row, const Tokenizer& tokenizer,
                                               const DataOptions& options) {
  const Json* prompt = field(row, "prompt");
  const Json* chosen = field(row, "chosen");
  const Json* rejected = field(row, "rejected");
  require(prompt && chosen && rejected, "a preference row needs 'prompt', 'chosen' and 'rejected'");
  PreferenceExample ex;
  if (prompt->is_array()) {
    std::string prompt_text;
    const std::string c = chat_completion_text(*prompt, *chosen, "chosen", options.rules, prompt_text);
    const std::string r = chat_completion_text(*prompt, *rejected, "rejected", options.rules, prompt_text);
    ex.prompt = tokenizer.encode(prompt_text);
    ex.chosen = tokenizer.encode(c);
    ex.rejected = tokenizer.encode(r);
  } else {
    // As TRL: prompt with <bos>, each completion tokenized on its own, then <eos>.
    EncodeOptions bos;
    bos.add_bos = true;
    ex.prompt = tokenizer.encode(string_field(*prompt, "prompt"), bos);
    ex.chosen = tokenizer.encode(string_field(*chosen, "chosen"));
    ex.rejected = tokenizer.encode(string_field(*rejected, "rejected"));
    ex.chosen.push_back(tokenizer.eos_id());
    ex.rejected.push_back(tokenizer.eos_id());
  }
  require(!ex.chosen.empty() && !ex.rejected.empty(), "'chosen' and 'rejected' must not be empty");
  return ex;
}

std::vector<SftExample> load_sft_data(const std::string& path, const Tokenizer& tokenizer,
                                      const DataOptions& options, DataReport& report) {
  require(options.max_seq_len >= 2, "--max-seq-len must be at least 2");
  return load_lines<SftExample>(path, options, report, [&](const Json& row, SftExample& ex, int64_t line) {
    ex = sft_example_from_json(row, tokenizer, options);
    if (static_cast<int64_t>(ex.tokens.size()) > options.max_seq_len) {
      if (options.too_long == TooLong::Skip) {
        ++report.skipped_long;
        report.messages.push_back(str_cat(path, ":", line, ": ", ex.tokens.size(), " tokens > --max-seq-len ",
                                          options.max_seq_len, ", skipped"));
        return false;
      }
      ++report.truncated;
      ex.tokens.resize(static_cast<size_t>(options.max_seq_len));
      ex.trained.resize(ex.tokens.size());
    }
    if (ex.n_targets() == 0) {
      ++report.no_targets;
      report.messages.push_back(str_cat(path, ":", line, ": no tokens to train on (after truncation), skipped"));
      return false;
    }
    return true;
  });
}

std::vector<PreferenceExample> load_preference_data(const std::string& path, const Tokenizer& tokenizer,
                                                    const DataOptions& options, DataReport& report) {
  require(options.max_seq_len >= 2, "--max-seq-len must be at least 2");
  return load_lines<PreferenceExample>(path, options, report, [&](const Json& row, PreferenceExample& ex,
                                                                  int64_t line) {
    ex = preference_example_from_json(row, tokenizer, options);
    const int64_t longest = static_cast<int64_t>(ex.prompt.size() + std::max(ex.chosen.size(), ex.rejected.size()));
    if (longest <= options.max_seq_len) return true;
    const int64_t room = options.max_seq_len - static_cast<int64_t>(ex.prompt.size());
    if (options.too_long == TooLong::Skip || room < 1) {
      ++report.skipped_long;
      report.messages.push_back(str_cat(path, ":", line, ": ", longest, " tokens > --max-seq-len ",
                                        options.max_seq_len, ", skipped"));
      return false;
    }
    ++report.truncated;
    for (auto* c : {&ex.chosen, &ex.rejected})
      if (static_cast<int64_t>(c->size()) > room) c->resize(static_cast<size_t>(room));
    return true;
  });
}

template <typename Example>
std::vector<Example> split_off_eval(std::vector<Example>& train, double fraction, uint64_t seed) {
  require(fraction > 0 && fraction < 1, "--eval-split must be between 0 and 1");
  require(train.size() >= 2, "--eval-split needs at least 2 examples");
  std::vector<size_t> order(train.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::mt19937_64 rng(seed ^ 0x5eed5eedull);
  std::shuffle(order.begin(), order.end(), rng);
  const size_t n_eval = std::clamp<size_t>(static_cast<size_t>(fraction * static_cast<double>(train.size()) + 0.5),
                                           1, train.size() - 1);
  std::vector<uint8_t> is_eval(train.size(), 0);
  for (size_t i = 0; i < n_eval; ++i) is_eval[order[i]] = 1;
  std::vector<Example> eval, kept;
  for (size_t i = 0; i < train.size(); ++i) (is_eval[i] ? eval : kept).push_back(std::move(train[i]));
  train = std::move(kept);
  return eval;
}

template std::vector<SftExample> split_off_eval(std::vector<SftExample>&, double, uint64_t);
template std::vector<PreferenceExample> split_off_eval(std::vector<PreferenceExample>&, double, uint64_t);

}  // namespace facet::train
