// `facet export --merge` and --lora on the command line: a merged export (GGUF or HF
// safetensors folder) gives the logits of the base with the adapter applied at runtime.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "support/lora_fixtures.h"
#include "support/run_command.h"
#include "support/temp_dir.h"
#include "train/adapter_io.h"
#include "train/adapter_runtime.h"
#include "train/merge_export.h"
#include "util/error.h"

namespace facet::train {
namespace {

using test::run_command;

LoraConfig all_targets(int rank, double alpha) {
  LoraConfig c;
  c.rank = rank;
  c.alpha = alpha;
  c.targets = {LoraTarget::Q,  LoraTarget::K,    LoraTarget::V,       LoraTarget::O,      LoraTarget::Gate,
               LoraTarget::Up, LoraTarget::Down, LoraTarget::PleGate, LoraTarget::PleProj};
  return c;
}

struct Fixture {
  test::TempDir dir;
  std::unique_ptr<Model> model = load_model(test::tiny_e2b_path());
  std::vector<int32_t> tokens = test::test_tokens(model->config.vocab_size);
  std::vector<float> runtime;  // base + adapters at runtime

  Fixture() {
    save_peft_adapter(test::random_adapter(*model, all_targets(4, 8), 31), *model, dir.file("peft"));
    save_gguf_adapter(test::random_adapter(*model, all_targets(2, 2), 32), *model, dir.file("b.gguf"));
    attach_adapters(*model, {load_adapter_for_inference(dir.file("peft"), 1.0, *model),
                             load_adapter_for_inference(dir.file("b.gguf"), 0.5, *model)});
    runtime = test::logits_of(*model, tokens);
    attach_adapters(*model, {});
  }
  MergeExportOptions options(const std::string& out, const std::string& type) const {
    MergeExportOptions o;
    o.base = test::tiny_e2b_path();
    o.adapters = {{dir.file("peft"), 1.0}, {dir.file("b.gguf"), 0.5}};
    o.out = out;
    o.outtype = type;
    o.threads = 2;
    return o;
  }
};

TEST(MergeExport, GgufAndSafetensorsEqualTheRuntimeAdapters) {
  Fixture f;
  const auto base = test::logits_of(*f.model, f.tokens);
  ASSERT_GT(test::max_abs_diff(base, f.runtime), 0.05);

  const MergeExportReport g = export_merged(f.options(f.dir.file("merged.gguf"), ""));
  EXPECT_EQ(g.format, "gguf");
  EXPECT_EQ(g.outtype, "F32");  // the base's type
  EXPECT_EQ(g.adapted_matrices, 7 * 7 - 3 * 2 + 7 * 2);  // q,k,v,o,gate,up,down less shared K/V, plus PLE
  const auto merged_gguf = test::logits_of(*load_model(f.dir.file("merged.gguf")), f.tokens);
  std::printf("  |merged export - runtime adapters| = %.3g\n", test::max_abs_diff(merged_gguf, f.runtime));
  EXPECT_LE(test::max_abs_diff(merged_gguf, f.runtime), 1e-5);

  export_merged(f.options(f.dir.file("merged_hf"), "f32"));
  const auto merged_hf = test::logits_of(*load_model(f.dir.file("merged_hf")), f.tokens);
  EXPECT_LE(test::max_abs_diff(merged_hf, f.runtime), 1e-5);
  EXPECT_EQ(merged_hf, merged_gguf);  // the same f32 weights under other names

  // Quantized output: Q8_0 weights (and 8-bit activations) cost about 1e-2 on these logits.
  export_merged(f.options(f.dir.file("merged_q8.gguf"), "q8_0"));
  const auto merged_q8 = test::logits_of(*load_model(f.dir.file("merged_q8.gguf")), f.tokens);
  EXPECT_LE(test::max_abs_diff(merged_q8, f.runtime), 0.1);

  EXPECT_THROW(export_merged(f.options(f.dir.file("merged_q4"), "q4_0")), Error);  // not in safetensors
}

std::vector<float> cli_logits(const std::string& args) {
  auto r = run_command(test::facet_bin() + " logits " + args);
  EXPECT_EQ(r.exit_code, 0) << "facet logits " << args << "\n" << r.err;
  std::vector<float> out;
  if (r.exit_code != 0) return out;
  for (const auto& row : nlohmann::json::parse(r.out))
    for (const auto& v : row) out.push_back(v.get<float>());
  return out;
}

TEST(LoraCli, LoraFlagsAndExportMergeAgree) {
  Fixture f;
  std::string list;
  for (int32_t t : f.tokens) {
    if (!list.empty()) list += ',';
    list += std::to_string(t);
  }
  const std::string base = test::tiny_e2b_path();
  // --lora PATH[:SCALE] and --lora-scaled PATH SCALE give the library's runtime logits.
  const auto flags = cli_logits(base + " --tokens " + list + " --lora " + f.dir.file("peft") + " --lora-scaled " +
                                f.dir.file("b.gguf") + " 0.5 -t 2");
  EXPECT_EQ(flags, f.runtime);
  const auto colon = cli_logits(base + " --tokens " + list + " --lora " + f.dir.file("peft") + ":1 --lora " +
                                f.dir.file("b.gguf") + ":0.5 -t 2");
  EXPECT_EQ(colon, f.runtime);

  auto r = run_command(test::facet_bin() + " export --merge " + base + " --lora " + f.dir.file("peft") +
                       " --lora " + f.dir.file("b.gguf") + ":0.5 --out " + f.dir.file("m.gguf") + " -t 2");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("merged into"), std::string::npos) << r.err;
  EXPECT_LE(test::max_abs_diff(cli_logits(f.dir.file("m.gguf") + " --tokens " + list), f.runtime), 1e-5);

  // `run` takes the flags too (greedy ids with and without an adapter at scale 0 agree).
  auto plain = run_command(test::facet_bin() + " run " + base + " --tokens 2,313,333 -n 4 --ignore-eos");
  auto off = run_command(test::facet_bin() + " run " + base + " --tokens 2,313,333 -n 4 --ignore-eos --lora " +
                         f.dir.file("peft") + ":0");
  ASSERT_EQ(off.exit_code, 0) << off.err;
  EXPECT_EQ(off.out, plain.out);
}

TEST(LoraCli, BadAdaptersAreCleanErrors) {
  test::TempDir dir;
  const std::string base = test::tiny_e2b_path();
  for (const std::string& cmd :
       {" run " + base + " --tokens 2,3 -n 1 --lora " + dir.file("missing"),
        " run " + base + " --tokens 2,3 -n 1 --lora " + base,  // a model, not an adapter
        " chat " + base + " --lora " + dir.file("missing"),
        " export --merge " + base + " --out " + dir.file("x.gguf"),  // no adapter
        " export --merge " + base + " --lora " + dir.file("missing") + " --out " + dir.file("x.gguf")}) {
    auto r = run_command(test::facet_bin() + cmd, "");
    EXPECT_EQ(r.exit_code, 1) << cmd;
    EXPECT_EQ(r.err.rfind("error: ", 0), 0u) << cmd << ": " << r.err;
  }
}

}  // namespace
}  // namespace facet::train
