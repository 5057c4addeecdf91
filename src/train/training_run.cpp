// The outer training loop: logging, progress, eval and checkpoint cadence.
#include "train/training_run.h"

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

#include "train/adapter_io.h"
#include "train/full_model_export.h"
#include "util/error.h"

namespace facet::train {
namespace {

const char* kLogFile = "training_log.jsonl";

std::string log_path(const RunOptions& options) { return options.output_dir + "/" + kLogFile; }

void append_log(const RunOptions& options, const chat::Json& record) {
  std::ofstream out(log_path(options), std::ios::app);
  require(out.good(), "cannot write ", log_path(options));
  out << record.dump() << "\n";
  out.flush();
}

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const long s = std::lround(seconds);
  char buf[32];
  if (s >= 3600) std::snprintf(buf, sizeof buf, "%ldh%02ldm", s / 3600, s / 60 % 60);
  else if (s >= 60) std::snprintf(buf, sizeof buf, "%ldm%02lds", s / 60, s % 60);
  else std::snprintf(buf, sizeof buf, "%lds", s);
  return buf;
}

void save(Trainer& trainer, const RunOptions& options) {
  // HF-style checkpoint folders: the resumable state plus the adapter in PEFT layout.
  write_checkpoint(options.output_dir + "/checkpoint-" + std::to_string(trainer.step()), trainer.checkpoint(),
                   [&](const std::string& tmp) {
                     if (const FullModel* full = trainer.full()) {
                       if (options.save_full_model) options.save_full_model(*full, tmp);
                       else export_full_model(*full, tmp + "/model.gguf", "F32");
                     } else {
                       save_peft_adapter(*trainer.lora(), trainer.model(), tmp);
                     }
                   });
}

}  // namespace

std::string resume_training(Trainer& trainer, const RunOptions& options, const std::string& from) {
  std::string folder = from;
  if (folder.empty()) {
    auto latest = latest_checkpoint(options.output_dir);
    require(latest.has_value(), "--resume: no checkpoint-N folder in ", options.output_dir);
    folder = *latest;
  }
  trainer.restore(read_checkpoint(folder));
  // Keep the log lines up to the checkpoint's step: the resumed run writes the rest again.
  std::ifstream in(log_path(options));
  std::string kept, line;
  while (std::getline(in, line)) {
    try {
      const chat::Json record = chat::Json::parse(line);
      if (record.value("step", int64_t{0}) <= trainer.step()) kept += line + "\n";
    } catch (const std::exception&) {
      // a line cut by a crash mid-write
    }
  }
  in.close();
  write_file_atomically(log_path(options), kept);
  return folder;
}

double run_training(Trainer& trainer, const RunOptions& options) {
  std::filesystem::create_directories(options.output_dir);
  const int64_t total = trainer.total_steps();
  const bool tty = options.progress && ::isatty(::fileno(options.progress));
  const int64_t first = trainer.step();
  double elapsed = 0, last_eval = std::numeric_limits<double>::quiet_NaN();
  while (trainer.step() < total) {
    const StepRecord rec = trainer.train_step();
    elapsed += rec.seconds;
    const double tokens_per_s = rec.seconds > 0 ? static_cast<double>(rec.tokens) / rec.seconds : 0;
    const double eta = elapsed / static_cast<double>(rec.step - first) * static_cast<double>(total - rec.step);
    if (options.logging_steps > 0 && (rec.step % options.logging_steps == 0 || rec.step == total)) {
      chat::Json record = {{"step", rec.step},       {"loss", rec.loss},
                           {"lr", rec.lr},           {"grad_norm", rec.grad_norm},
                           {"tokens", rec.tokens},   {"target_tokens", rec.target_tokens},
                           {"tokens_per_s", tokens_per_s}};
      if (rec.reward_accuracy >= 0) {
        record["rewards_accuracy"] = rec.reward_accuracy;
        record["rewards_margin"] = rec.reward_margin;
      }
      append_log(options, record);
      if (options.progress) {
        std::fprintf(options.progress, "%sstep %lld/%lld | loss %.4f | lr %.3g | grad norm %.3g | %.0f tok/s | ETA %s%s",
                     tty ? "\r\033[K" : "", static_cast<long long>(rec.step), static_cast<long long>(total), rec.loss,
                     rec.lr, rec.grad_norm, tokens_per_s, format_duration(eta).c_str(), tty ? "" : "\n");
        std::fflush(options.progress);
      }
    }
    const bool at_end = rec.step == total;
    if (trainer.has_eval() && ((options.eval_steps > 0 && rec.step % options.eval_steps == 0) || at_end)) {
      last_eval = trainer.evaluate();
      append_log(options, {{"step", rec.step}, {"eval_loss", last_eval}});
      if (options.progress)
        std::fprintf(options.progress, "%sstep %lld: eval loss %.4f\n", tty ? "\r\033[K" : "",
                     static_cast<long long>(rec.step), last_eval);
    }
    if ((options.save_steps > 0 && rec.step % options.save_steps == 0) || at_end) save(trainer, options);
    if (options.stop_after > 0 && rec.step >= options.stop_after) break;
  }
  if (tty) std::fprintf(options.progress, "\n");
  return last_eval;
}

}  // namespace facet::train
