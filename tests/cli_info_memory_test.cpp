// `facet info`'s memory plan: mapped weights, the KV cache for the requested context, and
// the compute-buffer estimate.
#include <gtest/gtest.h>

#include <regex>

#include "support/paths.h"
#include "support/run_command.h"

namespace facet {
namespace {

using test::run_command;

const std::string kMoe = test::data_dir() + "/models/gemma4-tiny-moe-f32.gguf";

uint64_t compute_bytes(const std::string& out) {
  std::smatch m;
  EXPECT_TRUE(std::regex_search(out, m, std::regex("bytes KV \\+ ([0-9]+) bytes compute"))) << out;
  return m.empty() ? 0 : std::stoull(m[1]);
}

TEST(CliInfoMemory, PlanListsMappedWeightsKvCacheAndCompute) {
  auto r = run_command(test::facet_bin() + " info " + kMoe + " -c 64 -ctk f32 -ctv f32");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("memory-mapped"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("KV cache"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("compute buffers about"), std::string::npos) << r.out;
  // tiny-moe (shared configs/tiny-moe.json): layers sliding, sliding, full x2; sliding
  // layers keep an 8-position window of 2 KV heads x 32, full layers all 64 positions of
  // 1 KV head x 64; K and V in f32: 4 x (8*64*2*4) + 2 x (64*64*2*4).
  const uint64_t kv = 4ull * (8 * 64 * 2 * 4) + 2ull * (64 * 64 * 2 * 4);
  EXPECT_NE(r.out.find(std::string("(") + std::to_string(kv) + " bytes KV + "), std::string::npos) << r.out;
  EXPECT_GT(compute_bytes(r.out), 0u);
  // The default f16 cache holds the same positions at 2 bytes per element.
  auto f16 = run_command(test::facet_bin() + " info " + kMoe + " -c 64");
  ASSERT_EQ(f16.exit_code, 0) << f16.err;
  EXPECT_NE(f16.out.find(std::string("(") + std::to_string(kv / 2) + " bytes KV + "), std::string::npos) << f16.out;
}

TEST(CliInfoMemory, NamesThePerLayerEmbeddingTableOfEModels) {
  auto r = run_command(test::facet_bin() + " info " + test::data_dir() + "/models/gemma4-tiny-e2b-like-f32.gguf");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // e2b-like: vocab 512 x (7 layers x 32) f32 = 458752 bytes = 448 KiB.
  EXPECT_NE(r.out.find("per-layer embedding table 448.00 KiB: read row by row"), std::string::npos) << r.out;
  auto moe = run_command(test::facet_bin() + " info " + kMoe);
  EXPECT_EQ(moe.out.find("per-layer embedding table"), std::string::npos) << moe.out;
}

TEST(CliInfoMemory, ComputeEstimateGrowsWithTheMicroBatch) {
  auto small = run_command(test::facet_bin() + " info " + kMoe + " -c 64 -b 1 -t 1");
  auto large = run_command(test::facet_bin() + " info " + kMoe + " -c 64 -b 512 -t 1");
  ASSERT_EQ(small.exit_code, 0) << small.err;
  ASSERT_EQ(large.exit_code, 0) << large.err;
  // At least the 512 residual-stream rows of 128 floats the larger batch holds.
  EXPECT_GE(compute_bytes(large.out), compute_bytes(small.out) + 511ull * 128 * 4);
}

}  // namespace
}  // namespace facet
