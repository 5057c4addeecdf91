// Config files of drafters and media towers (model/config_files.h): JSON objects, an HF
// folder's tower config and the has-a-tower probe, with clear errors for bad files.
#include <gtest/gtest.h>

#include "model/config_files.h"
#include "support/error_text.h"
#include "support/temp_dir.h"

namespace facet {
namespace {

void write_text(const test::TempDir& dir, const std::string& name, const std::string& text) {
  test::write_bytes(dir.file(name), std::vector<uint8_t>(text.begin(), text.end()));
}

TEST(ConfigFiles, ReadsJsonObjectsOnly) {
  test::TempDir dir;
  write_text(dir, "ok.json", R"({"a": 1})");
  write_text(dir, "list.json", "[1, 2]");
  write_text(dir, "bad.json", "{");
  EXPECT_EQ(read_json_object(dir.file("ok.json"))["a"], 1);
  EXPECT_EQ(test::error_of([&] { read_json_object(dir.file("list.json")); }), dir.file("list.json") + ": not a JSON object");
  EXPECT_EQ(test::error_of([&] { read_json_object(dir.file("bad.json")); }), dir.file("bad.json") + ": not a JSON object");
  EXPECT_EQ(test::error_of([&] { read_json_object(dir.file("none.json")); }), dir.file("none.json") + ": cannot open");
}

TEST(ConfigFiles, DimensionsArePositiveAndBelow2To24) {
  EXPECT_EQ(config_dimension(1, "f", "k"), 1);
  EXPECT_EQ(config_dimension(1 << 24, "f", "k"), 1 << 24);
  EXPECT_EQ(test::error_of([] { config_dimension(0, "f", "k"); }),
            "f: k must be a positive integer below 2^24, found 0");
  EXPECT_NE(test::error_of([] { config_dimension((1 << 24) + 1, "f", "k"); }), "(no error)");
  EXPECT_NE(test::error_of([] { config_dimension(-3, "f", "k"); }), "(no error)");
}

TEST(ConfigFiles, FindsATowerInAModelFolder) {
  test::TempDir dir;
  write_text(dir, "config.json", R"({"text_config": {"hidden_size": 48}, "audio_config": {"hidden_size": 32}})");
  const HfTowerConfig audio = read_hf_tower_config(dir.path(), "audio");
  EXPECT_EQ(audio.config_path, dir.file("config.json"));
  EXPECT_EQ(audio.text_hidden_size, 48);
  EXPECT_EQ(audio.tower["hidden_size"], 32);
  EXPECT_EQ(probe_folder_config(dir.path())["text_config"]["hidden_size"], 48);
  EXPECT_TRUE(has_media_tower(dir.path(), "audio"));
  EXPECT_FALSE(has_media_tower(dir.path(), "vision"));
  EXPECT_EQ(test::error_of([&] { read_hf_tower_config(dir.path(), "vision"); }),
            dir.file("config.json") + ": the model has no vision tower (no vision_config)");

  write_text(dir, "config.json", R"({"text_config": {}, "vision_config": {}})");
  EXPECT_EQ(test::error_of([&] { read_hf_tower_config(dir.path(), "vision"); }),
            dir.file("config.json") + ": text_config.hidden_size is missing");
  test::TempDir empty;
  EXPECT_EQ(test::error_of([&] { read_hf_tower_config(empty.path(), "vision"); }),
            empty.path() + ": not a model folder (no config.json)");
  EXPECT_FALSE(has_media_tower(empty.path(), "vision"));
  EXPECT_TRUE(probe_folder_config(empty.path()).is_discarded());
  write_text(empty, "config.json", "{");
  EXPECT_TRUE(probe_folder_config(empty.path()).is_discarded());
  EXPECT_FALSE(has_media_tower(empty.path(), "vision"));
  // Neither a folder nor a GGUF file.
  write_text(dir, "junk.gguf", "not a gguf");
  EXPECT_FALSE(has_media_tower(dir.file("junk.gguf"), "vision"));
  EXPECT_FALSE(has_media_tower(dir.file("missing.gguf"), "vision"));
}

}  // namespace
}  // namespace facet
