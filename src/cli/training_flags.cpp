#include "cli/training_flags.h"

#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>

namespace facet::cli {

void add_optimizer_flags(CLI::App* cmd, train::TrainerOptions& t, RunFlags& run) {
  cmd->add_option("--lr,--learning-rate", t.lr, "Peak learning rate")->capture_default_str();
  cmd->add_option("--epochs,--num-train-epochs", t.epochs, "Epochs")->capture_default_str();
  cmd->add_option("--max-steps", t.max_steps, "Optimizer steps (overrides --epochs)");
  cmd->add_option("--batch-size,--per-device-train-batch-size", t.batch_size, "Examples per micro-batch")
      ->capture_default_str();
  cmd->add_option("--grad-accum,--gradient-accumulation-steps", t.grad_accum, "Micro-batches per optimizer step")
      ->capture_default_str();
  cmd->add_option("--warmup-steps", t.warmup_steps, "Linear warmup steps");
  cmd->add_option("--warmup-ratio", t.warmup_ratio, "Warmup as a fraction of the steps");
  cmd->add_option("--lr-scheduler,--lr-scheduler-type", run.lr_scheduler, "linear, cosine or constant")
      ->capture_default_str();
  cmd->add_option("--weight-decay", t.weight_decay, "AdamW decoupled weight decay")->capture_default_str();
  cmd->add_option("--max-grad-norm", t.max_grad_norm, "Clip the global gradient norm (0 = off)")->capture_default_str();
  cmd->add_option("--seed", t.seed, "Seed for initialisation, data order and dropout")->capture_default_str();
}

void add_run_flags(CLI::App* cmd, RunFlags& run) {
  cmd->add_option("--save-steps", run.save_steps, "Write a checkpoint every N steps (and always at the end)");
  cmd->add_option("--eval-steps", run.eval_steps, "Eval loss every N steps (and at the end)");
  cmd->add_option("--logging-steps", run.logging_steps, "Log every N steps")->capture_default_str();
  cmd->add_flag("--resume", run.resume, "Continue from the newest checkpoint-N in the output folder");
  cmd->add_option("--resume-from", run.resume_from, "Continue from this checkpoint folder");
  cmd->add_option("-t,--threads", run.threads, "Threads (default: all cores)");
}

train::RunOptions start_run(train::Trainer& trainer, const RunFlags& flags, const std::string& output_dir) {
  train::RunOptions run;
  run.output_dir = output_dir;
  run.save_steps = flags.save_steps;
  run.eval_steps = flags.eval_steps;
  run.logging_steps = flags.logging_steps;
  std::filesystem::create_directories(output_dir);
  if (flags.resume || !flags.resume_from.empty()) {
    const std::string from = train::resume_training(trainer, run, flags.resume_from);
    std::fprintf(stderr, "resumed from %s at step %lld\n", from.c_str(), static_cast<long long>(trainer.step()));
  } else {
    std::remove((output_dir + "/training_log.jsonl").c_str());  // a fresh run starts a fresh log
  }
  return run;
}

}  // namespace facet::cli
