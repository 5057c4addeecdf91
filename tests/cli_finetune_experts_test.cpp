// `facet finetune --target-modules ...,experts.gate_up_proj,experts.down_proj` on the tiny
// MoE model: trains, writes PEFT's target_parameters, and the adapter runs with --lora;
// naming the experts on a model without them, or with dropout, is a clear error.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "support/paths.h"
#include "support/run_command.h"
#include "support/temp_dir.h"

namespace facet {
namespace {

using test::run_command;

std::string finetune(const std::string& model, const test::TempDir& dir, const std::string& flags) {
  std::ofstream(dir.file("train.jsonl")) << "{\"text\": \"The quick brown fox jumps over the lazy dog.\"}\n"
                                            "{\"prompt\": \"Hello world,\", \"completion\": \" one two three\"}\n";
  return test::facet_bin() + " finetune " + model + " --data " + dir.file("train.jsonl") + " --output " +
         dir.file("out") + " --max-steps 2 --grad-accum 1 --lr 1e-2 -t 2 " + flags;
}

TEST(CliFinetuneExperts, TrainsExpertLoraAndRunsIt) {
  test::TempDir dir;
  const std::string moe = test::data_dir() + "/models/gemma4-tiny-moe-f32.gguf";
  auto r = run_command(finetune(moe, dir, "--target-modules q_proj,experts.gate_up_proj,experts.down_proj -r 2"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::ifstream in(dir.file("out/adapter_config.json"));
  const auto config = nlohmann::json::parse(in);
  EXPECT_EQ(config["target_parameters"], nlohmann::json({"experts.gate_up_proj", "experts.down_proj"}));
  auto run = run_command(test::facet_bin() + " run " + moe + " --tokens 2,313,333 -n 3 --ignore-eos --lora " +
                         dir.file("out"));
  EXPECT_EQ(run.exit_code, 0) << run.err;
  // The llama.cpp adapter carries the experts too: the same logits as the PEFT folder.
  auto peft = run_command(test::facet_bin() + " logits " + moe + " --tokens 2,313,333 --lora " + dir.file("out"));
  auto gguf = run_command(test::facet_bin() + " logits " + moe + " --tokens 2,313,333 --lora " +
                          dir.file("out/adapter.gguf"));
  ASSERT_EQ(gguf.exit_code, 0) << gguf.err;
  EXPECT_EQ(gguf.out, peft.out);

  auto dropout = run_command(finetune(moe, dir, "--target-modules experts.down_proj --lora-dropout 0.1"));
  EXPECT_EQ(dropout.exit_code, 1);
  EXPECT_NE(dropout.err.find("error: "), std::string::npos) << dropout.err;
  EXPECT_NE(dropout.err.find("lora_dropout"), std::string::npos) << dropout.err;
}

TEST(CliFinetuneExperts, ExpertsOnADenseModelMatchNoModule) {
  test::TempDir dir;
  auto r = run_command(finetune(test::data_dir() + "/models/gemma4-tiny-e2b-like-f32.gguf", dir,
                                "--target-modules experts.gate_up_proj"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("error: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("match no module"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace facet
