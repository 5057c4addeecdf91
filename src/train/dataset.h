// Training data for `facet finetune`: JSON-lines files in the formats TRL users have
// (finetune spec §5.2), tokenized with the model's tokenizer.
//
// SFT rows (first matching key wins):
//   {"messages": [{"role": "user", "content": ...}, {"role": "assistant", ...}, ...]}
//       rendered with the Gemma 4 chat template (no generation prompt, as TRL/Unsloth
//       render training conversations); loss on every assistant message's content and its
//       closing <turn|>, not on the "<|turn>model\n" header or anything else.
//   {"prompt": "..." | [messages], "completion": "..." | [messages]}
//       loss on the completion only (TRL's completion_only_loss). Strings: <bos> prompt
//       completion <eos>. Messages: the conversation prompt + completion, as above.
//   {"text": "..."}   <bos> text <eos>, loss on everything.
// Preference rows: {"prompt", "chosen", "rejected"}, each a string or a message list.
//
// `train_on_prompt` puts the loss on every token (but the first) instead.
// Malformed rows are errors naming the line (fatal by default, as `datasets`/TRL fail on a
// bad row); with `skip_bad_lines` they are reported and skipped.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "chat/chat_types.h"
#include "tokenizer/tokenizer.h"

namespace facet::train {

// One SFT sequence: tokens, and which of them carry loss (as labels: label[t] says the
// model is trained to predict tokens[t] from tokens[<t]).
struct SftExample {
  std::vector<int32_t> tokens;
  std::vector<uint8_t> trained;
  int64_t line = 0;  // 1-based line in the source file (packed: of its first example)
  // Packed sequences (train/packing.h): the token counts of the examples concatenated
  // here, in order; empty for a single example. Each example attends only to itself and
  // its positions start at 0, so the first token of each has no prediction target.
  std::vector<int64_t> segments;
  // targets[t] = tokens[t + 1] where that token is trained and in the same example as
  // tokens[t], else kIgnoreTarget.
  std::vector<int32_t> targets() const;
  int64_t n_targets() const;
};

// One preference pair: the shared prompt and the two completions (ids after the prompt).
struct PreferenceExample {
  std::vector<int32_t> prompt, chosen, rejected;
  int64_t line = 0;
};

enum class TooLong { Truncate, Skip };

struct DataOptions {
  bool train_on_prompt = false;
  int64_t max_seq_len = 512;
  TooLong too_long = TooLong::Truncate;  // keep the start (TRL's truncation_mode "keep_start")
  bool skip_bad_lines = false;
  chat::ChatRules rules = chat::ChatRules::Large;
};

struct DataReport {
  int64_t rows = 0;         // non-blank lines read
  int64_t bad_lines = 0;    // skipped with skip_bad_lines
  int64_t truncated = 0;
  int64_t skipped_long = 0;
  int64_t no_targets = 0;   // rows left with nothing to train on (dropped)
  std::vector<std::string> messages;  // one per skipped/bad line, for stderr
  std::string summary() const;
};

// Parses and tokenizes one row; throws Error (without the line number) on a bad row.
SftExample sft_example_from_json(const chat::Json& row, const Tokenizer& tokenizer, const DataOptions& options);
PreferenceExample preference_example_from_json(const chat::Json& row, const Tokenizer& tokenizer,
                                               const DataOptions& options);

std::vector<SftExample> load_sft_data(const std::string& path, const Tokenizer& tokenizer,
                                      const DataOptions& options, DataReport& report);
std::vector<PreferenceExample> load_preference_data(const std::string& path, const Tokenizer& tokenizer,
                                                    const DataOptions& options, DataReport& report);

// Moves a `fraction` of the examples (at least one, seeded shuffle) into an eval split.
template <typename Example>
std::vector<Example> split_off_eval(std::vector<Example>& train, double fraction, uint64_t seed);

}  // namespace facet::train
