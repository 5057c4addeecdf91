// Loading bitsandbytes NF4 safetensors (Unsloth "-bnb-4bit" layout): every quantized
// matrix of a converted golden model decodes to what the test computes from the raw file
// tensors in double; its logits stay near the float64 golden logits; LoRA fine-tuning on
// the NF4 base learns like on the F32 base; malformed quant states are clear errors.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "formats/safetensors.h"
#include "model/bnb_nf4.h"
#include "model/forward.h"
#include "model/hf_export.h"
#include "model/tensor_manifest.h"
#include "support/golden_logits.h"
#include "support/paths.h"
#include "support/run_command.h"
#include "support/temp_dir.h"
#include "tensor/convert.h"
#include "tensor/nf4.h"
#include "util/error.h"
#include "util/thread_pool.h"

namespace facet {
namespace {

namespace fs = std::filesystem;
using test::run_command;

std::string golden_model() { return test::data_dir() + "/models/gemma4-tiny-e2b-like-f32.gguf"; }

std::vector<float> f32_of(const SafetensorsTensor& t) {
  std::vector<float> v(t.byte_size / 4);
  std::memcpy(v.data(), t.view.data, t.byte_size);
  return v;
}

// Decodes a bitsandbytes NF4 tensor straight from its file tensors, in double, with the
// spec's formulas: absmax_b = nested_map[q_b] · nested_absmax[b/256] + offset,
// w_i = NF4[nibble_i] · absmax_{i/64}, even elements in the high nibble.
std::vector<double> reference_decode_file(const SafetensorsSet& set, const std::string& name, int64_t n) {
  const SafetensorsTensor* state_t = set.find(name + ".quant_state.bitsandbytes__nf4");
  const auto state = nlohmann::json::parse(std::string(reinterpret_cast<const char*>(state_t->view.data), state_t->byte_size));
  const double offset = state["nested_offset"].get<double>();
  const SafetensorsTensor* codes = set.find(name + ".absmax");
  const std::vector<float> nested = f32_of(*set.find(name + ".nested_absmax"));
  const std::vector<float> nested_map = f32_of(*set.find(name + ".nested_quant_map"));
  const std::vector<float> quant_map = f32_of(*set.find(name + ".quant_map"));
  const uint8_t* packed = set.find(name)->view.data;
  std::vector<double> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const int64_t b = i / 64;
    const double absmax = double(nested_map[codes->view.data[b]]) * nested[static_cast<size_t>(b / 256)] + offset;
    const uint8_t byte = packed[i / 2];
    out[static_cast<size_t>(i)] = double(quant_map[i % 2 == 0 ? byte >> 4 : byte & 15]) * absmax;
  }
  return out;
}

TEST(BnbNf4Load, GoldenModelDecodesExactlyAndStaysNearTheGoldenLogits) {
  test::TempDir dir;
  const std::string folder = dir.file("nf4");
  write_hf_model_bnb_nf4(golden_model(), folder, DType::F32, 2);
  auto model = load_model(folder);
  auto set = SafetensorsSet::open(folder);

  // Every tensor with a quant state is used by the model and decodes to the reference.
  int checked = 0, runtime_nf4 = 0;
  for (const TensorSpec& spec : tensor_manifest(model->config)) {
    const TensorView* t = model->source->find(spec.gguf_name);
    if (t == nullptr) continue;
    const std::string hf = model->source->source_name(spec.gguf_name);
    if (set->find(hf + ".quant_state.bitsandbytes__nf4") == nullptr) continue;
    ASSERT_EQ(t->shape, spec.shape) << hf;
    const std::vector<double> want = reference_decode_file(*set, hf, t->numel());
    std::vector<float> row(static_cast<size_t>(t->row_length()));
    for (int64_t r = 0; r < t->row_count(); ++r) {
      row_to_f32(t->dtype, t->row(r), row.data(), t->row_length());
      for (int64_t c = 0; c < t->row_length(); ++c)
        ASSERT_NEAR(row[static_cast<size_t>(c)], want[static_cast<size_t>(r * t->row_length() + c)],
                    1e-6 * (1e-3 + std::fabs(want[static_cast<size_t>(r * t->row_length() + c)])))
            << hf << " row " << r;
    }
    runtime_nf4 += t->dtype == DType::NF4;
    ++checked;
  }
  std::printf("  %d bnb NF4 matrices checked, %d held as runtime NF4 (others F32: rows not whole 64-blocks)\n",
              checked, runtime_nf4);
  EXPECT_GT(checked, 30);
  EXPECT_GT(runtime_nf4, 20);
  EXPECT_EQ(model->source->find("token_embd.weight")->dtype, DType::F32);  // embeddings stay unquantized

  const test::Golden g = test::load_golden("gemma4-tiny-e2b-like-f32");
  ThreadPool pool(2);
  KvCache cache(model->config, 256);
  const std::vector<float> logits = forward(*model, cache, g.tokens, LogitsFor::AllTokens, pool);
  const int64_t V = model->config.vocab_size;
  double worst = 0, sum_sq = 0, ref_sq = 0;
  int top1_same = 0;
  for (size_t t = 0; t < g.logits.size(); ++t) {
    const float* got = &logits[t * static_cast<size_t>(V)];
    size_t best_got = 0, best_ref = 0;
    for (size_t v = 0; v < static_cast<size_t>(V); ++v) {
      const double d = got[v] - g.logits[t][v];
      worst = std::max(worst, std::fabs(d));
      sum_sq += d * d;
      ref_sq += g.logits[t][v] * g.logits[t][v];
      if (got[v] > got[best_got]) best_got = v;
      if (g.logits[t][v] > g.logits[t][best_ref]) best_ref = v;
    }
    top1_same += best_got == best_ref;
  }
  const double rel_rms = std::sqrt(sum_sq / ref_sq);
  std::printf("  NF4 vs float64 golden logits: max |delta| %.4f, relative RMS %.4f, top-1 same at %d/%zu positions\n",
              worst, rel_rms, top1_same, g.logits.size());
  RecordProperty("nf4_max_abs_diff", std::to_string(worst));
  EXPECT_LE(rel_rms, 0.15);
  EXPECT_GE(top1_same, static_cast<int>(g.logits.size() * 3 / 4));
}

// One bnb NF4 tensor "w" [4, 128] written with selective damage.
struct Damage {
  std::string state_suffix = ".quant_state.bitsandbytes__nf4";
  std::string state_json;        // replaces the JSON when set
  bool drop_absmax = false;
  int64_t absmax_extra = 0;      // bytes added to .absmax
  int64_t packed_extra = 0;      // bytes added to the packed codes
  bool drop_nested = false;
  bool bad_quant_map = false;
};

std::string write_case(const test::TempDir& dir, const Damage& d) {
  const int64_t rows = 4, cols = 128, n = rows * cols;
  std::vector<float> w(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) w[static_cast<size_t>(i)] = std::sin(0.37 * static_cast<double>(i));
  auto q = std::make_shared<BnbNf4Quantized>(quantize_bnb_nf4(w.data(), n));
  q->packed.resize(q->packed.size() + static_cast<size_t>(d.packed_extra), 0);
  q->absmax_codes.resize(q->absmax_codes.size() + static_cast<size_t>(d.absmax_extra), 0);
  auto state = std::make_shared<std::string>(
      d.state_json.empty() ? nlohmann::json{{"quant_type", "nf4"}, {"blocksize", 64}, {"dtype", "bfloat16"},
                                            {"shape", {rows, cols}}, {"nested_blocksize", 256},
                                            {"nested_dtype", "float32"}, {"nested_offset", q->offset}}
                                 .dump()
                           : d.state_json);
  auto quant_map = std::make_shared<std::vector<float>>(kNf4Codebook.begin(), kNf4Codebook.end());
  if (d.bad_quant_map) (*quant_map)[3] = 0.25f;
  auto copy = [](const void* src) { return [src](uint8_t* dst, size_t bytes) { std::memcpy(dst, src, bytes); }; };
  SafetensorsWriter writer;
  writer.add_u8_tensor("w", {static_cast<int64_t>(q->packed.size()), 1}, copy(q->packed.data()));
  if (!d.drop_absmax) writer.add_u8_tensor("w.absmax", {static_cast<int64_t>(q->absmax_codes.size())}, copy(q->absmax_codes.data()));
  writer.add_tensor("w.quant_map", DType::F32, {16}, copy(quant_map->data()));
  if (!d.drop_nested) {
    writer.add_tensor("w.nested_absmax", DType::F32, {1}, copy(q->nested_absmax.data()));
    writer.add_tensor("w.nested_quant_map", DType::F32, {256}, copy(dynamic_map_signed().data()));
  }
  writer.add_u8_tensor("w" + d.state_suffix, {static_cast<int64_t>(state->size())}, copy(state->data()));
  const std::string path = dir.file("case.safetensors");
  writer.write(path);  // producers run here, while q and state are alive
  return path;
}

std::string load_error(const Damage& d) {
  test::TempDir dir;
  auto set = SafetensorsSet::open(write_case(dir, d));
  try {
    load_bnb_nf4_weight(*set, "w");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(BnbNf4Load, IntactTensorLoadsAsRuntimeNf4) {
  test::TempDir dir;
  auto set = SafetensorsSet::open(write_case(dir, {}));
  ASSERT_TRUE(is_bnb_4bit_weight(*set, "w"));
  const BnbWeight w = load_bnb_nf4_weight(*set, "w");
  EXPECT_EQ(w.view.dtype, DType::NF4);
  EXPECT_EQ(w.view.shape, (std::vector<int64_t>{4, 128}));
  const std::vector<double> want = reference_decode_file(*set, "w", 512);
  std::vector<float> got(512);
  row_to_f32(DType::NF4, w.view.data, got.data(), 512);
  for (size_t i = 0; i < 512; ++i) EXPECT_NEAR(got[i], want[i], 1e-6) << i;
}

TEST(BnbNf4Load, MalformedQuantStatesAreClearErrors) {
  auto expect_error = [](const Damage& d, const std::string& needle) {
    const std::string err = load_error(d);
    EXPECT_NE(err.find(needle), std::string::npos) << "wanted \"" << needle << "\", got \"" << err << "\"";
  };
  Damage fp4;
  fp4.state_suffix = ".quant_state.bitsandbytes__fp4";
  expect_error(fp4, "FP4");
  Damage fp4_json;
  fp4_json.state_json = R"({"quant_type": "fp4", "blocksize": 64, "shape": [4, 128]})";
  expect_error(fp4_json, "quant_type \"fp4\" is not supported");
  Damage block128;
  block128.state_json = R"({"quant_type": "nf4", "blocksize": 128, "shape": [4, 128]})";
  expect_error(block128, "blocksize 128 is not supported");
  Damage no_absmax;
  no_absmax.drop_absmax = true;
  expect_error(no_absmax, "has no w.absmax");
  Damage long_absmax;
  long_absmax.absmax_extra = 3;
  expect_error(long_absmax, "w.absmax holds 11 bytes, expected 8");
  Damage long_codes;
  long_codes.packed_extra = 1;
  expect_error(long_codes, "tensor w holds 257 bytes, expected 256");
  Damage no_nested;
  no_nested.drop_nested = true;
  expect_error(no_nested, "has no w.nested_absmax");
  Damage bad_json;
  bad_json.state_json = "{\"quant_type\": \"nf4\", ";
  expect_error(bad_json, "is not a JSON object");
  Damage bad_shape;
  bad_shape.state_json = R"({"quant_type": "nf4", "blocksize": 64, "shape": [4, -128]})";
  expect_error(bad_shape, "\"shape\"");
  Damage huge_shape;
  huge_shape.state_json = R"({"quant_type": "nf4", "blocksize": 64, "shape": [2147483648, 2147483648]})";
  expect_error(huge_shape, "tensor w holds 256 bytes");
  Damage wrong_shape;  // the JSON claims more elements than the codes hold
  wrong_shape.state_json = R"({"quant_type": "nf4", "blocksize": 64, "shape": [8, 128], "nested_blocksize": 256, "nested_offset": 0.5})";
  expect_error(wrong_shape, "expected 512");
  Damage no_offset;
  no_offset.state_json = R"({"quant_type": "nf4", "blocksize": 64, "shape": [4, 128], "nested_blocksize": 256})";
  expect_error(no_offset, "nested_offset");
  Damage quant_map;
  quant_map.bad_quant_map = true;
  expect_error(quant_map, "not the NF4 code book");
}

TEST(BnbNf4Load, QuantizationConfigOtherThanBitsandbytesNf4IsRejected) {
  auto error_for = [](const std::string& text) -> std::string {
    try {
      check_quantization_config(nlohmann::json::parse(text), "config.json");
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_EQ(error_for(R"({"quantization_config": {"quant_method": "bitsandbytes", "load_in_4bit": true,
                           "bnb_4bit_quant_type": "nf4"}})"), "");
  EXPECT_EQ(error_for(R"({"model_type": "gemma4"})"), "");
  EXPECT_NE(error_for(R"({"quantization_config": {"quant_method": "bitsandbytes", "bnb_4bit_quant_type": "fp4"}})")
                .find("bnb_4bit_quant_type \"fp4\" is not supported"), std::string::npos);
  EXPECT_NE(error_for(R"({"quantization_config": {"quant_method": "bitsandbytes", "load_in_8bit": true}})")
                .find("8-bit"), std::string::npos);
  EXPECT_NE(error_for(R"({"quantization_config": {"quant_method": "gptq", "bits": 4}})").find("\"gptq\" is not supported"),
            std::string::npos);
}

std::vector<double> losses(const std::string& out_dir) {
  std::ifstream in(out_dir + "/training_log.jsonl");
  std::vector<double> out;
  std::string line;
  while (std::getline(in, line)) out.push_back(nlohmann::json::parse(line)["loss"].get<double>());
  return out;
}

TEST(BnbNf4Load, CliQuantizesRunsAndFineTunesLikeTheF32Base) {
  test::TempDir dir;
  const std::string nf4 = dir.file("nf4"), f32 = dir.file("f32");
  auto q = run_command(test::facet_bin() + " quantize " + golden_model() + " " + nf4 + " NF4 --unquantized-type F32");
  ASSERT_EQ(q.exit_code, 0) << q.err;
  const auto config = nlohmann::json::parse(std::ifstream(nf4 + "/config.json"));
  EXPECT_EQ(config["quantization_config"]["bnb_4bit_quant_type"], "nf4");
  EXPECT_EQ(config["quantization_config"]["bnb_4bit_use_double_quant"], true);
  write_hf_model(golden_model(), f32, DType::F32, 2);

  auto run = run_command(test::facet_bin() + " run " + nf4 + " --tokens 2,313,333 -n 3 --ignore-eos");
  EXPECT_EQ(run.exit_code, 0) << run.err;

  std::ofstream(dir.file("train.jsonl")) << "{\"text\": \"The quick brown fox jumps over the lazy dog.\"}\n"
                                            "{\"text\": \"one two three four five six seven eight nine ten\"}\n";
  auto train = [&](const std::string& base, const std::string& out) {
    auto r = run_command(test::facet_bin() + " finetune " + base + " --data " + dir.file("train.jsonl") + " --output " +
                         out + " --max-steps 8 --lr 2e-2 --lora-r 8 --seed 1 -t 2");
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return losses(out);
  };
  const std::vector<double> on_nf4 = train(nf4, dir.file("out-nf4"));
  const std::vector<double> on_f32 = train(f32, dir.file("out-f32"));
  ASSERT_EQ(on_nf4.size(), 8u);
  ASSERT_EQ(on_f32.size(), 8u);
  for (size_t i = 0; i < 8; ++i) std::printf("  step %zu loss: NF4 %.4f  F32 %.4f\n", i + 1, on_nf4[i], on_f32[i]);
  EXPECT_LT(on_nf4.back(), 0.8 * on_nf4.front());  // it learns
  for (size_t i = 0; i < 8; ++i) EXPECT_NEAR(on_nf4[i], on_f32[i], 0.1 * on_f32[i]) << "step " << i + 1;

  // The adapter trained on the NF4 base loads onto it for inference.
  auto with_lora = run_command(test::facet_bin() + " run " + nf4 + " --lora " + dir.file("out-nf4") +
                               " --tokens 2,313,333 -n 2 --ignore-eos");
  EXPECT_EQ(with_lora.exit_code, 0) << with_lora.err;
}

TEST(BnbNf4Load, CliRejectsUnsupportedQuantizationClearly) {
  test::TempDir dir;
  const std::string nf4 = dir.file("nf4");
  write_hf_model_bnb_nf4(golden_model(), nf4, DType::BF16, 2);
  auto config = nlohmann::json::parse(std::ifstream(nf4 + "/config.json"));
  config["quantization_config"]["bnb_4bit_quant_type"] = "fp4";
  std::ofstream(nf4 + "/config.json") << config.dump();
  auto r = run_command(test::facet_bin() + " run " + nf4 + " --tokens 2,313 -n 1");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("error: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("not supported"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace facet
