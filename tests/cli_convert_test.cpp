// End-to-end tests of `facet convert HF_FOLDER OUT.gguf`: the GGUF it writes runs exactly
// like the folder, and carries the tensor names and metadata keys of llama.cpp's Gemma 4
// converter as the spec (§6.2) lists them. The expected names are written out here from
// the spec's table, not taken from facet's manifest.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "formats/gguf.h"
#include "support/paths.h"
#include "support/run_command.h"
#include "support/temp_dir.h"

namespace facet {
namespace {

using test::run_command;

std::string facet() { return test::facet_bin(); }
const std::string kConfig = test::source_dir() + "/models/configs/tiny-e.json";
const char* kTemplate = "{{ bos_token }}{% for m in messages %}{{ m['content'] }}{% endfor %}";

// An HF folder of the tiny E-style config (PLE, KV sharing), with a chat template file.
std::string make_hf_folder(const test::TempDir& dir, const std::string& dtype = "f32") {
  const std::string folder = dir.file("hf-" + dtype);
  auto r = run_command(facet() + " make-test-model --config " + kConfig + " --out " + folder + " --dtype " + dtype);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::ofstream(folder + "/chat_template.jinja") << kTemplate;
  return folder;
}

std::string convert(const std::string& folder, const std::string& out, const std::string& extra = "") {
  auto r = run_command(facet() + " convert " + folder + " " + out + " " + extra);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r.err;
}

std::string logits(const std::string& model) {
  auto r = run_command(facet() + " logits " + model + " --tokens 2,17,300,45,9,120,77,3,18,200,64,5");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r.out;
}

TEST(CliConvert, F32GgufGivesTheSameLogitsAsTheFolder) {
  test::TempDir dir;
  const std::string folder = make_hf_folder(dir);
  const std::string out = dir.file("model.gguf");
  convert(folder, out, "--outtype f32");
  const std::string want = logits(folder);
  ASSERT_FALSE(want.empty());
  EXPECT_EQ(logits(out), want);  // same weights, same arithmetic: identical text
}

TEST(CliConvert, WritesTheSpecTensorNamesAndShapes) {
  test::TempDir dir;
  const std::string out = dir.file("model.gguf");
  convert(make_hf_folder(dir), out, "--outtype f32");
  auto file = GgufFile::open(out);
  const int L = 7, H = 96, V = 512, P = 16, shared_from = 4;  // tiny-e.json
  std::set<std::string> required = {"token_embd.weight", "output_norm.weight", "rope_freqs.weight",
                                    "per_layer_token_embd.weight", "per_layer_model_proj.weight",
                                    "per_layer_proj_norm.weight"};
  std::set<std::string> allowed;
  for (int i = 0; i < L; ++i) {
    const std::string b = std::string("blk.") + std::to_string(i) + ".";
    for (const char* n : {"attn_norm", "attn_q", "attn_q_norm", "attn_output", "post_attention_norm", "ffn_norm",
                          "ffn_gate", "ffn_up", "ffn_down", "post_ffw_norm", "layer_output_scale", "inp_gate", "proj",
                          "post_norm"})
      required.insert(b + n + ".weight");
    for (const char* n : {"attn_k", "attn_v", "attn_k_norm"})  // optional on KV-shared layers
      (i < shared_from ? required : allowed).insert(b + n + ".weight");
  }
  std::set<std::string> names;
  for (const auto& t : file->tensors()) {
    names.insert(t.name);
    EXPECT_TRUE(required.count(t.name) || allowed.count(t.name)) << "unexpected tensor " << t.name;
  }
  for (const auto& n : required) EXPECT_TRUE(names.count(n)) << "missing tensor " << n;

  // Shapes, row-major (the spec lists ggml order, innermost first).
  EXPECT_EQ(file->tensor("token_embd.weight")->view.shape, (std::vector<int64_t>{V, H}));
  EXPECT_EQ(file->tensor("per_layer_token_embd.weight")->view.shape, (std::vector<int64_t>{V, L * P}));
  EXPECT_EQ(file->tensor("per_layer_model_proj.weight")->view.shape, (std::vector<int64_t>{L * P, H}));
  EXPECT_EQ(file->tensor("blk.0.attn_q.weight")->view.shape, (std::vector<int64_t>{4 * 16, H}));
  EXPECT_EQ(file->tensor("blk.3.attn_q.weight")->view.shape, (std::vector<int64_t>{4 * 32, H}));
  EXPECT_EQ(file->tensor("blk.6.ffn_down.weight")->view.shape, (std::vector<int64_t>{H, 256}));  // double-wide
  // rope_freqs: global head 32 -> 16 pairs; partial factor 0.25 rotates 4 of them.
  const auto& rope = file->tensor("rope_freqs.weight")->view;
  ASSERT_EQ(rope.shape, (std::vector<int64_t>{16}));
  ASSERT_EQ(rope.dtype, DType::F32);
  const float* f = reinterpret_cast<const float*>(rope.data);
  for (int i = 0; i < 16; ++i) EXPECT_EQ(f[i], i < 4 ? 1.0f : 1e30f) << i;
}

TEST(CliConvert, WritesTheSpecMetadataKeys) {
  test::TempDir dir;
  const std::string out = dir.file("model.gguf");
  convert(make_hf_folder(dir), out, "--outtype f32");
  auto file = GgufFile::open(out);
  EXPECT_EQ(file->get_string("general.architecture"), "gemma4");
  EXPECT_EQ(file->get_int("general.file_type"), 0);
  const std::string g = "gemma4.";
  EXPECT_EQ(file->get_int(g + "context_length"), 4096);
  EXPECT_EQ(file->get_int(g + "embedding_length"), 96);
  EXPECT_EQ(file->get_int(g + "block_count"), 7);
  EXPECT_EQ(file->get_int_array(g + "feed_forward_length", 7), (std::vector<int64_t>{128, 128, 128, 128, 256, 256, 256}));
  EXPECT_EQ(file->get_int(g + "attention.head_count"), 4);
  EXPECT_EQ(file->get_int_array(g + "attention.head_count_kv", 7), (std::vector<int64_t>(7, 1)));
  EXPECT_EQ(file->get_int(g + "attention.key_length"), 32);
  EXPECT_EQ(file->get_int(g + "attention.value_length"), 32);
  EXPECT_EQ(file->get_int(g + "attention.key_length_swa"), 16);
  EXPECT_EQ(file->get_int(g + "attention.value_length_swa"), 16);
  EXPECT_FLOAT_EQ(static_cast<float>(file->get_real(g + "attention.layer_norm_rms_epsilon")), 1e-6f);
  EXPECT_EQ(file->get_int(g + "attention.sliding_window"), 8);
  EXPECT_TRUE(file->has(g + "attention.sliding_window_pattern"));
  EXPECT_EQ(file->get_int(g + "attention.shared_kv_layers"), 3);
  EXPECT_EQ(file->get_int(g + "embedding_length_per_layer_input"), 16);
  EXPECT_DOUBLE_EQ(file->get_real(g + "rope.freq_base"), 1e6);
  EXPECT_DOUBLE_EQ(file->get_real(g + "rope.freq_base_swa"), 1e4);
  EXPECT_EQ(file->get_int(g + "rope.dimension_count"), 32);
  EXPECT_EQ(file->get_int(g + "rope.dimension_count_swa"), 16);
  EXPECT_DOUBLE_EQ(file->get_real(g + "final_logit_softcapping"), 30.0);
  // Tokenizer keys as llama.cpp's converter writes them, and the chat template.
  EXPECT_EQ(file->get_string("tokenizer.ggml.model"), "gemma4");
  EXPECT_EQ(file->get_string_array("tokenizer.ggml.tokens").size(), 512u);
  EXPECT_TRUE(file->has("tokenizer.ggml.merges"));
  EXPECT_TRUE(file->has("tokenizer.ggml.token_type"));
  EXPECT_EQ(file->get_int("tokenizer.ggml.bos_token_id"), 2);
  EXPECT_EQ(file->get_int("tokenizer.ggml.eos_token_id"), 1);
  EXPECT_EQ(file->get_int("tokenizer.ggml.padding_token_id"), 0);
  EXPECT_TRUE(file->get_bool_or("tokenizer.ggml.add_bos_token", false));
  EXPECT_FALSE(file->get_bool_or("tokenizer.ggml.add_space_prefix", true));
  EXPECT_EQ(file->get_string("tokenizer.chat_template"), kTemplate);
}

TEST(CliConvert, OuttypeAutoKeepsTheCheckpointTypeAndQ8_0Quantizes) {
  test::TempDir dir;
  const std::string bf16 = dir.file("bf16.gguf"), q8 = dir.file("q8.gguf");
  const std::string folder = make_hf_folder(dir, "bf16");
  convert(folder, bf16);  // --outtype auto
  convert(folder, q8, "--outtype q8_0");
  auto a = GgufFile::open(bf16), b = GgufFile::open(q8);
  EXPECT_EQ(a->get_int("general.file_type"), 32);
  EXPECT_EQ(b->get_int("general.file_type"), 7);
  EXPECT_EQ(a->tensor("blk.0.attn_q.weight")->view.dtype, DType::BF16);
  EXPECT_EQ(b->tensor("blk.0.attn_q.weight")->view.dtype, DType::Q8_0);
  EXPECT_EQ(b->tensor("blk.0.attn_norm.weight")->view.dtype, DType::F32);  // norms stay F32
  EXPECT_EQ(logits(bf16), logits(folder));  // bf16 -> bf16 is lossless
}

TEST(CliConvert, BadInputGivesAClearError) {
  test::TempDir dir;
  const std::string gguf = test::data_dir() + "/models/gemma4-tiny-moe-f32.gguf";
  const std::string folder = make_hf_folder(dir);
  std::filesystem::create_directories(dir.file("no-tokenizer"));
  struct Case {
    std::string args, fragment;
  };
  const std::vector<Case> cases = {
      {gguf + " " + dir.file("x.gguf"), "is not a folder"},
      {dir.file("no-tokenizer") + " " + dir.file("x.gguf"), "no tokenizer.json"},
      {folder + " " + dir.file("x.gguf") + " --outtype q4_0", "unknown type 'q4_0'"},
  };
  for (const Case& c : cases) {
    auto r = run_command(facet() + " convert " + c.args);
    EXPECT_EQ(r.exit_code, 1) << c.args << "\n" << r.err;
    EXPECT_NE(r.err.find("error: "), std::string::npos) << c.args << "\n" << r.err;
    EXPECT_NE(r.err.find(c.fragment), std::string::npos) << c.args << "\n" << r.err;
  }
}

}  // namespace
}  // namespace facet
