// Byte-for-byte checks of the renderer against renderings of the official template:
// the shared golden file (31B template, Jinja2) and tests/data/chat_reference_cases.jsonl
// (more rules and quirks, rendered by tests/tools/render_reference.py with Jinja2).
#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "chat/render.h"
#include "chat/render_request.h"
#include "support/paths.h"

namespace facet::chat {
namespace {

struct RenderCase {
  std::string name;
  Json request;
  std::string rendered;
};

std::vector<RenderCase> load_cases(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in) << "cannot open " << path;
  std::vector<RenderCase> cases;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    Json json = Json::parse(line);
    cases.push_back({json.at("case").get<std::string>(), json, json.at("rendered").get<std::string>()});
  }
  return cases;
}

std::string golden_path() { return test::data_dir() + "/chat/golden-31B.jsonl"; }
std::string reference_path() { return test::source_dir() + "/tests/data/chat_reference_cases.jsonl"; }

constexpr std::string_view kEmptyThought = "<|channel>thought\n<channel|>";

TEST(ChatGolden, EveryLineRendersByteForByteWithLargeRules) {
  auto cases = load_cases(golden_path());
  ASSERT_EQ(cases.size(), 12u);
  for (const auto& c : cases)
    EXPECT_EQ(render_chat(render_request_from_json(c.request), ChatRules::Large), c.rendered) << c.name;
}

TEST(ChatGolden, ReferenceCasesRenderByteForByte) {
  auto cases = load_cases(reference_path());
  ASSERT_GE(cases.size(), 30u);
  for (const auto& c : cases)
    EXPECT_EQ(render_chat(render_request_from_json(c.request), ChatRules::Large), c.rendered) << c.name;
}

// Small models differ in one place only: no empty thought block after the generation
// prompt when thinking is off.
void expect_small_rules_differ_only_by_empty_thought(const std::vector<RenderCase>& cases, size_t& differing) {
  for (const auto& c : cases) {
    RenderRequest request = render_request_from_json(c.request);
    std::string small = render_chat(request, ChatRules::Small);
    std::string expected = c.rendered;
    bool gets_empty_thought = !request.enable_thinking && request.add_generation_prompt &&
                              expected.ends_with(std::string("<|turn>model\n") + std::string(kEmptyThought));
    if (gets_empty_thought) {
      expected.resize(expected.size() - kEmptyThought.size());
      ++differing;
    }
    EXPECT_EQ(small, expected) << c.name;
    EXPECT_EQ(small.size() + (gets_empty_thought ? kEmptyThought.size() : 0), c.rendered.size()) << c.name;
  }
}

TEST(ChatGolden, SmallRulesDropOnlyTheTrailingEmptyThought) {
  size_t differing = 0;
  expect_small_rules_differ_only_by_empty_thought(load_cases(golden_path()), differing);
  EXPECT_EQ(differing, 7u);  // the golden cases with thinking off and a generation prompt
  differing = 0;
  expect_small_rules_differ_only_by_empty_thought(load_cases(reference_path()), differing);
  EXPECT_GT(differing, 10u);
}

}  // namespace
}  // namespace facet::chat
