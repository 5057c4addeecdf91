// End-to-end tests of `facet logits`, `facet run` and `facet info` on the shared models.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "support/paths.h"
#include "support/run_command.h"
#include "support/temp_dir.h"

namespace facet {
namespace {

using test::run_command;

std::string facet() { return test::facet_bin(); }
std::string model_path(const std::string& name) { return test::data_dir() + "/models/" + name; }

TEST(CliModel, LogitsPrintsOnlyJsonMatchingTheGolden) {
  std::ifstream in(model_path("gemma4-tiny-e2b-like-f32.golden.json"));
  auto golden = nlohmann::json::parse(in);
  auto tokens = golden["tokens"].get<std::vector<int>>();
  std::string list;
  for (size_t i = 0; i < 6; ++i) list += std::string(i ? "," : "") + std::to_string(tokens[i]);
  auto r = run_command(facet() + " logits " + model_path("gemma4-tiny-e2b-like-f32.gguf") + " --tokens " + list);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);  // throws if stdout holds anything but JSON
  ASSERT_TRUE(j.is_array());
  ASSERT_EQ(j.size(), 6u);
  double worst = 0;
  for (size_t t = 0; t < 6; ++t) {
    ASSERT_EQ(j[t].size(), 512u);
    for (size_t v = 0; v < 512; ++v)
      worst = std::max(worst, std::abs(j[t][v].get<double>() - golden["logits"][t][v].get<double>()));
  }
  EXPECT_LE(worst, 1e-4);
}

TEST(CliModel, GreedyRunFollowsTheArgmaxOfTheLogits) {
  // Each generated token must be the argmax of `facet logits` over the prompt so far
  // (with an f32 KV cache, as `facet logits` uses; the default f16 one rounds keys).
  const std::string model = model_path("gemma4-tiny-moe-f32.gguf");
  auto r = run_command(facet() + " run " + model + " --tokens 2,313,333 -n 4 --ignore-eos -ctk f32 -ctv f32");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<int> generated;
  std::istringstream ids(r.out);
  for (int id; ids >> id;) generated.push_back(id);
  ASSERT_EQ(generated.size(), 4u);
  std::vector<int> prompt = {2, 313, 333};
  for (int next : generated) {
    std::string list;
    for (size_t i = 0; i < prompt.size(); ++i) list += std::string(i ? "," : "") + std::to_string(prompt[i]);
    auto l = run_command(facet() + " logits " + model + " --tokens " + list);
    ASSERT_EQ(l.exit_code, 0) << l.err;
    auto last = nlohmann::json::parse(l.out).back().get<std::vector<double>>();
    EXPECT_EQ(next, std::max_element(last.begin(), last.end()) - last.begin());
    prompt.push_back(next);
  }
}

TEST(CliModel, SeededSamplingIsReproducible) {
  const std::string cmd = facet() + " run " + model_path("gemma4-tiny-e2b-like-f32.gguf") +
                          " --tokens 2,313 -n 12 --temp 1.5 --top-k 50 --top-p 0.95 --min-p 0.01 --ignore-eos --seed ";
  auto a = run_command(cmd + "11"), b = run_command(cmd + "11");
  ASSERT_EQ(a.exit_code, 0) << a.err;
  EXPECT_EQ(a.out, b.out);
}

TEST(CliModel, InfoDescribesTheModel) {
  auto r = run_command(facet() + " info " + model_path("gemma4-tiny-moe-f32.gguf"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("layers:       6 (4 sliding"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("4 experts, top 2"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("K=V"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("KV cache"), std::string::npos) << r.out;
}

TEST(CliModel, BadInputGivesAClearErrorAndNonZeroExit) {
  test::TempDir dir;
  struct Case {
    std::string args, fragment;
  };
  {
    std::ofstream(dir.file("junk.gguf")) << "GGUF\x03";
  }
  const std::string moe = model_path("gemma4-tiny-moe-f32.gguf");
  std::vector<Case> cases = {
      {"logits " + moe + " --tokens 2,x", "not a token id"},
      {"logits " + moe + " --tokens 2,600", "out of range"},
      {"logits " + dir.file("missing.gguf") + " --tokens 2", "no such file"},
      {"logits " + dir.file("junk.gguf") + " --tokens 2", "truncated"},
      {"run " + moe + " --tokens 2 -n 3 --temp -1", "temperature"},
      {"run " + moe + " --tokens 2 -n 30 --ctx-size 8", "does not fit"},
      {"run " + moe + " --tokens 2 -n 2000000000", "exceeds the model's maximum"},
      {"info " + dir.path(), "config.json"},
      {"logits " + moe, "--tokens"},
      {"frobnicate", "frobnicate"},
  };
  for (const Case& c : cases) {
    auto r = run_command(facet() + " " + c.args);
    EXPECT_NE(r.exit_code, 0) << c.args;
    EXPECT_LT(r.exit_code, 128) << "crashed: " << c.args;
    EXPECT_NE(r.err.find(c.fragment), std::string::npos) << c.args << "\nstderr: " << r.err;
    EXPECT_TRUE(r.out.empty()) << c.args;
  }
}

}  // namespace
}  // namespace facet
