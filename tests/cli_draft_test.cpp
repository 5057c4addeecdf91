// Speculative decoding from the command line: `facet run --draft` (prompt lookup, a draft
// model, a Gemma 4 assistant, the NAME-assistant.gguf found beside the model) prints the
// same tokens as without; bad --draft-max and drafters made for another model are clear
// errors; `facet bench --draft` reports both speeds and the acceptance.
#include <gtest/gtest.h>

#include <filesystem>

#include "model/assistant.h"
#include "model/model.h"
#include "support/drafters.h"
#include "support/paths.h"
#include "support/run_command.h"
#include "support/temp_dir.h"

namespace facet {
namespace {

using test::run_command;

std::string tiny() { return test::data_dir() + "/models/gemma4-tiny-e2b-like-f32.gguf"; }

// A random two-layer drafter of `target`'s shapes, for a main model of width `backbone`.
void write_drafter(const ModelConfig& target, int backbone, const std::string& path) {
  AssistantConfig a = test::assistant_config_for(target, {LayerKind::Sliding, LayerKind::Full}, 32);
  a.backbone_hidden_size = backbone;
  write_random_assistant_gguf(a, GeneratorOptions{}, path);
}

std::string run_tokens(const std::string& model, const std::string& extra) {
  auto r = run_command(test::facet_bin() + " run " + model + " --tokens 2,313,333,290,301,277,313,333 -n 30 -t 2 " + extra);
  EXPECT_EQ(r.exit_code, 0) << extra << "\n" << r.err;
  return r.out;
}

TEST(CliDraft, OutputIsTheSameWithEveryDrafter) {
  test::TempDir dir;
  auto model = load_model(tiny());
  // The model beside its drafter, as a user would download them.
  std::filesystem::copy_file(tiny(), dir.file("tiny.gguf"));
  write_drafter(model->config, model->config.hidden_size, dir.file("tiny-assistant.gguf"));
  const std::string plain = run_tokens(dir.file("tiny.gguf"), "--no-draft");
  ASSERT_FALSE(plain.empty());
  EXPECT_EQ(run_tokens(dir.file("tiny.gguf"), "--draft lookup"), plain);
  EXPECT_EQ(run_tokens(dir.file("tiny.gguf"), "--draft " + tiny() + " --draft-max 3"), plain);
  EXPECT_EQ(run_tokens(dir.file("tiny.gguf"), "--draft " + dir.file("tiny-assistant.gguf")), plain);
  // Found by itself: -v reports the drafting.
  auto r = run_command(test::facet_bin() + " run " + dir.file("tiny.gguf") +
                       " --tokens 2,313,333,290,301,277,313,333 -n 30 -t 2 -v");
  EXPECT_EQ(r.out, plain);
  EXPECT_NE(r.err.find("drafts accepted"), std::string::npos) << r.err;
  auto off = run_command(test::facet_bin() + " run " + dir.file("tiny.gguf") +
                         " --tokens 2,313,333,290,301,277,313,333 -n 30 -t 2 -v --no-draft");
  EXPECT_EQ(off.err.find("drafts accepted"), std::string::npos) << off.err;
}

TEST(CliDraft, BadDraftersAreClearErrors) {
  test::TempDir dir;
  auto model = load_model(tiny());
  write_drafter(model->config, model->config.hidden_size + 32, dir.file("other.gguf"));
  auto wide = run_command(test::facet_bin() + " run " + tiny() + " --tokens 2,5 -n 4 --draft " + dir.file("other.gguf"));
  EXPECT_NE(wide.exit_code, 0);
  EXPECT_NE(wide.err.find("made for another model"), std::string::npos) << wide.err;
  auto max = run_command(test::facet_bin() + " run " + tiny() + " --tokens 2,5 -n 4 --draft lookup --draft-max 0");
  EXPECT_NE(max.exit_code, 0);
  EXPECT_NE(max.err.find("--draft-max must be between 1 and 64"), std::string::npos) << max.err;
  auto serve = run_command(test::facet_bin() + " serve --port 0 --draft " + tiny());
  EXPECT_NE(serve.exit_code, 0);
  EXPECT_NE(serve.err.find("takes \"lookup\" or a Gemma 4 assistant"), std::string::npos) << serve.err;
  auto missing = run_command(test::facet_bin() + " run " + tiny() + " --tokens 2,5 -n 4 --draft " + dir.file("none.gguf"));
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.err.find("none.gguf"), std::string::npos) << missing.err;
}

TEST(CliDraft, BenchReportsBothSpeedsAndTheAcceptance) {
  auto r = run_command(test::facet_bin() + " bench " + tiny() +
                       " -p 0 -n 16 -r 1 -t 2 --draft lookup --draft-acceptance 0.5 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("\"speculative\""), std::string::npos);
  EXPECT_NE(r.out.find("\"accepted_tokens\""), std::string::npos);
  auto bad = run_command(test::facet_bin() + " bench " + tiny() + " -p 0 -n 16 --draft lookup --draft-acceptance 2");
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("between 0 and 1"), std::string::npos) << bad.err;
}

}  // namespace
}  // namespace facet
