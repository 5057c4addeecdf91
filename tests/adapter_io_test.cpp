// Adapter files: the PEFT folder and llama.cpp GGUF writers against the layouts in the
// finetune spec (§2.1, §2.2, §3.1), read back with the generic safetensors / GGUF readers;
// round trips that give the same A, B and scale bit for bit; hand-made PEFT / Unsloth files
// (other prefixes, BF16, rank and alpha patterns, tower tensors, dead K/V) and bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "formats/gguf.h"
#include "formats/safetensors.h"
#include "model/random_model.h"
#include "support/error_text.h"
#include "support/lora_fixtures.h"
#include "support/temp_dir.h"
#include "tensor/convert.h"
#include "train/adapter_io.h"
#include "train/adapter_runtime.h"
#include "util/error.h"

namespace facet::train {
namespace {

using nlohmann::json;

LoraConfig config_of(int rank, double alpha, bool rslora) {
  LoraConfig c;
  c.rank = rank;
  c.alpha = alpha;
  c.use_rslora = rslora;
  return c;
}

using test::expect_same_adapter;
using test::error_of;

void write_json(const std::string& path, const json& j) { std::ofstream(path) << j.dump(2); }

// ---- the PEFT folder ----

TEST(AdapterPeft, WritesPeftsLayoutAndReadsBackBitForBit) {
  test::TempDir dir;
  auto model = load_model(test::tiny_e2b_path());
  const LoraModel lora = test::random_adapter(*model, config_of(4, 16, true), 9);
  save_peft_adapter(lora, *model, dir.path());

  // adapter_config.json as PEFT writes it.
  std::ifstream in(dir.file("adapter_config.json"));
  const json config = json::parse(in);
  EXPECT_EQ(config["peft_type"], "LORA");
  EXPECT_EQ(config["task_type"], "CAUSAL_LM");
  EXPECT_EQ(config["r"], 4);
  EXPECT_EQ(config["lora_alpha"], 16);
  EXPECT_EQ(config["use_rslora"], true);
  EXPECT_EQ(config["bias"], "none");
  EXPECT_EQ(config["base_model_name_or_path"], test::tiny_e2b_path());
  EXPECT_EQ(config["target_modules"], ".*language_model\\..*\\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)");

  // Tensor names and shapes (E2B-like: H 128; layer 0 sliding, q 4 heads × 32; layer 3 full, × 64).
  auto file = SafetensorsFile::open(dir.file("adapter_model.safetensors"));
  EXPECT_EQ(file->metadata().at("format"), "pt");
  const std::string p = "base_model.model.model.language_model.layers.";
  const auto* qa = file->tensor(p + "0.self_attn.q_proj.lora_A.weight");
  const auto* qb = file->tensor(p + "3.self_attn.q_proj.lora_B.weight");
  const auto* db = file->tensor(p + "6.mlp.down_proj.lora_A.weight");
  ASSERT_TRUE(qa && qb && db);
  EXPECT_EQ(qa->dtype_name, "F32");
  EXPECT_EQ(qa->view.shape, (std::vector<int64_t>{4, 128}));
  EXPECT_EQ(qb->view.shape, (std::vector<int64_t>{model->config.n_heads * 64, 4}));
  EXPECT_EQ(db->view.shape, (std::vector<int64_t>{4, model->config.layers[6].ffn_width}));
  // KV-shared layers (4-6) have no k_proj / v_proj adapters.
  EXPECT_EQ(file->tensor(p + "5.self_attn.k_proj.lora_A.weight"), nullptr);
  EXPECT_NE(file->tensor(p + "3.self_attn.k_proj.lora_A.weight"), nullptr);
  // Every key follows ^base_model\.model\.(.+)\.lora_(A|B)\.weight$ and A/B pair up.
  for (const auto& t : file->tensors()) {
    ASSERT_TRUE(t.name.starts_with("base_model.model.")) << t.name;
    const bool a = t.name.ends_with(".lora_A.weight"), b = t.name.ends_with(".lora_B.weight");
    ASSERT_TRUE(a || b) << t.name;
    std::string other = t.name;
    other.replace(other.size() - 8, 1, a ? "B" : "A");
    EXPECT_NE(file->tensor(other), nullptr) << t.name;
  }

  // Folder and file paths both load, bit for bit.
  expect_same_adapter(load_adapter(dir.path(), *model), lora);
  expect_same_adapter(load_adapter(dir.file("adapter_model.safetensors"), *model), lora);
}

TEST(AdapterPeft, TextOnlyHfBaseGetsTheTextPrefix) {
  // An HF folder written as Gemma4ForCausalLM names its layers "model.layers.N".
  test::TempDir dir;
  auto gguf = load_model(test::tiny_e2b_path());
  GeneratorOptions options;
  options.seed = 3;
  write_random_hf(gguf->config, options, dir.file("hf"));
  auto model = load_model(dir.file("hf"));
  const LoraModel lora = test::random_adapter(*model, config_of(2, 4, false), 4);
  save_peft_adapter(lora, *model, dir.file("peft"));
  auto file = SafetensorsFile::open(dir.file("peft/adapter_model.safetensors"));
  EXPECT_NE(file->tensor("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"), nullptr);
  std::ifstream in(dir.file("peft/adapter_config.json"));
  const json config = json::parse(in);
  EXPECT_EQ(config["target_modules"],
            json({"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}));
  expect_same_adapter(load_adapter(dir.file("peft"), *model), lora);
}

// ---- the llama.cpp GGUF ----

TEST(AdapterGguf, WritesLlamaCppsLayoutAndReadsBackBitForBit) {
  test::TempDir dir;
  auto model = load_model(test::tiny_moe_path());
  for (const bool rslora : {false, true}) {
    const LoraConfig c = rslora ? config_of(6, 5, true) : config_of(8, 16, false);
    const LoraModel lora = test::random_adapter(*model, c, 10);
    const std::string path = dir.file("adapter.gguf");
    save_gguf_adapter(lora, *model, path);

    auto file = GgufFile::open(path);
    EXPECT_EQ(file->get_string("general.architecture"), "gemma4");
    EXPECT_EQ(file->get_string("general.type"), "adapter");
    EXPECT_EQ(file->get_string("adapter.type"), "lora");
    ASSERT_EQ(file->find("adapter.lora.alpha")->type, GgufType::F32);
    // llama.cpp computes alpha / rank: the file's alpha must give PEFT's scale.
    EXPECT_NEAR(file->get_real("adapter.lora.alpha") / c.rank, c.scale(), 1e-6 * c.scale());
    const GgufTensor* a = file->tensor("blk.0.attn_q.weight.lora_a");
    const GgufTensor* b = file->tensor("blk.0.attn_q.weight.lora_b");
    ASSERT_TRUE(a && b);
    // Row-major [r, in] and [out, r]: ggml ne [in, r] and [r, out], as llama.cpp checks.
    EXPECT_EQ(a->view.shape, (std::vector<int64_t>{c.rank, 128}));
    EXPECT_EQ(b->view.shape, (std::vector<int64_t>{model->config.n_heads * model->config.layers[0].head_dim, c.rank}));
    // Same bytes as PEFT's lora_A.
    const LoraWeights* q0 = lora.layers[0].get(LoraTarget::Q);
    EXPECT_EQ(std::memcmp(a->view.data, q0->a.data(), q0->a.size() * 4), 0);
    // K=V full layers (2 and 5 in the MoE model) have no attn_v adapter.
    EXPECT_EQ(file->tensor("blk.5.attn_v.weight.lora_a"), nullptr);
    for (const GgufTensor& t : file->tensors())
      EXPECT_TRUE(t.name.ends_with(".weight.lora_a") || t.name.ends_with(".weight.lora_b")) << t.name;

    expect_same_adapter(load_adapter(path, *model), lora);
  }
}

TEST(AdapterRoundTrip, PeftAndGgufCopiesGiveIdenticalLogits) {
  test::TempDir dir;
  auto model = load_model(test::tiny_e2b_path());
  const auto tokens = test::test_tokens(model->config.vocab_size);
  LoraConfig c = config_of(4, 8, false);
  c.targets = {LoraTarget::Q, LoraTarget::K, LoraTarget::V, LoraTarget::O, LoraTarget::Gate, LoraTarget::Up,
               LoraTarget::Down, LoraTarget::PleGate, LoraTarget::PleProj};
  const LoraModel lora = test::random_adapter(*model, c, 12);
  save_peft_adapter(lora, *model, dir.file("peft"));
  save_gguf_adapter(lora, *model, dir.file("a.gguf"));
  attach_adapters(*model, {{"mem", std::make_shared<const LoraModel>(lora), 1.0}});
  const auto in_memory = test::logits_of(*model, tokens);
  attach_adapters(*model, {load_adapter_for_inference(dir.file("peft"), 1.0, *model)});
  const auto from_peft = test::logits_of(*model, tokens);
  attach_adapters(*model, {load_adapter_for_inference(dir.file("a.gguf"), 1.0, *model)});
  const auto from_gguf = test::logits_of(*model, tokens);
  EXPECT_EQ(from_peft, in_memory);
  EXPECT_EQ(from_gguf, in_memory);
}

// A llama.cpp GGUF without facet's PEFT keys (as convert_lora_to_gguf.py writes it): the
// scale is alpha / rank per module, with modules of different ranks.
TEST(AdapterGguf, ForeignFileUsesLlamaCppsScaleRule) {
  test::TempDir dir;
  auto model = load_model(test::tiny_e2b_path());
  const int64_t H = 128, q_rows = model->config.n_heads * model->config.layers[0].head_dim;
  std::vector<float> a4(4 * H, 0.25f), b4(q_rows * 4, 0.5f), b2(H * 2, 1.0f);
  const int64_t o_in = q_rows;
  std::vector<float> a2o(2 * o_in, -0.125f);
  GgufWriter w;
  w.set("general.architecture", GgufValue::of_string("gemma4"));
  w.set("general.type", GgufValue::of_string("adapter"));
  w.set("adapter.type", GgufValue::of_string("lora"));
  w.set("adapter.lora.alpha", GgufValue::of_f32(8.0f));
  w.add_tensor("blk.0.attn_q.weight.lora_a", DType::F32, {4, H}, a4.data());
  w.add_tensor("blk.0.attn_q.weight.lora_b", DType::F32, {q_rows, 4}, b4.data());
  w.add_tensor("blk.0.attn_output.weight.lora_a", DType::F32, {2, o_in}, a2o.data());
  w.add_tensor("blk.0.attn_output.weight.lora_b", DType::F32, {H, 2}, b2.data());
  w.add_tensor("blk.0.attn_norm.weight", DType::F32, {H}, b2.data());  // mergekit-style norm: ignored
  w.write(dir.file("foreign.gguf"));
  std::vector<std::string> warnings;
  const LoraModel l = load_adapter(dir.file("foreign.gguf"), *model, &warnings);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("norm"), std::string::npos);
  // Effective scale × B as llama.cpp has it: q: 8/4 · 0.5 = 1; o: 8/2 · 1 = 4.
  const double s = l.config.scale();
  EXPECT_FLOAT_EQ(s * l.layers[0].get(LoraTarget::Q)->b[0], 1.0);
  EXPECT_FLOAT_EQ(s * l.layers[0].get(LoraTarget::O)->b[0], 4.0);
  EXPECT_EQ(l.layers[0].get(LoraTarget::O)->a[0], -0.125f);
}

// ---- hand-made PEFT / Unsloth files ----

struct HandMade {
  test::TempDir dir;
  SafetensorsWriter writer;
  std::vector<std::vector<float>> storage;
  std::vector<std::vector<uint16_t>> storage16;

  void add(const std::string& name, std::vector<int64_t> shape, float start, DType dtype = DType::F32) {
    std::vector<float> v(static_cast<size_t>(shape[0] * shape[1]));
    for (size_t i = 0; i < v.size(); ++i) v[i] = start + 0.001f * static_cast<float>(i % 97);
    if (dtype == DType::BF16) {
      std::vector<uint16_t> h(v.size());
      for (size_t i = 0; i < v.size(); ++i) h[i] = f32_to_bf16(v[i]);
      storage16.push_back(std::move(h));
      writer.add_tensor(name, dtype, shape, storage16.back().data());
    } else {
      storage.push_back(std::move(v));
      writer.add_tensor(name, dtype, shape, storage.back().data());
    }
  }
  std::string write(const json& config) {
    writer.write(dir.file("adapter_model.safetensors"));
    write_json(dir.file("adapter_config.json"), config);
    return dir.path();
  }
};

TEST(AdapterPeft, UnslothStyleFileWithTowersBf16AndPatternsLoads) {
  auto model = load_model(test::tiny_e2b_path());
  const int64_t H = 128, q_rows = model->config.n_heads * model->config.layers[0].head_dim;
  HandMade f;
  f.storage.reserve(64);
  f.storage16.reserve(64);
  const std::string p = "base_model.model.model.language_model.layers.";
  f.add(p + "0.self_attn.q_proj.lora_A.weight", {8, H}, 0.1f, DType::BF16);
  f.add(p + "0.self_attn.q_proj.lora_B.weight", {q_rows, 8}, 0.2f, DType::BF16);
  f.add(p + "1.mlp.up_proj.lora_A.weight", {2, H}, 0.3f);  // rank_pattern: r 2, alpha_pattern: 6
  f.add(p + "1.mlp.up_proj.lora_B.weight", {model->config.layers[1].ffn_width, 2}, 0.4f);
  // Unsloth's vision-tower names wrap the inner Linear: skipped with a warning.
  f.add("base_model.model.model.vision_tower.encoder.layers.0.self_attn.q_proj.linear.lora_A.weight", {8, 16}, 0);
  f.add("base_model.model.model.vision_tower.encoder.layers.0.self_attn.q_proj.linear.lora_B.weight", {16, 8}, 0);
  // transformers 5.5 dead K on a KV-shared layer: skipped with a warning.
  f.add(p + "5.self_attn.k_proj.lora_A.weight", {8, H}, 0);
  f.add(p + "5.self_attn.k_proj.lora_B.weight", {model->config.layers[5].n_kv_heads * model->config.layers[5].head_dim, 8}, 0);
  const std::string path = f.write({{"peft_type", "LORA"}, {"r", 8}, {"lora_alpha", 16}, {"use_rslora", false},
                                    {"rank_pattern", {{"up_proj", 2}}}, {"alpha_pattern", {{"layers.1.mlp.up_proj", 6}}},
                                    {"target_modules", {"q_proj", "up_proj", "k_proj"}}});
  std::vector<std::string> warnings;
  const LoraModel l = load_adapter(path, *model, &warnings);
  ASSERT_EQ(warnings.size(), 2u);
  const double s = l.config.scale();
  EXPECT_EQ(s, 2.0);  // 16 / 8
  // q_proj: BF16 values widened exactly, scale 16/8.
  EXPECT_EQ(l.layers[0].get(LoraTarget::Q)->a[5], bf16_to_f32(f32_to_bf16(0.1f + 0.001f * 5.0f)));
  // up_proj: its own scale 6/2 = 3, folded into B relative to the adapter's 2.
  EXPECT_FLOAT_EQ(s * l.layers[1].get(LoraTarget::Up)->b[3], 3.0f * (0.4f + 0.001f * 3.0f));
  EXPECT_EQ(l.layers[1].get(LoraTarget::Up)->rank, 2);
  EXPECT_EQ(l.layers[5].get(LoraTarget::K), nullptr);
}

TEST(AdapterPeft, OtherPrefixesLoad) {
  auto model = load_model(test::tiny_e2b_path());
  for (const std::string prefix : {"base_model.model.model.layers.", "base_model.model.language_model.model.layers.",
                                   "model.language_model.layers."}) {
    HandMade f;
    f.storage.reserve(8);
    f.add(prefix + "2.self_attn.o_proj.lora_A.weight", {4, model->config.n_heads * model->config.layers[2].head_dim}, 0.1f);
    f.add(prefix + "2.self_attn.o_proj.lora_B.weight", {128, 4}, 0.2f);
    const LoraModel l = load_adapter(f.write({{"r", 4}, {"lora_alpha", 4}}), *model);
    ASSERT_NE(l.layers[2].get(LoraTarget::O), nullptr) << prefix;
    EXPECT_EQ(l.config.scale(), 1.0);
  }
}

// ---- bad input ----

TEST(AdapterBadInput, ClearErrors) {
  test::TempDir dir;
  auto e2b = load_model(test::tiny_e2b_path());
  auto moe = load_model(test::tiny_moe_path());
  const LoraModel lora = test::random_adapter(*e2b, config_of(4, 8, false), 2);
  save_peft_adapter(lora, *e2b, dir.file("peft"));
  save_gguf_adapter(lora, *e2b, dir.file("a.gguf"));

  // An adapter for another model: shapes (and K=V layers) do not match.
  EXPECT_NE(error_of([&] { load_adapter(dir.file("peft"), *moe); }).find("another model"), std::string::npos);
  EXPECT_NE(error_of([&] { load_adapter(dir.file("a.gguf"), *moe); }).find("another model"), std::string::npos);

  // Truncated files.
  for (const std::string name : {"peft/adapter_model.safetensors", "a.gguf"}) {
    auto bytes = test::read_bytes(dir.file(name));
    bytes.resize(bytes.size() - 100);
    test::write_bytes(dir.file("cut_" + std::filesystem::path(name).filename().string()), bytes);
  }
  std::filesystem::copy_file(dir.file("peft/adapter_config.json"), dir.file("adapter_config.json"));
  EXPECT_NE(error_of([&] { load_adapter(dir.file("cut_adapter_model.safetensors"), *e2b); }), "(no error)");
  EXPECT_NE(error_of([&] { load_adapter(dir.file("cut_a.gguf"), *e2b); }), "(no error)");

  const int64_t H = 128;
  const std::string p = "base_model.model.model.language_model.layers.";
  auto one_module = [&](const std::string& module, int layer, int64_t in, int64_t out, const json& config) {
    HandMade f;
    f.storage.reserve(8);
    f.add(p + std::to_string(layer) + "." + module + ".lora_A.weight", {4, in}, 0.1f);
    f.add(p + std::to_string(layer) + "." + module + ".lora_B.weight", {out, 4}, 0.1f);
    const std::string path = f.write(config);
    return error_of([&] { load_adapter(path, *e2b); });
  };
  const json ok = {{"r", 4}, {"lora_alpha", 8}};
  EXPECT_NE(one_module("self_attn.foo_proj", 0, H, H, ok).find("unknown module 'self_attn.foo_proj'"), std::string::npos);
  EXPECT_NE(one_module("self_attn.o_proj", 50, H, H, ok).find("layer 50, but the model has 7 layers"), std::string::npos);
  EXPECT_NE(one_module("mlp.up_proj", 0, H + 1, 512, ok).find("expected [r, 128]"), std::string::npos);
  EXPECT_NE(one_module("self_attn.o_proj", 0, e2b->config.n_heads * 32, H, {{"r", 8}, {"lora_alpha", 8}}).find("r = 8"),
            std::string::npos);
  EXPECT_NE(one_module("self_attn.o_proj", 0, e2b->config.n_heads * 32, H, {{"r", 4}, {"use_dora", true}}).find("DoRA"),
            std::string::npos);
  EXPECT_NE(one_module("self_attn.o_proj", 0, e2b->config.n_heads * 32, H, {{"peft_type", "IA3"}}).find("LORA"),
            std::string::npos);

  // Matching nothing: only vision-tower tensors.
  {
    HandMade f;
    f.storage.reserve(8);
    f.add("base_model.model.model.vision_tower.layers.0.q_proj.linear.lora_A.weight", {4, 16}, 0);
    f.add("base_model.model.model.vision_tower.layers.0.q_proj.linear.lora_B.weight", {16, 4}, 0);
    const std::string path = f.write(ok);
    EXPECT_NE(error_of([&] { load_adapter(path, *e2b, nullptr); }).find("no LoRA tensor"), std::string::npos);
  }
  // A without B.
  {
    HandMade f;
    f.storage.reserve(8);
    f.add(p + "0.self_attn.q_proj.lora_A.weight", {4, H}, 0);
    const std::string path = f.write(ok);
    EXPECT_NE(error_of([&] { load_adapter(path, *e2b); }).find("no matching lora_B"), std::string::npos);
  }
  // No adapter_config.json next to the tensors; a model given as an adapter; no such path.
  {
    HandMade f;
    f.storage.reserve(8);
    f.add(p + "0.self_attn.q_proj.lora_A.weight", {4, H}, 0);
    f.writer.write(f.dir.file("adapter_model.safetensors"));
    EXPECT_NE(error_of([&] { load_adapter(f.dir.path(), *e2b); }).find("adapter_config.json"), std::string::npos);
  }
  EXPECT_NE(error_of([&] { load_adapter(test::tiny_e2b_path(), *e2b); }).find("expected 'adapter'"), std::string::npos);
  EXPECT_NE(error_of([&] { load_adapter(dir.file("nope"), *e2b); }).find("no such file"), std::string::npos);
}

}  // namespace
}  // namespace facet::train
