// facet run --image: a PNG made here goes through the mmproj that make-test-model writes
// (tiny-realvocab-vision.json, real 16-px patches) into the shared real-vocabulary model;
// the prompt holds the image's soft tokens; the projector beside the model is found by itself;
// a corrupt image, a missing projector and a projector of another width are clear errors.
#include <gtest/gtest.h>
#include <png.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "support/paths.h"
#include "support/run_command.h"
#include "support/temp_dir.h"
#include "support/unified_model.h"

namespace facet {
namespace {

using test::run_command;

std::string model_path() { return test::data_dir() + "/models/gemma4-tiny-realvocab-f16.gguf"; }

// A width x height RGB PNG of a pattern chosen by `seed`.
void write_png(const std::string& path, int width, int height, int seed) {
  std::vector<uint8_t> pixels(static_cast<size_t>(width) * height * 3);
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x)
      for (int c = 0; c < 3; ++c)
        pixels[(static_cast<size_t>(y) * width + x) * 3 + c] = static_cast<uint8_t>((x * (seed + c) + y * (2 * seed + 1)) % 256);
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  image.width = static_cast<png_uint_32>(width);
  image.height = static_cast<png_uint_32>(height);
  image.format = PNG_FORMAT_RGB;
  ASSERT_NE(png_image_write_to_file(&image, path.c_str(), 0, pixels.data(), 0, nullptr), 0) << image.message;
}

class CliImage : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto r = run_command(test::facet_bin() + " make-test-model --config " + test::source_dir() +
                               "/models/configs/tiny-realvocab-vision.json --out " + dir.file("mmproj.gguf"));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    write_png(dir.file("a.png"), 100, 60, 1);
    write_png(dir.file("b.png"), 100, 60, 7);
  }
  test::CommandResult run(const std::string& extra) {
    return run_command(test::facet_bin() + " run " + model_path() + " -p 'What is this?' -n 8 --temp 0 -t 2 -v " + extra);
  }
  test::TempDir dir;
};

TEST_F(CliImage, AnswersWithTheImageInThePrompt) {
  const auto a = run("--image " + dir.file("a.png") + " --mmproj " + dir.file("mmproj.gguf") + " --image-tokens 70");
  ASSERT_EQ(a.exit_code, 0) << a.err;
  // 100x60 at a 70-token budget, HF's rule: factor sqrt(70·9·16² / 6000) = 5.185, height
  // floor(5.185·60/48)·48 = 288, width floor(5.185·100/48)·48 = 480: 6 x 10 = 60 soft tokens.
  EXPECT_NE(a.err.find("a.png: 60 soft tokens"), std::string::npos) << a.err;
  const auto b = run("--image " + dir.file("b.png") + " --mmproj " + dir.file("mmproj.gguf") + " --image-tokens 70");
  ASSERT_EQ(b.exit_code, 0) << b.err;
  const auto text = run("--chat");
  ASSERT_EQ(text.exit_code, 0) << text.err;
  // The image's placeholders are in the prompt: at a 140-token budget the same image makes
  // factor sqrt(140·9·16² / 6000) = 7.332, 432 x 720 pixels, 9 x 15 = 135 soft tokens, so the
  // prompt is 135 - 60 = 75 tokens longer. That the soft tokens change the logits is checked
  // in engine_media_prompt_test.cpp.
  const auto big = run("--image " + dir.file("a.png") + " --mmproj " + dir.file("mmproj.gguf") + " --image-tokens 140");
  ASSERT_EQ(big.exit_code, 0) << big.err;
  EXPECT_NE(big.err.find("a.png: 135 soft tokens"), std::string::npos) << big.err;
  auto prompt_tokens = [](const std::string& err) {
    const size_t at = err.find("prompt ");
    return at == std::string::npos ? -1 : std::stoi(err.substr(at + 7));
  };
  EXPECT_EQ(prompt_tokens(big.err), prompt_tokens(a.err) + 75) << a.err << big.err;
  EXPECT_EQ(prompt_tokens(b.err), prompt_tokens(a.err));
  EXPECT_GT(prompt_tokens(a.err), prompt_tokens(text.err) + 60);
}

TEST_F(CliImage, FindsTheProjectorBesideTheModel) {
  std::filesystem::copy_file(model_path(), dir.file("tiny.gguf"));
  std::filesystem::copy_file(dir.file("mmproj.gguf"), dir.file("mmproj-tiny.gguf"));
  const auto r = run_command(test::facet_bin() + " run " + dir.file("tiny.gguf") + " -p hi -n 2 -t 2 -v --image " +
                             dir.file("a.png") + " --image-tokens 70");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("60 soft tokens"), std::string::npos) << r.err;
}

TEST_F(CliImage, BadInputIsAClearError) {
  test::write_bytes(dir.file("bad.png"), {0x89, 'P', 'N', 'G', 1, 2, 3});
  auto r = run("--image " + dir.file("bad.png") + " --mmproj " + dir.file("mmproj.gguf"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("bad.png"), std::string::npos) << r.err;
  r = run("--image " + dir.file("a.png"));  // no projector anywhere
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--mmproj"), std::string::npos) << r.err;
  // A projector for a 64-wide model.
  {
    std::ofstream config(dir.file("wide.json"));
    config << R"({"model_type": "gemma4_vision", "text_hidden_size": 64, "hidden_size": 32,
                 "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 4, "head_dim": 8})";
  }
  const auto made = run_command(test::facet_bin() + " make-test-model --config " + dir.file("wide.json") + " --out " +
                                dir.file("wide.gguf"));
  ASSERT_EQ(made.exit_code, 0) << made.err;
  r = run("--image " + dir.file("a.png") + " --mmproj " + dir.file("wide.gguf"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("belongs to another model"), std::string::npos) << r.err;
  // A text model given as the projector.
  r = run("--image " + dir.file("a.png") + " --mmproj " + test::data_dir() + "/models/gemma4-tiny-e2b-like-f32.gguf");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("not a multimodal projector"), std::string::npos) << r.err;
}

TEST_F(CliImage, ChatTakesImagesAndKeepsThemInTheConversation) {
  const auto r = run_command(test::facet_bin() + " chat " + model_path() + " -n 4 --temp 0 -t 2 -v --image-tokens 70 --mmproj " +
                                 dir.file("mmproj.gguf"),
                             "/image " + dir.file("a.png") + "\nWhat is it?\nAnd the colours?\n/image " +
                                 dir.file("missing.png") + "\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("a.png: 60 soft tokens"), std::string::npos) << r.err;
  // The second turn holds the first one, image included, and reuses the cache past it.
  std::vector<std::pair<int, int>> turns;  // (prompt tokens, reused)
  for (size_t at = r.err.find("prompt "); at != std::string::npos; at = r.err.find("prompt ", at + 1)) {
    const int prompt = std::stoi(r.err.substr(at + 7));
    const size_t open = r.err.find('(', at);
    turns.push_back({prompt, std::stoi(r.err.substr(open + 1))});
  }
  ASSERT_EQ(turns.size(), 2u) << r.err;
  EXPECT_GT(turns[0].first, 62);
  EXPECT_GT(turns[1].second, 62) << r.err;
  // A missing file is a notice, not the end of the chat.
  EXPECT_NE(r.err.find("missing.png"), std::string::npos) << r.err;
}

// A 16-bit PCM mono WAV of a 440 Hz tone, `seconds` long at `rate` Hz, header written out.
void write_wav(const std::string& path, double seconds, int rate) {
  const uint32_t n = static_cast<uint32_t>(seconds * rate);
  std::vector<uint8_t> b;
  auto u32 = [&](uint32_t v) { for (int i = 0; i < 4; ++i) b.push_back(static_cast<uint8_t>(v >> (8 * i))); };
  auto u16 = [&](uint16_t v) { for (int i = 0; i < 2; ++i) b.push_back(static_cast<uint8_t>(v >> (8 * i))); };
  auto tag = [&](const char* t) { b.insert(b.end(), t, t + 4); };
  tag("RIFF"); u32(36 + 2 * n); tag("WAVE");
  tag("fmt "); u32(16); u16(1); u16(1); u32(static_cast<uint32_t>(rate)); u32(static_cast<uint32_t>(2 * rate)); u16(2); u16(16);
  tag("data"); u32(2 * n);
  for (uint32_t i = 0; i < n; ++i)
    u16(static_cast<uint16_t>(static_cast<int16_t>(12000 * std::sin(2 * M_PI * 440.0 * i / rate))));
  test::write_bytes(path, b);
}

TEST_F(CliImage, AnswersWithAudioInThePrompt) {
  const auto made = run_command(test::facet_bin() + " make-test-model --config " + test::source_dir() +
                                "/models/configs/tiny-realvocab-audio.json --out " + dir.file("audio.gguf"));
  ASSERT_EQ(made.exit_code, 0) << made.err;
  // 2 s at 44.1 kHz: resampled to 16 kHz, 25 soft tokens a second (one per 40 ms).
  write_wav(dir.file("tone.wav"), 2.0, 44100);
  const auto r = run("--audio " + dir.file("tone.wav") + " --mmproj " + dir.file("audio.gguf"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("tone.wav: 50 soft tokens"), std::string::npos) << r.err;
  // An image needs a vision tower, which this projector lacks.
  const auto no_vision = run("--image " + dir.file("a.png") + " --mmproj " + dir.file("audio.gguf"));
  EXPECT_NE(no_vision.exit_code, 0);
  EXPECT_NE(no_vision.err.find("vision"), std::string::npos) << no_vision.err;
}

// The 12B layout: one Gemma4UnifiedForConditionalGeneration folder holds the decoder and the
// encoder-free embedders, so `facet run FOLDER --image --audio` needs no --mmproj.
TEST_F(CliImage, UnifiedFolderTakesImageAndAudioWithoutAProjector) {
  const auto made = run_command(test::facet_bin() + " make-test-model --config " + test::tiny_unified_config(dir) +
                                " --out " + dir.file("unified"));
  ASSERT_EQ(made.exit_code, 0) << made.err;
  write_wav(dir.file("tone.wav"), 1.3, 44100);
  const auto r = run_command(test::facet_bin() + " run " + dir.file("unified") +
                             " -p 'What is this?' -n 4 --temp 0 -t 2 -v --image-tokens 70 --image " + dir.file("a.png") +
                             " --audio " + dir.file("tone.wav"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // 100x60 at 70 tokens: 10 x 6 merged 48-px patches, one soft token each (as the E2B tower's
  // 3x3 pooling gives). 1.3 s at 16 kHz: 20800 samples, ceil(20800 / 640) = 33 frames of 40 ms.
  EXPECT_NE(r.err.find("a.png: 60 soft tokens"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("tone.wav: 33 soft tokens"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace facet
