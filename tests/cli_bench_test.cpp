// End-to-end tests of `facet bench` on the shared tiny models. They check the report's
// shape and arithmetic (medians, means, counts), never how fast anything is.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "formats/gguf.h"
#include "support/paths.h"
#include "support/run_command.h"

namespace facet {
namespace {

using test::run_command;

std::string facet() { return test::facet_bin(); }
std::string moe_model() { return test::data_dir() + "/models/gemma4-tiny-moe-f32.gguf"; }
std::string e2b_like_model() { return test::data_dir() + "/models/gemma4-tiny-e2b-like-f32.gguf"; }

double median_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

void expect_consistent_stats(const nlohmann::json& s, size_t runs, const std::string& what) {
  auto values = s["runs"].get<std::vector<double>>();
  ASSERT_EQ(values.size(), runs) << what;
  double sum = 0;
  for (double v : values) {
    EXPECT_GT(v, 0) << what;
    sum += v;
  }
  const double mean = sum / static_cast<double>(values.size());
  double sq = 0;
  for (double v : values) sq += (v - mean) * (v - mean);
  EXPECT_NEAR(s["mean"].get<double>(), mean, 1e-9 * mean) << what;
  EXPECT_NEAR(s["sd"].get<double>(), std::sqrt(sq / static_cast<double>(values.size() - 1)), 1e-9 * mean) << what;
  EXPECT_NEAR(s["median"].get<double>(), median_of(values), 1e-9 * mean) << what;
}

TEST(CliBench, JsonReportsMediansOfEveryRepetition) {
  auto r = run_command(facet() + " bench " + moe_model() + " -p 16 -n 8 -r 3 -t 1 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);  // stdout is exactly one JSON object
  ASSERT_TRUE(j.is_object());
  expect_consistent_stats(j["prompt"], 3, "prompt");
  expect_consistent_stats(j["gen"], 3, "gen");
  EXPECT_EQ(j["prompt_tokens_per_s"].get<double>(), j["prompt"]["median"].get<double>());
  EXPECT_EQ(j["gen_tokens_per_s"].get<double>(), j["gen"]["median"].get<double>());
  EXPECT_EQ(j["threads"], 1);
  EXPECT_EQ(j["n_prompt"], 16);
  EXPECT_EQ(j["n_gen"], 8);
  EXPECT_EQ(j["model"]["type"], "F32");
  EXPECT_EQ(j["model"]["path"], moe_model());

  // Size and parameter count: every tensor of the file, counted here from the GGUF directly.
  auto file = GgufFile::open(moe_model());
  uint64_t params = 0, bytes = 0;
  for (const auto& t : file->tensors()) params += static_cast<uint64_t>(t.view.numel()), bytes += t.view.byte_size();
  EXPECT_EQ(j["model"]["params"].get<uint64_t>(), params);
  EXPECT_EQ(j["model"]["size_bytes"].get<uint64_t>(), bytes);
  EXPECT_GT(j["peak_rss_bytes"].get<uint64_t>(), 0u);
  EXPECT_FALSE(j["machine"]["cpu"].get<std::string>().empty());
  EXPECT_FALSE(j["machine"]["simd"].get<std::string>().empty());
  EXPECT_FALSE(j["build"]["compiler"].get<std::string>().empty());
}

TEST(CliBench, SkippingATestLeavesItsSpeedNull) {
  auto r = run_command(facet() + " bench " + moe_model() + " -p 0 -n 4 -r 1 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_TRUE(j["prompt_tokens_per_s"].is_null());
  EXPECT_GT(j["gen_tokens_per_s"].get<double>(), 0);
  EXPECT_EQ(j["gen"]["sd"].get<double>(), 0);  // one run has no spread
}

TEST(CliBench, TableNamesTheTestsTheMachineAndTheBuild) {
  auto r = run_command(facet() + " bench " + moe_model() + " -p 8 -n 4 -r 2 -t 2");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("| model"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("pp8"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("tg4"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(" ± "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("| F32"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("machine: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("SIMD "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("build:   facet "), std::string::npos) << r.out;
}

// -d: every test starts from that many tokens in the cache. The e2b-like model's sliding
// window is shorter than the depth, so each run rewinds wrapped rings (the slack they keep);
// the tests are named as llama-bench names them.
TEST(CliBench, DepthRunsEachTestAfterThatManyCachedTokens) {
  auto r = run_command(facet() + " bench " + e2b_like_model() + " -d 40 -p 8 -n 6 -r 3 -t 2 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["n_depth"], 40);
  EXPECT_EQ(j["cache_type_k"], "f16");  // what facet run uses
  EXPECT_EQ(j["cache_type_v"], "f16");
  expect_consistent_stats(j["prompt"], 3, "prompt");
  expect_consistent_stats(j["gen"], 3, "gen");
  auto table = run_command(facet() + " bench " + e2b_like_model() + " -d 40 -p 8 -n 6 -r 1");
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_NE(table.out.find("pp8 @ d40"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("tg6 @ d40"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("kv cache: K f16, V f16"), std::string::npos) << table.out;

  // Every cache type, as -ctk/-ctv (llama-bench's flags) choose it.
  auto q8 = run_command(facet() + " bench " + e2b_like_model() + " -d 40 -p 8 -n 6 -r 1 -ctk q8_0 -ctv F32 --json");
  ASSERT_EQ(q8.exit_code, 0) << q8.err;
  auto jq = nlohmann::json::parse(q8.out);
  EXPECT_EQ(jq["cache_type_k"], "q8_0");
  EXPECT_EQ(jq["cache_type_v"], "f32");
}

// --bandwidth: the bytes a generated token reads are every tensor but the per-layer-embedding
// table (counted here from the GGUF), and the limit is the measured bandwidth over them.
TEST(CliBench, BandwidthGivesTheGenerationLimit) {
  auto r = run_command(facet() + " bench " + e2b_like_model() + " -p 0 -n 4 -r 1 -t 1 --bandwidth --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  auto file = GgufFile::open(e2b_like_model());
  uint64_t bytes = 0, ple = 0;
  for (const auto& t : file->tensors()) {
    bytes += t.view.byte_size();
    if (t.name == "per_layer_token_embd.weight") ple = t.view.byte_size();
  }
  ASSERT_GT(ple, 0u) << "the e2b-like model has a per-layer-embedding table";
  EXPECT_EQ(j["gen_bytes_per_token"].get<uint64_t>(), bytes - ple);
  const double bandwidth = j["read_bytes_per_s"].get<double>();
  EXPECT_GT(bandwidth, 1e8);  // any machine reads more than 100 MB/s
  EXPECT_NEAR(j["gen_bandwidth_limit_tokens_per_s"].get<double>(), bandwidth / static_cast<double>(bytes - ple),
              1e-9 * bandwidth);

  auto alone = run_command(facet() + " bench --bandwidth -t 2 --json");
  ASSERT_EQ(alone.exit_code, 0) << alone.err;
  auto a = nlohmann::json::parse(alone.out);
  EXPECT_GT(a["read_bytes_per_s"].get<double>(), 1e8);
  EXPECT_EQ(a["threads"], 2);

  auto table = run_command(facet() + " bench " + e2b_like_model() + " -p 0 -n 4 -r 1 --bandwidth");
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_NE(table.out.find("memory read bandwidth"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("tg4 reached"), std::string::npos) << table.out;

  auto no_model = run_command(facet() + " bench -p 4");
  EXPECT_EQ(no_model.exit_code, 1);
  EXPECT_NE(no_model.err.find("bench needs a MODEL"), std::string::npos) << no_model.err;
}

TEST(CliBench, BadFlagsGiveAClearError) {
  struct Case {
    std::string args, fragment;
  };
  const std::vector<Case> cases = {
      {"-r 0", "-r/--repetitions must be at least 1"},
      {"-t 0", "-t/--threads must be at least 1"},
      {"-p -3", "-p/--n-prompt must be 0 or more"},
      {"-n -1", "-n/--n-gen must be 0 or more"},
      {"-p 0 -n 0", "nothing to measure"},
      {"-b 0", "-b/--batch-size must be at least 1"},
      {"-p 100000", "exceed the model's context length"},
      {"-d -1", "-d/--n-depth must be 0 or more"},
      {"-d 100000 -p 8", "exceed the model's context length"},
      {"-d 8 --draft x.gguf", "-d/--n-depth is not available with --draft"},
      {"-ctk q5_1", "unknown KV cache type 'q5_1'"},
  };
  for (const Case& c : cases) {
    auto r = run_command(facet() + " bench " + moe_model() + " " + c.args);
    EXPECT_EQ(r.exit_code, 1) << c.args << "\n" << r.err;
    EXPECT_NE(r.err.find("error: "), std::string::npos) << c.args << "\n" << r.err;
    EXPECT_NE(r.err.find(c.fragment), std::string::npos) << c.args << "\n" << r.err;
    EXPECT_TRUE(r.out.empty()) << c.args;
  }
  auto missing = run_command(facet() + " bench /nonexistent/model.gguf -p 4 -n 4");
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("error: "), std::string::npos) << missing.err;
}

}  // namespace
}  // namespace facet
