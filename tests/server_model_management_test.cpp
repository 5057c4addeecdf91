// POST /api/copy and DELETE /api/delete on the server's models directory: a copy is listed
// and answers like its source; names that could leave the directory, taken names and
// unknown models get 4xx and change nothing; only models in the directory can be deleted
// (a --model file stays), and a deleted model is gone from the list and from requests.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "support/server_requests.h"
#include "support/temp_dir.h"
#include "support/test_server.h"

namespace facet {
namespace {

using json = nlohmann::ordered_json;
namespace fs = std::filesystem;

std::vector<std::string> names(const test::TestServer& server) {
  httplib::Client c = server.client();
  auto r = c.Get("/api/tags");
  std::vector<std::string> out;
  EXPECT_TRUE(r && r->status == 200) << (r ? r->body : httplib::to_string(r.error()));
  if (!r) return out;
  const json tags = json::parse(r->body);
  for (const json& m : tags["models"]) out.push_back(m["name"]);
  return out;
}

// Ollama answers a copy with 200 and an empty body.
int copy_status(const test::TestServer& server, const json& body) {
  auto r = server.client().Post("/api/copy", body.dump(), "application/json");
  return r ? r->status : -1;
}

int delete_status(const test::TestServer& server, const json& body) {
  auto r = server.client().Delete("/api/delete", body.dump(), "application/json");
  return r ? r->status : -1;
}

std::string greedy(const test::TestServer& server, const std::string& model) {
  const json r = test::post_json(server, "/api/generate",
                                 {{"model", model},
                                  {"prompt", "Hello"},
                                  {"raw", true},
                                  {"stream", false},
                                  {"options", {{"temperature", 0}, {"num_predict", 6}}}});
  return r.value("response", "");
}

TEST(ServerModelManagement, CopyListsAndAnswersLikeTheSourceThenDeleteRemovesIt) {
  test::TestServer server;
  EXPECT_EQ(copy_status(server, {{"source", "tiny"}, {"destination", "tiny-copy:v2"}}), 200);
  EXPECT_EQ(names(server), (std::vector<std::string>{"tiny-copy:v2", "tiny:latest"}));
  EXPECT_TRUE(fs::exists(server.dir().file("tiny-copy:v2.gguf")));
  EXPECT_EQ(greedy(server, "tiny-copy:v2"), greedy(server, "tiny"));

  // The copy was just loaded by that request; deleting unloads it and removes the file.
  EXPECT_EQ(delete_status(server, {{"model", "tiny-copy:v2"}}), 200);
  EXPECT_EQ(names(server), (std::vector<std::string>{"tiny:latest"}));
  EXPECT_FALSE(fs::exists(server.dir().file("tiny-copy:v2.gguf")));
  test::post_json(server, "/api/generate", {{"model", "tiny-copy:v2"}, {"prompt", "Hi"}, {"stream", false}}, 404);
  EXPECT_EQ(delete_status(server, {{"model", "tiny-copy:v2"}}), 404);
  EXPECT_TRUE(fs::exists(test::realvocab_model()));  // the source behind the link is untouched
}

TEST(ServerModelManagement, BadCopiesAreRefusedAndChangeNothing) {
  test::TestServer server;
  const auto before = names(server);
  for (const char* bad : {"../escape", "a/b", "..", "x\\y", ""})
    EXPECT_EQ(copy_status(server, {{"source", "tiny"}, {"destination", bad}}), 400);
  EXPECT_EQ(copy_status(server, {{"source", "tiny"}, {"destination", "tiny"}}), 400);  // taken
  EXPECT_EQ(copy_status(server, {{"source", "missing"}, {"destination", "fresh"}}), 404);
  EXPECT_EQ(copy_status(server, {{"destination", "fresh"}}), 400);
  EXPECT_EQ(copy_status(server, {{"source", 5}, {"destination", "fresh"}}), 400);
  EXPECT_EQ(names(server), before);
  EXPECT_EQ(std::distance(fs::directory_iterator(server.dir().path()), fs::directory_iterator()), 1);
  EXPECT_FALSE(fs::exists(fs::path(server.dir().path()).parent_path() / "escape.gguf"));
  EXPECT_EQ(delete_status(server, json::object()), 400);
  EXPECT_EQ(delete_status(server, {{"model", "../tiny"}}), 400);
}

TEST(ServerModelManagement, ModelsGivenWithModelAreNeverDeleted) {
  test::TempDir elsewhere;
  const std::string outside = elsewhere.file("outside.gguf");
  fs::create_symlink(test::realvocab_model(), outside);
  test::TestServer server([&](server::ServerOptions& o) { o.model_paths = {outside}; });
  EXPECT_EQ(delete_status(server, {{"model", "outside"}}), 400);
  EXPECT_TRUE(fs::is_symlink(outside));
  // A copy of it lands in the models directory, and that copy can be deleted.
  EXPECT_EQ(copy_status(server, {{"source", "outside"}, {"destination", "inside"}}), 200);
  EXPECT_EQ(delete_status(server, {{"model", "inside"}}), 200);
  EXPECT_TRUE(fs::is_symlink(outside));
}

}  // namespace
}  // namespace facet
