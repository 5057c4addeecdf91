// facet serve with speculative decoding: /api/generate answers (greedy) are the same text with --draft lookup as without (that drafts are checked in the
// scheduler is shown by engine_scheduler_draft_test.cpp).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "support/test_server.h"

namespace facet {
namespace {

using nlohmann::json;

std::string generate(test::TestServer& server, const std::string& prompt) {
  auto c = server.client();
  json body{{"model", "tiny"}, {"prompt", prompt}, {"stream", false}, {"raw", true},
            {"options", {{"temperature", 0}, {"num_predict", 40}}}};
  auto r = c.Post("/api/generate", body.dump(), "application/json");
  EXPECT_TRUE(r);
  if (!r) return "";
  EXPECT_EQ(r->status, 200) << r->body;
  return json::parse(r->body)["response"].get<std::string>();
}

TEST(ServerDraft, AnswersAreTheSameWithPromptLookup) {
  const std::vector<std::string> prompts = {"the the the cat sat on the mat and the cat", "Hello there", "1 2 3 1 2 3 1 2"};
  std::vector<std::string> plain;
  {
    test::TestServer server([](server::ServerOptions& o) { o.no_draft = true; });
    for (const std::string& p : prompts) plain.push_back(generate(server, p));
  }
  test::TestServer drafted([](server::ServerOptions& o) {
    o.draft = "lookup";
    o.draft_max = 4;
  });
  for (size_t i = 0; i < prompts.size(); ++i) EXPECT_EQ(generate(drafted, prompts[i]), plain[i]) << prompts[i];
}

}  // namespace
}  // namespace facet
