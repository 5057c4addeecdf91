// `facet finetune` end to end on the tiny synthetic-vocabulary model: outputs, a run
// that "crashed" after step 3 (newest checkpoint gone, log cut mid-line) resumes to the
// uninterrupted run's exact log, a corrupt checkpoint is a clear error that leaves the
// older ones, bad JSONL lines with line numbers, DPO's first loss is ln 2, --packing
// trains and is refused for DPO/ORPO.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "chat/chat_types.h"
#include "support/paths.h"
#include "support/run_command.h"
#include "support/temp_dir.h"

namespace facet {
namespace {

namespace fs = std::filesystem;
using test::run_command;

std::string model() { return test::data_dir() + "/models/gemma4-tiny-e2b-like-f32.gguf"; }

std::string write(const test::TempDir& dir, const std::string& name, const std::string& text) {
  std::ofstream(dir.file(name)) << text;
  return dir.file(name);
}

const char* kRows =
    "{\"text\": \"The quick brown fox jumps over the lazy dog.\"}\n"
    "{\"prompt\": \"Hello world,\", \"completion\": \" one two three\"}\n"
    "{\"text\": \"four five six seven eight nine ten\"}\n"
    "{\"prompt\": \"The lazy dog\", \"completion\": \" jumps over the fox.\"}\n"
    "{\"text\": \"one two three four five\"}\n";

// Log records without the timing field.
std::vector<std::string> log_records(const std::string& dir) {
  std::ifstream in(dir + "/training_log.jsonl");
  std::vector<std::string> out;
  std::string line;
  while (std::getline(in, line)) {
    chat::Json j = chat::Json::parse(line);
    j.erase("tokens_per_s");
    out.push_back(j.dump());
  }
  return out;
}

std::string finetune(const std::string& data, const std::string& out, const std::string& extra = "") {
  return test::facet_bin() + " finetune " + model() + " --data " + data + " --output " + out +
         " --max-steps 4 --save-steps 2 --grad-accum 2 --lr 1e-2 --lora-dropout 0.1 -t 2 " + extra;
}

TEST(CliFinetune, WritesLogAndCheckpointsAndResumesExactlyAfterACrash) {
  test::TempDir dir;
  const std::string data = write(dir, "train.jsonl", kRows);
  auto a = run_command(finetune(data, dir.file("a")));
  ASSERT_EQ(a.exit_code, 0) << a.err;
  EXPECT_NE(a.err.find("step 4/4"), std::string::npos) << a.err;
  EXPECT_TRUE(fs::exists(dir.file("a/checkpoint-2/trainer_state.bin")));
  EXPECT_TRUE(fs::exists(dir.file("a/checkpoint-4/trainer_state.bin")));
  for (const char* f : {"adapter_config.json", "adapter_model.safetensors", "adapter.gguf",
                        "checkpoint-2/adapter_model.safetensors"})
    EXPECT_TRUE(fs::exists(dir.file(std::string("a/") + f))) << f;
  // The adapter loads for inference (and matches the model: a mismatch is an error).
  auto run = run_command(test::facet_bin() + " run " + model() + " --lora " + dir.file("a") +
                         " --tokens 2,313,333 -n 2 --ignore-eos");
  EXPECT_EQ(run.exit_code, 0) << run.err;
  const auto whole = log_records(dir.file("a"));
  ASSERT_EQ(whole.size(), 4u);
  EXPECT_NE(whole[0].find("\"loss\""), std::string::npos);

  // The same run, then made to look killed during step 4: checkpoint-4 never written, a
  // temporary folder left behind, the log ending in a half-written line.
  auto b = run_command(finetune(data, dir.file("b")));
  ASSERT_EQ(b.exit_code, 0) << b.err;
  fs::remove_all(dir.file("b/checkpoint-4"));
  fs::create_directories(dir.file("b/checkpoint-4.tmp"));
  {
    std::ifstream in(dir.file("b/training_log.jsonl"));
    std::string kept, line;
    for (int i = 0; i < 3 && std::getline(in, line); ++i) kept += line + "\n";
    std::ofstream(dir.file("b/training_log.jsonl")) << kept << "{\"step\": 4, \"lo";
  }
  auto resumed = run_command(finetune(data, dir.file("b"), "--resume"));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_NE(resumed.err.find("checkpoint-2 at step 2"), std::string::npos) << resumed.err;
  EXPECT_EQ(log_records(dir.file("b")), whole);

  // A corrupt newest checkpoint: a clear error, and the older checkpoint is untouched.
  auto bytes = test::read_bytes(dir.file("b/checkpoint-4/trainer_state.bin"));
  bytes[100] ^= 1;
  test::write_bytes(dir.file("b/checkpoint-4/trainer_state.bin"), bytes);
  auto corrupt = run_command(finetune(data, dir.file("b"), "--resume"));
  EXPECT_EQ(corrupt.exit_code, 1);
  EXPECT_NE(corrupt.err.find("error: "), std::string::npos) << corrupt.err;
  EXPECT_NE(corrupt.err.find("corrupt"), std::string::npos) << corrupt.err;
  EXPECT_TRUE(fs::exists(dir.file("b/checkpoint-2/trainer_state.bin")));
  auto earlier = run_command(finetune(data, dir.file("b"), "--resume-from " + dir.file("b/checkpoint-2")));
  EXPECT_EQ(earlier.exit_code, 0) << earlier.err;
}

TEST(CliFinetune, BadInputIsAClearError) {
  test::TempDir dir;
  const std::string bad = write(dir, "bad.jsonl", std::string(kRows) + "{\"text\": oops}\n{\"txt\": \"x\"}\n");
  auto fatal = run_command(finetune(bad, dir.file("o")));
  EXPECT_EQ(fatal.exit_code, 1);
  EXPECT_NE(fatal.err.find("error: " + dir.file("bad.jsonl") + ":6:"), std::string::npos) << fatal.err;
  auto skipped = run_command(finetune(bad, dir.file("o"), "--skip-bad-lines"));
  EXPECT_EQ(skipped.exit_code, 0) << skipped.err;
  EXPECT_NE(skipped.err.find("bad.jsonl:7:"), std::string::npos) << skipped.err;
  EXPECT_NE(skipped.err.find("2 bad lines skipped"), std::string::npos) << skipped.err;

  const std::string data = write(dir, "train.jsonl", kRows);
  for (const char* flags : {"--method ppo", "--lr-scheduler wavy", "--target-modules q_proj,lm_head",
                            "--lora-r 0", "--resume-from /nonexistent/checkpoint-3"}) {
    auto r = run_command(finetune(data, dir.file("p"), flags));
    EXPECT_EQ(r.exit_code, 1) << flags;
    EXPECT_NE(r.err.find("error: "), std::string::npos) << flags << ": " << r.err;
  }
  auto missing = run_command(finetune(dir.file("none.jsonl"), dir.file("q")));
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("none.jsonl"), std::string::npos);
}

TEST(CliFinetune, DpoStartsAtLn2) {
  test::TempDir dir;
  const std::string data = write(dir, "pairs.jsonl",
                                 "{\"prompt\": \"The quick\", \"chosen\": \" brown fox\", \"rejected\": \" lazy dog\"}\n"
                                 "{\"prompt\": \"one two\", \"chosen\": \" three\", \"rejected\": \" five six\"}\n");
  auto r = run_command(test::facet_bin() + " finetune " + model() + " --data " + data + " --output " + dir.file("d") +
                       " --method dpo --beta 0.1 --lr 1e-2 --max-steps 3 --grad-accum 2 -t 2");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::ifstream in(dir.file("d/training_log.jsonl"));
  std::string first;
  std::getline(in, first);
  const chat::Json rec = chat::Json::parse(first);
  EXPECT_EQ(rec["loss"].get<double>(), std::log(2.0));
  EXPECT_TRUE(rec.contains("rewards_accuracy"));
}

TEST(CliFinetune, PackingTrainsAndIsForSftOnly) {
  test::TempDir dir;
  const std::string data = write(dir, "train.jsonl", kRows);
  auto r = run_command(finetune(data, dir.file("p"), "--packing"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // The five short rows all fit in one 512-token sequence.
  EXPECT_NE(r.err.find("packed 5 examples into 1 sequence of at most 512 tokens"), std::string::npos) << r.err;
  for (const char* f : {"adapter_config.json", "adapter_model.safetensors", "adapter.gguf"})
    EXPECT_TRUE(fs::exists(dir.file(std::string("p/") + f))) << f;
  std::ifstream in(dir.file("p/training_log.jsonl"));
  std::string line;
  int steps = 0;
  while (std::getline(in, line)) {
    const chat::Json rec = chat::Json::parse(line);
    ASSERT_TRUE(rec.contains("loss")) << line;
    EXPECT_TRUE(std::isfinite(rec["loss"].get<double>())) << line;
    EXPECT_GT(rec["target_tokens"].get<int64_t>(), 0) << line;
    ++steps;
  }
  EXPECT_EQ(steps, 4);
  // A packed run's checkpoint is not resumed as an unpacked one (different data).
  auto unpacked = run_command(finetune(data, dir.file("p"), "--resume"));
  EXPECT_EQ(unpacked.exit_code, 1);
  EXPECT_NE(unpacked.err.find("different training data"), std::string::npos) << unpacked.err;

  const std::string pairs = write(dir, "pairs.jsonl",
                                  "{\"prompt\": \"The quick\", \"chosen\": \" brown fox\", \"rejected\": \" lazy dog\"}\n");
  for (const char* method : {"dpo", "orpo"}) {
    auto bad = run_command(finetune(pairs, dir.file("d"), std::string("--packing --method ") + method));
    EXPECT_EQ(bad.exit_code, 1) << method;
    EXPECT_NE(bad.err.find("error: --packing is for SFT only"), std::string::npos) << bad.err;
  }
}

}  // namespace
}  // namespace facet
