// facet train-tokenizer --data CORPUS [--data MORE] --vocab-size N --output tokenizer.json
// Learns a small BPE vocabulary in Gemma 4's format (tokenizer/bpe_trainer.h) from text
// files (.txt documents split at blank lines, or {"text"} JSONL) and writes it as a
// Hugging Face tokenizer.json, which `facet make-test-model` / `facet pretrain` configs take
// as "vocab": {"hf_tokenizer_json": PATH}.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>

#include "cli/command.h"
#include "tokenizer/bpe_trainer.h"
#include "train/checkpoint.h"
#include "train/text_corpus.h"
#include "util/error.h"

namespace facet::cli {
namespace {

struct TrainTokenizerArgs {
  std::vector<std::string> data;
  std::string output;
  BpeTrainerOptions options;
};

int run_train_tokenizer(const TrainTokenizerArgs& args) {
  std::vector<std::string> documents;
  for (const std::string& path : args.data)
    for (std::string& doc : train::read_text_documents(path)) documents.push_back(std::move(doc));
  BpeTrainerReport report;
  const TestVocabulary vocab = train_bpe_vocabulary(documents, args.options, &report);
  train::write_file_atomically(args.output, hf_tokenizer_json(vocab).dump(1) + "\n");
  std::fprintf(stderr,
               "%zu documents, %lld words (%lld distinct): %d characters and %d merges learned; wrote %s "
               "(%zu tokens)\n",
               documents.size(), static_cast<long long>(report.words), static_cast<long long>(report.unique_words),
               report.characters, report.merges, args.output.c_str(), vocab.tokens.size());
  return 0;
}

const CommandRegistration kRegistration("train-tokenizer", [](CLI::App& app) {
  auto a = std::make_shared<TrainTokenizerArgs>();
  CLI::App* cmd = app.add_subcommand("train-tokenizer", "Learn a small BPE vocabulary in Gemma 4's format");
  cmd->add_option("--data", a->data, "Text files (.txt documents split at blank lines, or {\"text\"} .jsonl)")
      ->required();
  cmd->add_option("--vocab-size", a->options.vocab_size, "Tokens in all (the first 494 are fixed)")
      ->capture_default_str();
  cmd->add_option("--min-char-count", a->options.min_char_count,
                  "Characters seen fewer times are left to byte fallback")->capture_default_str();
  cmd->add_option("-o,--output", a->output, "tokenizer.json to write")->required();
  return [a] { return run_train_tokenizer(*a); };
});

}  // namespace
}  // namespace facet::cli
