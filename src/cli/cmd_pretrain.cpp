// facet pretrain (--config GEN.json | --init MODEL) --data CORPUS --output DIR [flags]
// Full-parameter training of a Gemma 4 decoder on plain text (.txt: documents split at
// blank lines; .jsonl: {"text"} rows): from a random init described by a generator config
// (the `facet make-test-model` format: an HF text config plus "seed" and "vocab"), or from
// an existing model (continued pretraining). Windows of --max-seq-len tokens are packed,
// each document attending only to itself. Writes DIR/init.gguf (the random start),
// DIR/model.gguf (--outtype), training_log.jsonl and checkpoint-N folders that --resume
// continues exactly.
#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "cli/command.h"
#include "cli/training_flags.h"
#include "engine/model_files.h"
#include "model/random_model.h"
#include "train/full_model_export.h"
#include "train/packing.h"
#include "train/text_corpus.h"
#include "util/error.h"
#include "util/thread_pool.h"

namespace facet::cli {
namespace {

using namespace facet::train;

// Pretraining defaults: cosine schedule, a log line every 10 steps.
RunFlags pretrain_run_flags() {
  RunFlags flags;
  flags.logging_steps = 10;
  flags.lr_scheduler = "cosine";
  return flags;
}

struct PretrainArgs {
  std::string config, init, data, eval_file, output, outtype = "F32";
  bool save_hf = false;
  double eval_split = 0;
  int64_t max_seq_len = 256;
  TrainerOptions train{.lr = 1e-3, .batch_size = 4, .grad_accum = 1, .warmup_ratio = 0.02, .weight_decay = 0.01};
  RunFlags run = pretrain_run_flags();
};

// The model training starts from: a fresh random GGUF written from the config (the same
// file every time for one config, so --resume finds the run it belongs to), or --init.
std::string starting_model(const PretrainArgs& args) {
  if (!args.init.empty()) return args.init;
  GeneratorConfig g = load_generator_config(args.config);
  g.options.dtype = DType::F32;
  g.options.threads = args.run.threads;
  const std::string path = args.output + "/init.gguf";
  write_random_gguf(g.model, g.options, path);
  return path;
}

int run_pretrain(PretrainArgs& args) {
  require(args.config.empty() != args.init.empty(), "give --config GEN.json (train from a random init) or --init "
                                                    "MODEL (continue training a model), not both");
  require(args.eval_file.empty() || args.eval_split == 0, "give --eval-file or --eval-split, not both");
  require(args.eval_split >= 0 && args.eval_split < 1, "--eval-split must be in [0, 1)");
  args.train.scheduler = parse_lr_scheduler(args.run.lr_scheduler);
  std::filesystem::create_directories(args.output);

  const std::string start = starting_model(args);
  const Tokenizer tokenizer = load_model_tokenizer(start);
  std::unique_ptr<FullModel> full;
  {
    auto loaded = load_model(start);
    full = FullModel::copy_of(*loaded);
  }
  const ModelConfig& config = full->model().config;
  if (config.max_context > 0 && args.max_seq_len > config.max_context) {
    std::fprintf(stderr, "warning: --max-seq-len %lld is over the model's context; using %d\n",
                 static_cast<long long>(args.max_seq_len), config.max_context);
    args.max_seq_len = config.max_context;
  }

  CorpusReport report, eval_report;
  std::vector<SftExample> train = load_text_corpus(args.data, tokenizer, args.max_seq_len, &report);
  std::vector<SftExample> eval;
  if (!args.eval_file.empty()) eval = load_text_corpus(args.eval_file, tokenizer, args.max_seq_len, &eval_report);
  if (args.eval_split > 0) eval = split_off_eval(train, args.eval_split, args.train.seed);
  std::fprintf(stderr, "train data: %s\n", report.summary().c_str());
  if (!args.eval_file.empty()) std::fprintf(stderr, "eval data: %s\n", eval_report.summary().c_str());
  require(!train.empty(), args.data, ": no training windows (every document is under 2 tokens)");
  PackReport packed;
  train = pack_sft_examples(std::move(train), args.max_seq_len, args.train.seed, &packed);
  std::fprintf(stderr, "%s; %zu eval windows\n", packed.summary().c_str(), eval.size());

  ThreadPool pool(args.run.threads);
  Trainer trainer(*full, args.train, pool);
  trainer.set_data(std::move(train), std::move(eval));
  const RunOptions run = start_run(trainer, args.run, args.output);
  std::fprintf(stderr, "pretraining %lld parameters (%zu tensors) from %s: %lld steps (%lld warmup), %s\n",
               static_cast<long long>(full->parameter_count()), full->params().size(), start.c_str(),
               static_cast<long long>(trainer.total_steps()), static_cast<long long>(trainer.warmup_steps()),
               lr_scheduler_name(args.train.scheduler));
  const double eval_loss = run_training(trainer, run);
  const std::string written = export_trained_model(*full, args.output, args.outtype, args.save_hf, args.run.threads);
  if (std::isfinite(eval_loss))
    std::fprintf(stderr, "eval loss %.4f (perplexity %.2f per token)\n", eval_loss, std::exp(eval_loss));
  std::fprintf(stderr, "wrote %s, training_log.jsonl and checkpoint-%lld\n", written.c_str(),
               static_cast<long long>(trainer.step()));
  return 0;
}

const CommandRegistration kRegistration("pretrain", [](CLI::App& app) {
  auto a = std::make_shared<PretrainArgs>();
  CLI::App* cmd = app.add_subcommand("pretrain", "Train every weight of a Gemma 4 decoder on plain text");
  cmd->add_option("--config", a->config,
                  "Generator config (HF text config + \"seed\" + \"vocab\", as make-test-model reads): start "
                  "from its random init");
  cmd->add_option("--init", a->init, "Start from this model (.gguf or HF folder) instead");
  cmd->add_option("--data,--train-file", a->data, "Text corpus: .txt (documents split at blank lines) or "
                                                  ".jsonl ({\"text\"} rows)")->required();
  cmd->add_option("--eval-file", a->eval_file, "Held-out text (same format)");
  cmd->add_option("--eval-split", a->eval_split, "Hold out this fraction of the windows for eval");
  cmd->add_option("-o,--output,--output-dir", a->output, "Output folder")->required();
  cmd->add_option("--outtype", a->outtype, "Type of model.gguf's matrices (F32, F16, BF16, Q8_0, Q4_0, ...)")
      ->capture_default_str();
  cmd->add_flag("--save-hf", a->save_hf, "Also write OUTPUT/hf: a Hugging Face folder (config.json, safetensors, "
                                         "tokenizer)");
  cmd->add_option("--max-seq-len,--max-seq-length,--ctx-size", a->max_seq_len, "Tokens per training window")
      ->capture_default_str();
  add_optimizer_flags(cmd, a->train, a->run);
  add_run_flags(cmd, a->run);
  return [a] { return run_pretrain(*a); };
});

}  // namespace
}  // namespace facet::cli
