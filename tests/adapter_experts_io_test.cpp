// MoE expert LoRA (PEFT target_parameters) in adapter files and merged exports: PEFT's
// ParamWrapper key layout (nested wrappers when both expert parameters are targeted),
// round trips, hand-written files in either target_parameters order, clear errors, and
// `facet export --merge` against expert weights merged here in double.
#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>

#include "formats/gguf.h"
#include "formats/safetensors.h"
#include "support/error_text.h"
#include "support/lora_fixtures.h"
#include "support/run_command.h"
#include "support/temp_dir.h"
#include "train/adapter_io.h"
#include "train/adapter_runtime.h"
#include "train/merge_export.h"
#include "util/error.h"

namespace facet::train {
namespace {

using nlohmann::json;
const std::string kLayers = "base_model.model.model.language_model.layers.";

LoraConfig experts_config(int rank, double alpha, std::vector<LoraTarget> targets) {
  LoraConfig c;
  c.rank = rank;
  c.alpha = alpha;
  c.targets = std::move(targets);
  return c;
}

using test::error_of;

std::vector<float> floats_of(const SafetensorsTensor& t) {
  const float* p = reinterpret_cast<const float*>(t.view.data);
  return std::vector<float>(p, p + t.view.numel());
}

using test::expect_same_adapter;

TEST(AdapterExperts, PeftKeysFollowParamWrapperNestingAndReadBackBitForBit) {
  test::TempDir dir;
  auto model = load_model(test::tiny_moe_path());  // 6 layers, 4 experts, H 128, I 64
  const LoraModel lora = test::random_adapter(
      *model, experts_config(3, 6, {LoraTarget::Q, LoraTarget::ExpertGateUp, LoraTarget::ExpertDown}), 4);
  save_peft_adapter(lora, *model, dir.path());

  std::ifstream in(dir.file("adapter_config.json"));
  const json config = json::parse(in);
  EXPECT_EQ(config["target_parameters"], json({"experts.gate_up_proj", "experts.down_proj"}));
  EXPECT_EQ(config["target_modules"], ".*language_model\\..*\\.(q_proj)");
  EXPECT_EQ(config["lora_dropout"], 0.0);
  EXPECT_EQ(config["r"], 3);

  // Both parameters of `experts` targeted: the first listed (gate_up) is the inner wrapper.
  auto file = SafetensorsFile::open(dir.file("adapter_model.safetensors"));
  for (int l = 0; l < 6; ++l) {
    const std::string p = kLayers + std::to_string(l) + ".experts.";
    const auto* gu_a = file->tensor(p + "base_layer.lora_A.weight");
    const auto* gu_b = file->tensor(p + "base_layer.lora_B.weight");
    const auto* dn_a = file->tensor(p + "lora_A.weight");
    const auto* dn_b = file->tensor(p + "lora_B.weight");
    ASSERT_TRUE(gu_a && gu_b && dn_a && dn_b) << "layer " << l;
    EXPECT_EQ(gu_a->view.shape, (std::vector<int64_t>{3 * 4, 128}));
    EXPECT_EQ(gu_b->view.shape, (std::vector<int64_t>{2 * 64, 3 * 4}));
    EXPECT_EQ(dn_a->view.shape, (std::vector<int64_t>{3 * 4, 64}));
    EXPECT_EQ(dn_b->view.shape, (std::vector<int64_t>{128, 3 * 4}));
    EXPECT_EQ(floats_of(*gu_b), lora.layers[l].get(LoraTarget::ExpertGateUp)->b);
    EXPECT_EQ(floats_of(*dn_a), lora.layers[l].get(LoraTarget::ExpertDown)->a);
  }
  expect_same_adapter(load_adapter(dir.path(), *model), lora);

  // The same effect after the round trip (and a real one: the adapter moves the logits).
  const auto tokens = test::test_tokens(model->config.vocab_size);
  const auto base = test::logits_of(*model, tokens);
  attach_adapters(*model, {{"mem", std::make_shared<const LoraModel>(lora), 1.0}});
  const auto direct = test::logits_of(*model, tokens);
  attach_adapters(*model, {load_adapter_for_inference(dir.path(), 1.0, *model)});
  EXPECT_EQ(test::logits_of(*model, tokens), direct);
  EXPECT_GT(test::max_abs_diff(direct, base), 0.05);
}

TEST(AdapterExperts, LoneParameterIsTheOuterWrapper) {
  test::TempDir dir;
  auto model = load_model(test::tiny_moe_path());
  const LoraModel lora = test::random_adapter(*model, experts_config(2, 4, {LoraTarget::ExpertDown}), 6);
  save_peft_adapter(lora, *model, dir.path());
  std::ifstream in(dir.file("adapter_config.json"));
  const json config = json::parse(in);
  EXPECT_EQ(config["target_parameters"], json({"experts.down_proj"}));
  EXPECT_EQ(config["target_modules"], json::array());
  auto file = SafetensorsFile::open(dir.file("adapter_model.safetensors"));
  EXPECT_NE(file->tensor(kLayers + "2.experts.lora_A.weight"), nullptr);
  EXPECT_EQ(file->tensor(kLayers + "2.experts.base_layer.lora_A.weight"), nullptr);
  expect_same_adapter(load_adapter(dir.path(), *model), lora);
}

// A file written here by hand, as PEFT would with target_parameters listed the other way
// round: down_proj first, so down is the inner wrapper (experts.base_layer.lora_*).
struct HandWritten {
  test::TempDir dir;
  std::vector<float> gu_a = std::vector<float>(2 * 4 * 128), gu_b = std::vector<float>(128 * 2 * 4),
                     dn_a = std::vector<float>(2 * 4 * 64), dn_b = std::vector<float>(128 * 2 * 4);
  HandWritten() {
    for (auto* v : {&gu_a, &gu_b, &dn_a, &dn_b})
      for (size_t i = 0; i < v->size(); ++i) (*v)[i] = static_cast<float>((i % 17) * 0.01 - 0.08);
  }
  void write(const json& target_parameters, bool swap_slots, double dropout = 0.0) {
    SafetensorsWriter w;
    const std::string inner = kLayers + "1.experts.base_layer.", outer = kLayers + "1.experts.";
    const std::string& dn = swap_slots ? outer : inner;
    const std::string& gu = swap_slots ? inner : outer;
    w.add_tensor(dn + "lora_A.weight", DType::F32, {8, 64}, dn_a.data());
    w.add_tensor(dn + "lora_B.weight", DType::F32, {128, 8}, dn_b.data());
    w.add_tensor(gu + "lora_A.weight", DType::F32, {8, 128}, gu_a.data());
    w.add_tensor(gu + "lora_B.weight", DType::F32, {128, 8}, gu_b.data());
    w.write(dir.file("adapter_model.safetensors"));
    json c = {{"peft_type", "LORA"}, {"r", 2}, {"lora_alpha", 4}, {"lora_dropout", dropout},
              {"target_modules", json::array()}, {"target_parameters", target_parameters}};
    std::ofstream(dir.file("adapter_config.json")) << c.dump(2);
  }
};

TEST(AdapterExperts, HandWrittenFileInEitherOrderLoads) {
  auto model = load_model(test::tiny_moe_path());
  HandWritten h;
  h.write({"experts.down_proj", "experts.gate_up_proj"}, false);
  const LoraModel lora = load_adapter(h.dir.path(), *model);
  const LoraWeights* gu = lora.layers[1].get(LoraTarget::ExpertGateUp);
  const LoraWeights* dn = lora.layers[1].get(LoraTarget::ExpertDown);
  ASSERT_TRUE(gu && dn);
  EXPECT_EQ(gu->a, h.gu_a);
  EXPECT_EQ(gu->b, h.gu_b);
  EXPECT_EQ(dn->a, h.dn_a);
  EXPECT_EQ(dn->b, h.dn_b);
  EXPECT_EQ(lora.layers[0].get(LoraTarget::ExpertDown), nullptr);

  // Unsloth's order with the slots swapped accordingly also loads (full names are fine too).
  h.write({"model.language_model.layers.1.experts.gate_up_proj", "experts.down_proj"}, true);
  const LoraModel again = load_adapter(h.dir.path(), *model);
  EXPECT_EQ(again.layers[1].get(LoraTarget::ExpertGateUp)->a, h.gu_a);
  EXPECT_EQ(again.layers[1].get(LoraTarget::ExpertDown)->b, h.dn_b);
}

TEST(AdapterExperts, BadFilesAreClearErrors) {
  auto model = load_model(test::tiny_moe_path());
  HandWritten h;
  // Slots that contradict the config's order: refused, never guessed.
  h.write({"experts.gate_up_proj", "experts.down_proj"}, false);
  EXPECT_NE(error_of([&] { load_adapter(h.dir.path(), *model); }).find("experts.base_layer"), std::string::npos);
  h.write(nullptr, false);
  EXPECT_NE(error_of([&] { load_adapter(h.dir.path(), *model); }).find("no target_parameters"), std::string::npos);
  h.write({"experts.down_proj"}, false);
  EXPECT_NE(error_of([&] { load_adapter(h.dir.path(), *model); }).find("names one"), std::string::npos);
  h.write({"experts.gate_proj"}, false);
  EXPECT_NE(error_of([&] { load_adapter(h.dir.path(), *model); }).find("not supported"), std::string::npos);
  h.write({"experts.down_proj", "experts.gate_up_proj"}, false, 0.05);
  EXPECT_NE(error_of([&] { load_adapter(h.dir.path(), *model); }).find("lora_dropout"), std::string::npos);
  h.write({"experts.down_proj", "experts.gate_up_proj"}, false);
  auto dense = load_model(test::tiny_e2b_path());
  EXPECT_NE(error_of([&] { load_adapter(h.dir.path(), *dense); }).find("no MoE block"), std::string::npos);

  // llama.cpp GGUF: expert factors are 3-D, and only the fused gate_up layout is read.
  GgufWriter w;
  w.set("general.architecture", GgufValue::of_string("gemma4"));
  w.set("general.type", GgufValue::of_string("adapter"));
  w.set("adapter.type", GgufValue::of_string("lora"));
  std::vector<float> zeros(8 * 128, 0.0f);
  w.add_tensor("blk.0.ffn_down_exps.weight.lora_a", DType::F32, {8, 64}, zeros.data());
  w.add_tensor("blk.0.ffn_down_exps.weight.lora_b", DType::F32, {128, 8}, zeros.data());
  w.write(h.dir.file("flat.gguf"));
  EXPECT_NE(error_of([&] { load_adapter(h.dir.file("flat.gguf"), *model); }).find("3-D"), std::string::npos);
  GgufWriter split;
  split.set("general.architecture", GgufValue::of_string("gemma4"));
  split.set("general.type", GgufValue::of_string("adapter"));
  split.set("adapter.type", GgufValue::of_string("lora"));
  split.add_tensor("blk.0.ffn_gate_exps.weight.lora_a", DType::F32, {4, 2, 128}, zeros.data());
  split.add_tensor("blk.0.ffn_gate_exps.weight.lora_b", DType::F32, {4, 64, 2}, zeros.data());
  split.write(h.dir.file("split.gguf"));
  EXPECT_NE(error_of([&] { load_adapter(h.dir.file("split.gguf"), *model); }).find("ffn_gate_up_exps"),
            std::string::npos);
}

// llama.cpp's layout (build_lora_mm_id -> ggml_mul_mat_id): lora_a [E, r, in] and
// lora_b [E, out, r] row-major, lora_b[e] = B_e = PEFT's columns j·E + e of B.
TEST(AdapterExperts, GgufAdapterHasPerExpertFactorsAndReadsBackBitForBit) {
  test::TempDir dir;
  auto model = load_model(test::tiny_moe_path());
  const LoraModel lora = test::random_adapter(
      *model, experts_config(3, 5, {LoraTarget::K, LoraTarget::ExpertGateUp, LoraTarget::ExpertDown}), 21);
  save_gguf_adapter(lora, *model, dir.file("a.gguf"));
  auto file = GgufFile::open(dir.file("a.gguf"));
  EXPECT_FLOAT_EQ(static_cast<float>(file->get_real_or("adapter.lora.alpha", 0)), 5.0f);
  for (int l = 0; l < 6; ++l)
    for (const auto& [tensor, target] : {std::pair{"ffn_gate_up_exps", LoraTarget::ExpertGateUp},
                                         std::pair{"ffn_down_exps", LoraTarget::ExpertDown}}) {
      const std::string base = "blk." + std::to_string(l) + "." + tensor + ".weight";
      const GgufTensor* a = file->tensor(base + ".lora_a");
      const GgufTensor* b = file->tensor(base + ".lora_b");
      ASSERT_TRUE(a && b) << base;
      const LoraWeights* m = lora.layers[l].get(target);
      EXPECT_EQ(a->view.shape, (std::vector<int64_t>{4, 3, m->in}));
      EXPECT_EQ(b->view.shape, (std::vector<int64_t>{4, m->out, 3}));
      const float* pa = reinterpret_cast<const float*>(a->view.data);
      const float* pb = reinterpret_cast<const float*>(b->view.data);
      EXPECT_EQ(std::vector<float>(pa, pa + a->view.numel()), m->a);
      for (int64_t e = 0; e < 4; ++e)
        for (int64_t o = 0; o < m->out; ++o)
          for (int64_t j = 0; j < 3; ++j)
            ASSERT_EQ(pb[(e * m->out + o) * 3 + j], m->b[static_cast<size_t>(o * 3 * 4 + j * 4 + e)]);
    }
  expect_same_adapter(load_adapter(dir.file("a.gguf"), *model), lora);
  const auto tokens = test::test_tokens(model->config.vocab_size);
  attach_adapters(*model, {{"mem", std::make_shared<const LoraModel>(lora), 1.0}});
  const auto direct = test::logits_of(*model, tokens);
  attach_adapters(*model, {load_adapter_for_inference(dir.file("a.gguf"), 1.0, *model)});
  EXPECT_EQ(test::logits_of(*model, tokens), direct);
}

// `facet export --merge` with an expert adapter: the merged expert tensors equal
// base + s·B_e A_e computed here in double from the file's own A and B (PEFT's reshape:
// A as [E, r, in], B as [out, r, E]), and the merged model's logits equal the adapter's.
TEST(AdapterExperts, ExportMergeFoldsEveryExpertsDelta) {
  test::TempDir dir;
  auto model = load_model(test::tiny_moe_path());
  const LoraModel lora = test::random_adapter(
      *model, experts_config(2, 3, {LoraTarget::ExpertGateUp, LoraTarget::ExpertDown, LoraTarget::O}), 12);
  save_peft_adapter(lora, *model, dir.file("peft"));
  const auto tokens = test::test_tokens(model->config.vocab_size);
  attach_adapters(*model, {load_adapter_for_inference(dir.file("peft"), 0.7, *model)});
  const auto runtime = test::logits_of(*model, tokens);
  attach_adapters(*model, {});

  MergeExportOptions o;
  o.base = test::tiny_moe_path();
  o.adapters = {{dir.file("peft"), 0.7}};
  o.out = dir.file("merged.gguf");
  o.threads = 2;
  const MergeExportReport report = export_merged(o);
  EXPECT_EQ(report.adapted_matrices, 6 * 3);
  const auto merged_logits = test::logits_of(*load_model(o.out), tokens);
  EXPECT_LE(test::max_abs_diff(merged_logits, runtime), 1e-5);
  // The Hugging Face folder export merges the same rows (experts.gate_up_proj [E, 2I, H]).
  o.out = dir.file("merged_hf");
  o.outtype = "f32";
  export_merged(o);
  EXPECT_EQ(test::logits_of(*load_model(o.out), tokens), merged_logits);
  o.out = dir.file("merged.gguf");

  auto base = GgufFile::open(test::tiny_moe_path());
  auto merged = GgufFile::open(o.out);
  auto peft = SafetensorsFile::open(dir.file("peft") + "/adapter_model.safetensors");
  const double s = 0.7 * 3.0 / 2.0;  // user scale · alpha / r
  const int64_t E = 4, R = 2;
  double worst = 0;
  for (int l = 0; l < 6; ++l)
    for (const auto& [tensor, slot] : {std::pair{"ffn_gate_up_exps", "experts.base_layer."},
                                       std::pair{"ffn_down_exps", "experts."}}) {
      const std::string name = "blk." + std::to_string(l) + "." + tensor + ".weight";
      const GgufTensor* w0 = base->tensor(name);
      const GgufTensor* w1 = merged->tensor(name);
      ASSERT_TRUE(w0 && w1) << name;
      const std::vector<float> a = floats_of(*peft->tensor(kLayers + std::to_string(l) + "." + slot + "lora_A.weight"));
      const std::vector<float> b = floats_of(*peft->tensor(kLayers + std::to_string(l) + "." + slot + "lora_B.weight"));
      const int64_t out = w0->view.dim(1), in = w0->view.dim(2);
      const float* p0 = reinterpret_cast<const float*>(w0->view.data);
      const float* p1 = reinterpret_cast<const float*>(w1->view.data);
      for (int64_t e = 0; e < E; ++e)
        for (int64_t o = 0; o < out; ++o)
          for (int64_t i = 0; i < in; ++i) {
            double delta = 0;
            for (int64_t j = 0; j < R; ++j)
              delta += static_cast<double>(b[static_cast<size_t>(o * R * E + j * E + e)]) *
                       a[static_cast<size_t>((e * R + j) * in + i)];
            const size_t k = static_cast<size_t>((e * out + o) * in + i);
            worst = std::max(worst, std::abs(p1[k] - (p0[k] + s * delta)));
          }
    }
  std::printf("  merged expert weights vs double reference: max |diff| %.3g\n", worst);
  EXPECT_LE(worst, 1e-6);
}

TEST(AdapterExperts, CliLoraFlagAppliesExpertAdapters) {
  test::TempDir dir;
  auto model = load_model(test::tiny_moe_path());
  const LoraModel lora = test::random_adapter(*model, experts_config(2, 4, {LoraTarget::ExpertGateUp}), 8);
  save_peft_adapter(lora, *model, dir.file("peft"));
  const auto tokens = test::test_tokens(model->config.vocab_size);
  attach_adapters(*model, {{"mem", std::make_shared<const LoraModel>(lora), 1.0}});
  const auto want = test::logits_of(*model, tokens);
  std::string list;
  for (int32_t t : tokens) {
    if (!list.empty()) list += ',';
    list += std::to_string(t);
  }
  auto r = test::run_command(test::facet_bin() + " logits " + test::tiny_moe_path() + " --tokens " + list +
                             " --lora " + dir.file("peft") + " -t 2");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<float> got;
  for (const auto& row : json::parse(r.out))
    for (const auto& v : row) got.push_back(v.get<float>());
  EXPECT_EQ(got, want);
}

}  // namespace
}  // namespace facet::train
