// facet finetune MODEL --data train.jsonl --output DIR [--method sft|dpo|orpo] [LoRA,
// optimizer, schedule, data and checkpoint flags named as in TRL / PEFT / Unsloth]
// [--packing: SFT examples first-fit packed into --max-seq-len sequences, each example
// still attending only to itself (train/packing.h)]
// [--full: every weight trained in f32, written as DIR/model.gguf (and DIR/hf with --save-hf)]
// Trains a LoRA adapter on the frozen model; writes DIR/adapter_config.json +
// DIR/adapter_model.safetensors (PEFT), DIR/adapter.gguf (llama.cpp), DIR/training_log.jsonl
// and checkpoint-N folders (every --save-steps and at the end).
#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "cli/command.h"
#include "cli/training_flags.h"
#include "engine/model_files.h"
#include "train/adapter_io.h"
#include "train/full_model_export.h"
#include "train/packing.h"
#include "train/training_run.h"
#include "util/error.h"
#include "util/thread_pool.h"

namespace facet::cli {
namespace {

using namespace facet::train;

struct FinetuneArgs {
  std::string model, data, eval_file, output, method = "sft", target_modules = "all-linear";
  std::string outtype = "F32";
  double eval_split = 0;
  LoraConfig lora{.rank = 8, .alpha = 16};
  TrainerOptions train;
  DataOptions data_options;
  RunFlags run;
  bool skip_long = false, packing = false, full = false, save_hf = false;
};

std::vector<LoraTarget> parse_targets(const std::string& text) {
  if (text == "all-linear" || text == "all_linear")
    return {LoraTarget::Q, LoraTarget::K, LoraTarget::V, LoraTarget::O,
            LoraTarget::Gate, LoraTarget::Up, LoraTarget::Down};
  std::vector<LoraTarget> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(',', start);
    if (end == std::string::npos) end = text.size();
    std::string name = text.substr(start, end - start);
    while (!name.empty() && name.front() == ' ') name.erase(0, 1);
    while (!name.empty() && name.back() == ' ') name.pop_back();
    if (!name.empty()) {
      const LoraTarget t = parse_lora_target(name);
      if (std::find(out.begin(), out.end(), t) == out.end()) out.push_back(t);
    }
    start = end + 1;
  }
  require(!out.empty(), "--target-modules names no module");
  return out;
}

void print_data_report(const char* what, const DataReport& report) {
  for (const std::string& m : report.messages) std::fprintf(stderr, "warning: %s\n", m.c_str());
  std::fprintf(stderr, "%s: %s\n", what, report.summary().c_str());
}

int run_finetune(FinetuneArgs& args) {
  require(args.eval_file.empty() || args.eval_split == 0, "give --eval-file or --eval-split, not both");
  args.train.method = parse_train_method(args.method);
  args.train.scheduler = parse_lr_scheduler(args.run.lr_scheduler);
  args.lora.targets = parse_targets(args.target_modules);
  require(args.lora.rank >= 1, "--lora-r must be at least 1");
  require(args.lora.dropout >= 0 && args.lora.dropout < 1, "--lora-dropout must be in [0, 1)");
  require(!args.save_hf || args.full, "--save-hf needs --full (a LoRA run writes a PEFT adapter folder)");
  args.data_options.too_long = args.skip_long ? TooLong::Skip : TooLong::Truncate;
  // Preference pairs are scored as whole sequences (chosen vs rejected of one prompt);
  // TRL packs only SFT data too.
  require(!args.packing || args.train.method == TrainMethod::Sft, "--packing is for SFT only (not --method ",
          args.method, ")");

  const Tokenizer tokenizer = load_model_tokenizer(args.model);
  auto model = load_model(args.model);
  if (model->config.max_context > 0 && args.data_options.max_seq_len > model->config.max_context) {
    std::fprintf(stderr, "warning: --max-seq-len %lld is over the model's context; using %d\n",
                 static_cast<long long>(args.data_options.max_seq_len), model->config.max_context);
    args.data_options.max_seq_len = model->config.max_context;
  }
  args.data_options.rules = choose_chat_rules(read_chat_template(args.model), model->config).rules;
  ThreadPool pool(args.run.threads);
  // --full: every weight in f32 (no adapter); otherwise a LoRA adapter on the frozen model.
  std::unique_ptr<FullModel> full = args.full ? FullModel::copy_of(*model) : nullptr;
  LoraModel lora = args.full ? LoraModel{} : make_lora(*model, args.lora, args.train.seed);
  std::unique_ptr<Trainer> trainer_owner = full ? std::make_unique<Trainer>(*full, args.train, pool)
                                                : std::make_unique<Trainer>(*model, lora, args.train, pool);
  Trainer& trainer = *trainer_owner;

  DataReport report, eval_report;
  if (args.train.method == TrainMethod::Sft) {
    auto train = load_sft_data(args.data, tokenizer, args.data_options, report);
    std::vector<SftExample> eval;
    if (!args.eval_file.empty()) eval = load_sft_data(args.eval_file, tokenizer, args.data_options, eval_report);
    if (args.eval_split > 0) eval = split_off_eval(train, args.eval_split, args.train.seed);
    print_data_report("train data", report);
    if (!args.eval_file.empty()) print_data_report("eval data", eval_report);
    require(!train.empty(), "no usable training rows in ", args.data);
    std::fprintf(stderr, "%zu training examples, %zu eval examples\n", train.size(), eval.size());
    if (args.packing) {
      // After the eval split, so eval rows never share a sequence with training rows.
      PackReport packed;
      train = pack_sft_examples(std::move(train), args.data_options.max_seq_len, args.train.seed, &packed);
      std::fprintf(stderr, "%s\n", packed.summary().c_str());
    }
    trainer.set_data(std::move(train), std::move(eval));
  } else {
    auto train = load_preference_data(args.data, tokenizer, args.data_options, report);
    std::vector<PreferenceExample> eval;
    if (!args.eval_file.empty()) eval = load_preference_data(args.eval_file, tokenizer, args.data_options, eval_report);
    if (args.eval_split > 0) eval = split_off_eval(train, args.eval_split, args.train.seed);
    print_data_report("train data", report);
    if (!args.eval_file.empty()) print_data_report("eval data", eval_report);
    require(!train.empty(), "no usable training rows in ", args.data);
    std::fprintf(stderr, "%zu training pairs, %zu eval pairs%s\n", train.size(), eval.size(),
                 args.train.method == TrainMethod::Dpo ? " (computing reference log-probs)" : "");
    trainer.set_data(std::move(train), std::move(eval));
  }

  const RunOptions run = start_run(trainer, args.run, args.output);
  if (full) {
    std::fprintf(stderr, "full-parameter training: %lld parameters in %zu tensors; %lld steps (%lld warmup), %s\n",
                 static_cast<long long>(full->parameter_count()), full->params().size(),
                 static_cast<long long>(trainer.total_steps()), static_cast<long long>(trainer.warmup_steps()),
                 lr_scheduler_name(args.train.scheduler));
    run_training(trainer, run);
    const std::string written = export_trained_model(*full, args.output, args.outtype, args.save_hf, args.run.threads);
    std::fprintf(stderr, "wrote %s, training_log.jsonl and checkpoint-%lld\n", written.c_str(),
                 static_cast<long long>(trainer.step()));
    return 0;
  }
  std::fprintf(stderr, "LoRA r=%d alpha=%g on %s: %lld trainable parameters; %lld steps (%lld warmup), %s\n",
               args.lora.rank, args.lora.alpha, args.target_modules.c_str(),
               static_cast<long long>(lora.parameter_count()), static_cast<long long>(trainer.total_steps()),
               static_cast<long long>(trainer.warmup_steps()), lr_scheduler_name(args.train.scheduler));
  run_training(trainer, run);
  // The final adapter at the top of the output folder, as PEFT's save_pretrained lays it
  // out (PEFT, Unsloth, `facet run --lora DIR`), and as a llama.cpp LoRA GGUF.
  save_peft_adapter(lora, *model, args.output);
  bool experts = false;
  for (LoraTarget t : lora.config.targets) experts = experts || is_expert_target(t);
  try {
    save_gguf_adapter(lora, *model, args.output + "/adapter.gguf");
  } catch (const Error& e) {
    if (!experts) throw;
    // Expert LoRA on a base whose experts are not fused: keep the (complete) PEFT adapter.
    std::fprintf(stderr, "warning: no adapter.gguf: %s\n", e.what());
  }
  std::fprintf(stderr, "wrote %s/adapter_config.json + adapter_model.safetensors (PEFT), %s/adapter.gguf "
               "(llama.cpp --lora), training_log.jsonl and checkpoint-%lld\n",
               args.output.c_str(), args.output.c_str(), static_cast<long long>(trainer.step()));
  return 0;
}

const CommandRegistration kRegistration("finetune", [](CLI::App& app) {
  auto a = std::make_shared<FinetuneArgs>();
  CLI::App* cmd = app.add_subcommand("finetune", "Train a LoRA adapter (SFT, DPO or ORPO) on JSONL data");
  cmd->add_option("model", a->model, "A .gguf file or a Hugging Face model folder (frozen base)")->required();
  cmd->add_option("--data,--train-file", a->data, "Training data (JSONL: messages, prompt/completion, text; "
                                                  "DPO/ORPO: prompt/chosen/rejected)")->required();
  cmd->add_option("--eval-file", a->eval_file, "Eval data (same format)");
  cmd->add_option("--eval-split", a->eval_split, "Hold out this fraction of --data for eval (e.g. 0.1)");
  cmd->add_option("-o,--output,--output-dir", a->output, "Output folder")->required();
  cmd->add_option("--method", a->method, "sft, dpo or orpo (default sft)");
  cmd->add_option("--beta", a->train.beta, "DPO beta / ORPO lambda (default 0.1)");
  cmd->add_option("-r,--lora-r", a->lora.rank, "LoRA rank (default 8)");
  cmd->add_option("--lora-alpha", a->lora.alpha, "LoRA alpha (default 16)");
  cmd->add_option("--lora-dropout", a->lora.dropout, "Dropout on the LoRA input (default 0)");
  cmd->add_option("--target-modules", a->target_modules,
                  "Comma-separated: q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj,"
                  "per_layer_input_gate,per_layer_projection, or all-linear (default); MoE experts (opt-in, "
                  "PEFT target_parameters; needs --lora-dropout 0): experts.gate_up_proj,experts.down_proj");
  cmd->add_flag("--use-rslora", a->lora.use_rslora, "Scale by alpha/sqrt(r) instead of alpha/r");
  add_optimizer_flags(cmd, a->train, a->run);
  cmd->add_option("--max-seq-len,--max-seq-length,--max-length", a->data_options.max_seq_len,
                  "Longer sequences are truncated; with --packing also the packed length (default 512)");
  cmd->add_flag("--packing", a->packing,
                "SFT: pack several examples into each --max-seq-len sequence (each still attends "
                "only to itself; --batch-size then counts packed sequences)");
  cmd->add_flag("--skip-long", a->skip_long, "Skip sequences over --max-seq-len instead of truncating them");
  cmd->add_flag("--train-on-prompt", a->data_options.train_on_prompt,
                "Loss on all tokens, not only the assistant / completion tokens");
  cmd->add_flag("--skip-bad-lines", a->data_options.skip_bad_lines,
                "Report and skip malformed JSONL rows (default: stop at the first)");
  add_run_flags(cmd, a->run);
  cmd->add_flag("--full", a->full,
                "Full-parameter training: every weight in f32 instead of a LoRA adapter (SFT only; writes "
                "OUTPUT/model.gguf; not for MoE models)");
  cmd->add_option("--outtype", a->outtype, "--full: type of model.gguf's matrices (F32, F16, BF16, Q8_0, ...)")
      ->capture_default_str();
  cmd->add_flag("--save-hf", a->save_hf, "--full: also write OUTPUT/hf, a Hugging Face folder (config.json, "
                                         "safetensors, tokenizer)");
  return [a] { return run_finetune(*a); };
});

}  // namespace
}  // namespace facet::cli
