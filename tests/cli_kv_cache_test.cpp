// The KV cache type flags of `facet run` / `facet info` (-ctk/--cache-type-k,
// -ctv/--cache-type-v, as llama.cpp spells them).
#include <gtest/gtest.h>

#include <sstream>

#include "engine/generation.h"
#include "support/paths.h"
#include "support/run_command.h"
#include "util/thread_pool.h"

namespace facet {
namespace {

using test::run_command;

std::string facet() { return test::facet_bin(); }
std::string model_path(const std::string& name) { return test::data_dir() + "/models/" + name; }

std::vector<int32_t> ids_of(const std::string& out) {
  std::vector<int32_t> ids;
  std::istringstream in(out);
  for (int32_t id; in >> id;) ids.push_back(id);
  return ids;
}

TEST(CliKvCache, RunUsesTheChosenCacheTypes) {
  // The CLI's tokens equal a Generator's with the same cache types (default: f16).
  const std::string path = model_path("gemma4-tiny-e2b-like-f32.gguf");
  auto model = load_model(path);
  const std::vector<int32_t> prompt = {2, 313, 333, 290, 301, 277, 350, 420, 312, 260, 388};
  for (const auto& [flags, types] : std::vector<std::pair<std::string, KvCacheTypes>>{
           {"", kDefaultKvCacheTypes},
           {" -ctk q8_0 -ctv q8_0", {DType::Q8_0, DType::Q8_0}},
           {" --cache-type-k f32 --cache-type-v q4_0", {DType::F32, DType::Q4_0}}}) {
    auto r = run_command(facet() + " run " + path + " --tokens 2,313,333,290,301,277,350,420,312,260,388 -n 12 --ignore-eos" + flags);
    ASSERT_EQ(r.exit_code, 0) << flags << r.err;
    Generator generator(*model, nullptr, static_cast<int64_t>(prompt.size()) + 12, 2, 0, types);
    GenerationOptions options;
    options.max_tokens = 12;
    EXPECT_EQ(ids_of(r.out), generator.generate(prompt, options).tokens) << flags;
  }
}

TEST(CliKvCache, UnknownTypeIsAClearError) {
  auto r = run_command(facet() + " run " + model_path("gemma4-tiny-moe-f32.gguf") + " --tokens 2,3 -n 2 -ctk q5_k");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("error: unknown KV cache type 'q5_k'"), std::string::npos) << r.err;
}

TEST(CliKvCache, InfoMemoryPlanFollowsTheTypes) {
  const std::string info = facet() + " info " + model_path("gemma4-tiny-moe-f32.gguf") + " -c 4096";
  auto f16 = run_command(info), f32 = run_command(info + " -ctk f32 -ctv f32"), q8 = run_command(info + " -ctk q8_0 -ctv q8_0");
  ASSERT_EQ(f16.exit_code, 0) << f16.err;
  ASSERT_EQ(q8.exit_code, 0) << q8.err;
  EXPECT_NE(f16.out.find("(K f16, V f16;"), std::string::npos) << f16.out;
  EXPECT_NE(f32.out.find("(K f32, V f32;"), std::string::npos) << f32.out;
  EXPECT_NE(q8.out.find("(K q8_0, V q8_0;"), std::string::npos) << q8.out;
  // The sizes themselves: the plan of each type, computed independently of the printout.
  auto model = load_model(model_path("gemma4-tiny-moe-f32.gguf"));
  uint64_t elements = 0;  // K and V values over every position the cache holds
  KvCache probe(model->config, 4096);
  for (int i = 0; i < model->config.n_layers; ++i)
    if (probe.layer(i).present) elements += 2 * static_cast<uint64_t>(probe.layer(i).capacity * probe.layer(i).row);
  EXPECT_EQ(KvCache::planned_bytes(model->config, 4096, 0, {DType::F32, DType::F32}), elements * 4);
  EXPECT_EQ(KvCache::planned_bytes(model->config, 4096, 0, {DType::F16, DType::F16}), elements * 2);
  EXPECT_EQ(KvCache::planned_bytes(model->config, 4096, 0, {DType::Q8_0, DType::Q8_0}), elements / 32 * 34);
}

}  // namespace
}  // namespace facet
