// `facet pretrain` end to end on a tiny config with the synthetic vocabulary: a few hundred
// steps of full-parameter training on sentences from a small grammar take the held-out
// loss well below the unigram entropy of the same split (computed here, independently of
// the model code, from token counts); the written model.gguf loads and generates, and the
// --save-hf folder gives the same logits; a run
// cut after step 2 resumes to the uninterrupted run's exact log and weights; bad input
// (empty or binary corpus, a corrupt checkpoint, a MoE config) is a clear error.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>

#include "chat/chat_types.h"
#include "engine/model_files.h"
#include "support/lora_fixtures.h"
#include "support/paths.h"
#include "support/run_command.h"
#include "support/temp_dir.h"

namespace facet {
namespace {

namespace fs = std::filesystem;
using test::run_command;

std::string write(const test::TempDir& dir, const std::string& name, const std::string& text) {
  std::ofstream(dir.file(name), std::ios::binary) << text;
  return dir.file(name);
}

// tiny-e (hidden 96, 7 layers, PLE, KV sharing, vocabulary 512) as a generator config.
std::string tiny_config(const test::TempDir& dir, const std::string& base = "tiny-e") {
  std::ifstream in(test::source_dir() + "/models/configs/" + base + ".json");
  chat::Json j = chat::Json::parse(in);
  j["seed"] = 5;
  return write(dir, base + "-gen.json", j.dump());
}

// Sentences of a small grammar, one per paragraph: strong word-to-word structure that a
// unigram model cannot see.
std::string grammar_text(int sentences, uint32_t seed) {
  const std::vector<std::string> subjects = {"the cat", "a dog", "the old man", "my friend", "the bird"};
  const std::vector<std::string> verbs = {"sat on", "looked at", "ran to", "found", "liked"};
  const std::vector<std::string> objects = {"the mat", "a house", "the river", "the green tree", "an apple"};
  std::mt19937 rng(seed);
  std::string text;
  for (int i = 0; i < sentences; ++i) {
    text += subjects[rng() % subjects.size()] + " " + verbs[rng() % verbs.size()] + " " +
            objects[rng() % objects.size()] + ".\n\n";
  }
  return text;
}

// Cross-entropy (nats per token) of the held-out documents under an add-one unigram model
// of the training documents, over the same targets the trainer scores: every token of
// <bos> doc <eos> but the first.
double unigram_cross_entropy(const Tokenizer& tok, const std::string& train, const std::string& held_out, int vocab) {
  auto targets_of = [&](const std::string& text) {
    std::vector<int32_t> all;
    size_t start = 0;
    while (start < text.size()) {
      size_t end = text.find("\n\n", start);
      if (end == std::string::npos) end = text.size();
      std::string doc = text.substr(start, end - start);
      start = end + 2;
      if (doc.empty()) continue;
      doc += "\n";  // the corpus reader keeps each document's line break
      std::vector<int32_t> ids = tok.encode(doc);
      ids.push_back(tok.eos_id());
      all.insert(all.end(), ids.begin(), ids.end());  // (the leading <bos> is never a target)
    }
    return all;
  };
  std::map<int32_t, double> counts;
  const auto train_ids = targets_of(train);
  for (int32_t id : train_ids) counts[id] += 1;
  const double total = static_cast<double>(train_ids.size()) + vocab;
  double nll = 0;
  const auto test_ids = targets_of(held_out);
  for (int32_t id : test_ids) nll -= std::log((counts[id] + 1) / total);
  return nll / static_cast<double>(test_ids.size());
}

std::vector<chat::Json> log_of(const std::string& dir) {
  std::ifstream in(dir + "/training_log.jsonl");
  std::vector<chat::Json> out;
  std::string line;
  while (std::getline(in, line)) {
    chat::Json j = chat::Json::parse(line);
    j.erase("tokens_per_s");
    out.push_back(j);
  }
  return out;
}

TEST(CliPretrain, LearnsBelowTheUnigramEntropyAndWritesALoadableModel) {
  test::TempDir dir;
  const std::string train_text = grammar_text(400, 1), test_text = grammar_text(60, 2);
  const std::string train = write(dir, "train.txt", train_text), held_out = write(dir, "test.txt", test_text);
  auto r = run_command(test::facet_bin() + " pretrain --config " + tiny_config(dir) + " --data " + train +
                       " --eval-file " + held_out + " --output " + dir.file("out") +
                       " --max-steps 150 --max-seq-len 64 --batch-size 2 --lr 3e-3 --logging-steps 50 -t 2 --save-hf");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto log = log_of(dir.file("out"));
  ASSERT_FALSE(log.empty());
  ASSERT_TRUE(log.back().contains("eval_loss")) << log.back().dump();
  const double eval_loss = log.back()["eval_loss"].get<double>();
  const Tokenizer tok = load_model_tokenizer(dir.file("out/model.gguf"));
  const double unigram = unigram_cross_entropy(tok, train_text, test_text, 512);
  std::printf("  held-out loss %.4f nats/token, unigram cross-entropy %.4f\n", eval_loss, unigram);
  EXPECT_LT(eval_loss, 0.7 * unigram);

  auto gen = run_command(test::facet_bin() + " run " + dir.file("out/model.gguf") + " -p \"the cat\" -n 6");
  EXPECT_EQ(gen.exit_code, 0) << gen.err;
  EXPECT_FALSE(gen.out.empty());

  // --save-hf: the Hugging Face folder holds the same trained F32 weights, so it gives the
  // GGUF's logits, and they are not the random init's.
  const std::vector<int32_t> tokens = tok.encode("the old man found a house.");
  const auto gguf_logits = test::logits_of(*load_model(dir.file("out/model.gguf")), tokens);
  const auto hf_logits = test::logits_of(*load_model(dir.file("out/hf")), tokens);
  EXPECT_LE(test::max_abs_diff(gguf_logits, hf_logits), 1e-5);
  EXPECT_GT(test::max_abs_diff(gguf_logits, test::logits_of(*load_model(dir.file("out/init.gguf")), tokens)), 1.0);
  EXPECT_TRUE(fs::exists(dir.file("out/hf/config.json")));
  EXPECT_TRUE(fs::exists(dir.file("out/hf/tokenizer.json")));
}

std::string short_run(const std::string& config, const std::string& data, const std::string& out,
                      const std::string& extra = "") {
  return test::facet_bin() + " pretrain --config " + config + " --data " + data + " --output " + out +
         " --max-steps 4 --save-steps 2 --max-seq-len 32 --batch-size 2 --logging-steps 1 -t 2 " + extra;
}

TEST(CliPretrain, ResumesExactlyAndRefusesACorruptCheckpoint) {
  test::TempDir dir;
  const std::string config = tiny_config(dir);
  const std::string data = write(dir, "train.txt", grammar_text(40, 3));
  auto a = run_command(short_run(config, data, dir.file("a")));
  ASSERT_EQ(a.exit_code, 0) << a.err;
  EXPECT_TRUE(fs::exists(dir.file("a/checkpoint-2/model.gguf")));

  auto b = run_command(short_run(config, data, dir.file("b")));
  ASSERT_EQ(b.exit_code, 0) << b.err;
  fs::remove_all(dir.file("b/checkpoint-4"));
  fs::remove(dir.file("b/model.gguf"));
  auto resumed = run_command(short_run(config, data, dir.file("b"), "--resume"));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_NE(resumed.err.find("resumed from"), std::string::npos) << resumed.err;
  EXPECT_EQ(log_of(dir.file("a")), log_of(dir.file("b")));
  EXPECT_EQ(test::read_bytes(dir.file("a/model.gguf")), test::read_bytes(dir.file("b/model.gguf")));

  auto bytes = test::read_bytes(dir.file("b/checkpoint-4/trainer_state.bin"));
  bytes[bytes.size() / 2] ^= 1;
  test::write_bytes(dir.file("b/checkpoint-4/trainer_state.bin"), bytes);
  auto corrupt = run_command(short_run(config, data, dir.file("b"), "--resume"));
  EXPECT_EQ(corrupt.exit_code, 1);
  EXPECT_NE(corrupt.err.find("corrupt"), std::string::npos) << corrupt.err;
  EXPECT_TRUE(fs::exists(dir.file("b/checkpoint-2/trainer_state.bin")));  // the older one is kept
  EXPECT_TRUE(fs::exists(dir.file("b/model.gguf")));                      // and so is the model
}

TEST(CliPretrain, BadInputIsAClearError) {
  test::TempDir dir;
  const std::string config = tiny_config(dir);
  struct Case {
    std::string name, content, expected;
  };
  const std::vector<Case> cases = {
      {"empty.txt", "", "empty"},
      {"blank.txt", "\n\n  \n", "no text"},
      {"binary.txt", std::string("GGUF\0\0\x03\0", 8), "binary"},
      {"latin1.txt", "caf\xe9 au lait\n", "UTF-8"},
      {"rows.jsonl", "{\"text\": \"fine\"}\n{\"prompt\": \"no text key\"}\n", ":2:"},
  };
  for (const Case& c : cases) {
    auto r = run_command(short_run(config, write(dir, c.name, c.content), dir.file("out-" + c.name)));
    EXPECT_EQ(r.exit_code, 1) << c.name;
    EXPECT_NE(r.err.find("error: "), std::string::npos) << c.name << ": " << r.err;
    EXPECT_NE(r.err.find(c.expected), std::string::npos) << c.name << ": " << r.err;
  }
  const std::string data = write(dir, "ok.txt", grammar_text(10, 4));
  auto moe = run_command(short_run(tiny_config(dir, "tiny-moe"), data, dir.file("moe")));
  EXPECT_EQ(moe.exit_code, 1);
  EXPECT_NE(moe.err.find("MoE"), std::string::npos) << moe.err;
  auto both = run_command(short_run(config, data, dir.file("both"), "--init " + dir.file("x.gguf")));
  EXPECT_EQ(both.exit_code, 1);
  EXPECT_NE(both.err.find("not both"), std::string::npos) << both.err;
}

// A document longer than the window is cut into consecutive windows (none of it dropped).
TEST(CliPretrain, LongDocumentsAreSplitIntoWindows) {
  test::TempDir dir;
  std::string long_doc;
  for (int i = 0; i < 40; ++i) long_doc += "the cat sat on the mat and ";
  const std::string data = write(dir, "long.txt", long_doc + "\n");
  auto r = run_command(short_run(tiny_config(dir), data, dir.file("out")));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("1 documents"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find(" in 1 windows"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace facet

namespace facet {
namespace {

// `facet finetune --full`: every weight trained on SFT rows; model.gguf written and
// loadable; preference methods refused.
TEST(CliFinetuneFull, TrainsEveryWeightAndWritesAModel) {
  test::TempDir dir;
  const std::string model = test::data_dir() + "/models/gemma4-tiny-e2b-like-f32.gguf";
  const std::string data = write(dir, "rows.jsonl",
                                 "{\"text\": \"one two three four five\"}\n"
                                 "{\"prompt\": \"Hello world,\", \"completion\": \" one two three\"}\n");
  auto r = run_command(test::facet_bin() + " finetune " + model + " --full --data " + data + " --output " +
                       dir.file("out") + " --max-steps 6 --grad-accum 1 --lr 1e-2 --outtype F16 -t 2 --save-hf");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("full-parameter training"), std::string::npos) << r.err;
  const auto log = log_of(dir.file("out"));
  ASSERT_EQ(log.size(), 6u);
  EXPECT_LT(log.back()["loss"].get<double>(), log.front()["loss"].get<double>());
  auto info = run_command(test::facet_bin() + " info " + dir.file("out/model.gguf"));
  EXPECT_EQ(info.exit_code, 0) << info.err;
  EXPECT_NE(info.out.find("F16"), std::string::npos) << info.out;
  auto gen = run_command(test::facet_bin() + " run " + dir.file("out/model.gguf") + " --tokens 2,313 -n 2");
  EXPECT_EQ(gen.exit_code, 0) << gen.err;

  // --save-hf with --outtype F16: the HF folder is F16 too and loads to the GGUF's logits,
  // up to the norms' rounding (safetensors holds every tensor in F16, as HF checkpoints hold
  // one dtype; the GGUF keeps 1-D tensors in F32): a few 1e-3 here.
  const auto tokens = test::test_tokens(512);
  EXPECT_LE(test::max_abs_diff(test::logits_of(*load_model(dir.file("out/model.gguf")), tokens),
                               test::logits_of(*load_model(dir.file("out/hf")), tokens)),
            1e-2);
  auto lora_hf = run_command(test::facet_bin() + " finetune " + model + " --data " + data + " --output " +
                             dir.file("lora") + " --max-steps 1 --save-hf");
  EXPECT_EQ(lora_hf.exit_code, 1);
  EXPECT_NE(lora_hf.err.find("--save-hf needs --full"), std::string::npos) << lora_hf.err;

  auto dpo = run_command(test::facet_bin() + " finetune " + model + " --full --method dpo --data " + data +
                         " --output " + dir.file("dpo") + " --max-steps 1");
  EXPECT_EQ(dpo.exit_code, 1);
  EXPECT_NE(dpo.err.find("SFT"), std::string::npos) << dpo.err;
}

}  // namespace
}  // namespace facet
