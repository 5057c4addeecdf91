// facet ngram-baseline --vocab MODEL --train TRAIN.txt --test TEST.txt [--order 5]
//                      [--max-seq-len 256]
// The held-out perplexity of an interpolated modified Kneser-Ney n-gram model
// (train/kneser_ney.h) trained on TRAIN's documents with MODEL's tokenizer, scored on the
// same windows and targets that `facet pretrain --eval-file TEST --max-seq-len N` scores a
// model on: the baseline a trained model has to beat.
#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdio>

#include "cli/command.h"
#include "engine/model_files.h"
#include "train/kneser_ney.h"
#include "train/text_corpus.h"
#include "util/error.h"

namespace facet::cli {
namespace {

struct NgramArgs {
  std::string vocab, train, test;
  int order = 5;
  int64_t max_seq_len = 256;
  bool json = false;
};

int run_ngram(const NgramArgs& args) {
  const Tokenizer tok = load_model_tokenizer(args.vocab);
  train::KneserNeyModel model(args.order, tok.vocab_size(), tok.bos_id());
  int64_t train_tokens = 0;
  for (const std::string& doc : train::read_text_documents(args.train)) {
    EncodeOptions bos;
    bos.add_bos = true;
    std::vector<int32_t> ids = tok.encode(doc, bos);
    ids.push_back(tok.eos_id());
    train_tokens += static_cast<int64_t>(ids.size());
    model.add(ids);
  }
  model.finish();
  double nll = 0;
  int64_t targets = 0;
  for (const train::SftExample& window : train::load_text_corpus(args.test, tok, args.max_seq_len)) {
    nll += model.negative_log_likelihood(window.tokens);
    targets += static_cast<int64_t>(window.tokens.size()) - 1;
  }
  require(targets > 0, args.test, ": nothing to score");
  const double mean = nll / static_cast<double>(targets);
  if (args.json) {
    std::printf("{\"order\": %d, \"train_tokens\": %lld, \"test_targets\": %lld, \"loss\": %.6f, \"perplexity\": %.4f}\n",
                args.order, static_cast<long long>(train_tokens), static_cast<long long>(targets), mean,
                std::exp(mean));
  } else {
    std::printf("Kneser-Ney %d-gram: %lld training tokens, %lld n-gram types; %lld held-out targets: loss %.4f "
                "nats/token, perplexity %.2f\n",
                args.order, static_cast<long long>(train_tokens), static_cast<long long>(model.ngram_types()),
                static_cast<long long>(targets), mean, std::exp(mean));
  }
  return 0;
}

const CommandRegistration kRegistration("ngram-baseline", [](CLI::App& app) {
  auto a = std::make_shared<NgramArgs>();
  CLI::App* cmd = app.add_subcommand("ngram-baseline", "Held-out perplexity of a Kneser-Ney n-gram baseline");
  cmd->add_option("--vocab", a->vocab, "Model (.gguf / HF folder) whose tokenizer to use")->required();
  cmd->add_option("--train", a->train, "Training text (.txt documents split at blank lines, or {\"text\"} .jsonl)")
      ->required();
  cmd->add_option("--test", a->test, "Held-out text (same format)")->required();
  cmd->add_option("--order", a->order, "n-gram order")->capture_default_str();
  cmd->add_option("--max-seq-len", a->max_seq_len, "Window length, as given to facet pretrain")->capture_default_str();
  cmd->add_flag("--json", a->json, "One JSON object on stdout");
  return [a] { return run_ngram(*a); };
});

}  // namespace
}  // namespace facet::cli
