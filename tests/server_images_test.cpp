// Images through facet serve, as the clients send them: OpenAI image_url data: URLs,
// Responses input_image, Ollama's per-message "images" and /api/generate's "images". The
// server is the tiny real-vocabulary model (served as "tiny") with a random projector
// beside it (mmproj-tiny.gguf, tiny-realvocab-vision.json), and the same model without one
// ("plain"). Checks: every shape answers, and all give the same (seeded) answer for the same
// picture, another picture another; the prompt grows by the soft-token count HF's resize rule gives; a resent
// picture reuses the cached prompt, another picture does not; bad input is a clear 400 and
// the server goes on serving.
#include <gtest/gtest.h>
#include <png.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "model/random_model.h"
#include "model/vision.h"
#include "support/run_command.h"
#include "support/server_requests.h"
#include "support/test_server.h"

namespace facet {
namespace {

using nlohmann::json;

// A width x height RGB PNG of a pattern chosen by `seed`, in memory.
std::string png_bytes(int width, int height, int seed) {
  std::vector<uint8_t> pixels(static_cast<size_t>(width) * height * 3);
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x)
      for (int c = 0; c < 3; ++c)
        pixels[(static_cast<size_t>(y) * width + x) * 3 + c] =
            static_cast<uint8_t>((x * (seed + c) + y * (2 * seed + 1)) % 256);
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  image.width = static_cast<png_uint_32>(width);
  image.height = static_cast<png_uint_32>(height);
  image.format = PNG_FORMAT_RGB;
  png_alloc_size_t size = 0;
  EXPECT_NE(png_image_write_to_memory(&image, nullptr, &size, 0, pixels.data(), 0, nullptr), 0) << image.message;
  std::string out(size, '\0');
  EXPECT_NE(png_image_write_to_memory(&image, out.data(), &size, 0, pixels.data(), 0, nullptr), 0) << image.message;
  out.resize(size);
  return out;
}

// RFC 4648 base64, written here for the test (independent of the server's decoder).
std::string base64(const std::string& bytes) {
  static const char* digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (size_t i = 0; i < bytes.size(); i += 3) {
    uint32_t group = uint32_t(uint8_t(bytes[i])) << 16;
    if (i + 1 < bytes.size()) group |= uint32_t(uint8_t(bytes[i + 1])) << 8;
    if (i + 2 < bytes.size()) group |= uint8_t(bytes[i + 2]);
    out += digits[(group >> 18) & 63];
    out += digits[(group >> 12) & 63];
    out += i + 1 < bytes.size() ? digits[(group >> 6) & 63] : '=';
    out += i + 2 < bytes.size() ? digits[group & 63] : '=';
  }
  return out;
}

std::string data_url(const std::string& png) { return "data:image/png;base64," + base64(png); }

// Soft tokens at the 70-token budget (HF's rule, worked by hand): 64x64 -> factor
// sqrt(70*9*256/4096) = 6.27, side floor(6.27*64/48)*48 = 384 -> 8x8 = 64; 100x60 -> 60
// (tests/cli_image_test.cpp). In the prompt an image is <|image> + N soft + <image|>.
constexpr int kSquareTokens = 64, kWideTokens = 60;

// Seeded sampling, not greedy: greedily the random-weight model repeats one token whose
// text is empty, whatever the picture; sampled, its words follow the logits.
const json kOllamaSampling = {{"temperature", 1}, {"seed", 3}, {"num_predict", 12}};

class ServerImages : public ::testing::Test {
 protected:
  ServerImages()
      : server([this](server::ServerOptions& o) {
          const std::string config_path = test::source_dir() + "/models/configs/tiny-realvocab-vision.json";
          std::ifstream in(config_path);
          const json j = json::parse(in);
          GeneratorOptions options;
          read_generator_keys(j, config_path, options);
          write_random_mmproj(VisionConfig::from_hf_json(j, j["text_hidden_size"].get<int>(), config_path), options,
                              o.models_dir + "/mmproj-tiny.gguf");
          std::filesystem::create_symlink(test::realvocab_model(), plain_dir.file("plain.gguf"));
          o.model_paths.push_back(plain_dir.file("plain.gguf"));
          o.image_tokens = 70;
          o.parallel = 1;  // one cache, so that reuse between requests is visible
          o.max_body = 4 << 20;
        }) {}

  httplib::Result post(const std::string& path, const json& body) {
    auto c = server.client();
    return c.Post(path, body.dump(), "application/json");
  }
  json ok(const std::string& path, const json& body) { return test::post_expecting(server, path, body, 200); }
  // The error message of a 400 (either API's shape).
  std::string refused(const std::string& path, const json& body) { return test::refusal_message(server, path, body); }
  json openai_chat(const json& content, const std::string& model = "tiny") {
    return ok("/v1/chat/completions", {{"model", model},
                                       {"messages", {{{"role", "user"}, {"content", content}}}},
                                       {"temperature", 1},
                                       {"seed", 3},
                                       {"max_tokens", 12}});
  }
  static json image_then_text(const std::string& url) {
    return json::array({{{"type", "image_url"}, {"image_url", {{"url", url}}}}, {{"type", "text"}, {"text", "What is this?"}}});
  }
  json ollama_chat(const std::vector<std::string>& images, const std::string& model = "tiny") {
    return ok("/api/chat", {{"model", model},
                            {"messages", {{{"role", "user"}, {"content", "What is this?"}, {"images", images}}}},
                            {"stream", false},
                            {"options", kOllamaSampling}});
  }

  test::TempDir plain_dir;  // before the server, which serves from it
  test::TestServer server;
  const std::string square = png_bytes(64, 64, 1), square2 = png_bytes(64, 64, 7), wide = png_bytes(100, 60, 1);
};

TEST_F(ServerImages, EveryClientShapeGivesTheSameAnswerForTheSamePicture) {
  const json a = openai_chat(image_then_text(data_url(square)));
  ASSERT_TRUE(a.is_object());
  const std::string answer = a["choices"][0]["message"]["content"];
  ASSERT_FALSE(answer.empty());
  const json b = ollama_chat({base64(square)});
  EXPECT_EQ(b["message"]["content"], answer);
  // Open WebUI strips the data: prefix, other Ollama clients keep it: both are read.
  EXPECT_EQ(ollama_chat({data_url(square)})["message"]["content"], answer);
  const json g = ok("/api/generate", {{"model", "tiny"}, {"prompt", "What is this?"}, {"images", {base64(square)}},
                                      {"stream", false}, {"options", kOllamaSampling}});
  EXPECT_EQ(g["response"], answer);
  const json r = ok("/v1/responses",
                    {{"model", "tiny"},
                     {"input", {{{"role", "user"},
                                 {"content", {{{"type", "input_image"}, {"image_url", data_url(square)}},
                                              {{"type", "input_text"}, {"text", "What is this?"}}}}}}},
                     {"temperature", 1},
                     {"seed", 3},
                     {"max_output_tokens", 12}});
  ASSERT_TRUE(r.is_object());
  EXPECT_EQ(r["output"].back()["content"][0]["text"], answer);
  // The same request again: the same answer; another picture, another answer (the logits
  // follow the soft tokens; the seed and the weights are fixed, so this is no chance).
  EXPECT_EQ(openai_chat(image_then_text(data_url(square)))["choices"][0]["message"]["content"], answer);
  EXPECT_NE(openai_chat(image_then_text(data_url(square2)))["choices"][0]["message"]["content"], answer);
}

TEST_F(ServerImages, ThePromptHoldsTheImagesSoftTokens) {
  const int64_t text = openai_chat("What is this?")["usage"]["prompt_tokens"];
  // The template writes one <|image|> per picture before the text; each becomes N + 2.
  EXPECT_EQ(openai_chat(image_then_text(data_url(square)))["usage"]["prompt_tokens"], text + kSquareTokens + 2);
  EXPECT_EQ(openai_chat(image_then_text(data_url(wide)))["usage"]["prompt_tokens"], text + kWideTokens + 2);
  EXPECT_EQ(ollama_chat({base64(square), base64(wide)})["prompt_eval_count"],
            text + kSquareTokens + 2 + kWideTokens + 2);
}

TEST_F(ServerImages, AResentPictureReusesTheCacheAnotherDoesNot) {
  const json first = openai_chat(image_then_text(data_url(square)));
  const json again = openai_chat(image_then_text(data_url(square)));
  const int64_t prompt = again["usage"]["prompt_tokens"];
  // All but the last prompt token come from the cache (that one is run for its logits).
  EXPECT_EQ(again["usage"]["prompt_tokens_details"]["cached_tokens"], prompt - 1);
  // Same size, other pixels: the placeholder tokens are the same, but nothing from the
  // image on may be reused (<bos><|turn>user\n<|image> is 5 tokens).
  const json other = openai_chat(image_then_text(data_url(square2)));
  EXPECT_EQ(other["usage"]["prompt_tokens"], prompt);
  EXPECT_LE(other["usage"]["prompt_tokens_details"]["cached_tokens"].get<int64_t>(), 5);
  // The resent picture was not encoded again.
  auto metrics = server.client().Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("facet_images_reused_total 1\n"), std::string::npos) << metrics->body;
  EXPECT_NE(metrics->body.find("facet_images_encoded_total 2\n"), std::string::npos) << metrics->body;
}

TEST_F(ServerImages, BadImagesAreClearErrorsAndTheServerGoesOn) {
  auto still_serves = [this] { EXPECT_EQ(ollama_chat({base64(wide)})["done"], true); };
  std::string e = refused("/v1/chat/completions",
                          {{"model", "tiny"}, {"messages", {{{"role", "user"}, {"content", image_then_text("https://example.com/cat.png")}}}}});
  EXPECT_NE(e.find("facet fetches nothing: send the image inline as a data: URL (base64)"), std::string::npos) << e;
  still_serves();
  e = refused("/api/chat", {{"model", "tiny"}, {"messages", {{{"role", "user"}, {"content", "x"}, {"images", {"%%%"}}}}}});
  EXPECT_NE(e.find("messages[0].images[0] is not valid base64"), std::string::npos) << e;
  still_serves();
  std::string corrupt = square.substr(0, 40);  // the header and part of the first chunk
  e = refused("/api/chat", {{"model", "tiny"}, {"messages", {{{"role", "user"}, {"content", "x"}, {"images", {base64(corrupt)}}}}}});
  EXPECT_NE(e.find("image 1 (messages[0])"), std::string::npos) << e;
  EXPECT_NE(e.find("PNG"), std::string::npos) << e;
  still_serves();
  e = refused("/api/chat", {{"model", "tiny"}, {"messages", {{{"role", "user"}, {"content", "x"}, {"images", {base64("GIF89a....")}}}}}});
  EXPECT_NE(e.find("not a PNG, JPEG or WebP image"), std::string::npos) << e;
  e = refused("/v1/chat/completions", {{"model", "plain"}, {"messages", {{{"role", "user"}, {"content", image_then_text(data_url(square))}}}}});
  EXPECT_NE(e.find("model plain:latest has no vision projector (mmproj)"), std::string::npos) << e;
  e = refused("/v1/chat/completions",
              {{"model", "tiny"},
               {"messages", {{{"role", "user"}, {"content", {{{"type", "input_audio"}, {"input_audio", {{"data", "UklGRg=="}, {"format", "wav"}}}}}}}}}});
  // This projector has a vision tower only (audio: tests/server_audio_test.cpp).
  EXPECT_NE(e.find("model tiny:latest has no audio encoder"), std::string::npos) << e;
  e = refused("/api/generate", {{"model", "tiny"}, {"prompt", "x"}, {"raw", true}, {"images", {base64(square)}}});
  EXPECT_NE(e.find("images need the chat template"), std::string::npos) << e;
  // A literal placeholder typed in the text makes one more image place than images.
  e = refused("/api/chat", {{"model", "tiny"}, {"messages", {{{"role", "user"}, {"content", "<|image|>"}, {"images", {base64(square)}}}}}});
  EXPECT_NE(e.find("image place"), std::string::npos) << e;
  still_serves();
  // The model without a projector still answers text.
  EXPECT_TRUE(openai_chat("Hi", "plain")["choices"].is_array());
}

TEST_F(ServerImages, ShowReportsVisionOnlyWithAProjector) {
  const json tiny = ok("/api/show", {{"model", "tiny"}});
  const json plain = ok("/api/show", {{"model", "plain"}});
  auto has_vision = [](const json& show) {
    const json& caps = show["capabilities"];
    return std::find(caps.begin(), caps.end(), "vision") != caps.end();
  };
  EXPECT_TRUE(has_vision(tiny));
  EXPECT_FALSE(has_vision(plain));
  // The projector beside the model is not listed as a model.
  auto tags = server.client().Get("/api/tags");
  ASSERT_TRUE(tags);
  EXPECT_EQ(tags->body.find("mmproj"), std::string::npos) << tags->body;
}

// facet serve's flags are checked before it listens (`timeout` keeps a server that wrongly
// started from hanging the test).
TEST(ServeImageFlags, BadProjectorFlagsAreClearErrors) {
  const std::string serve = "timeout 30 " + test::facet_bin() + " serve --port 0 --no-default-model --model " +
                            test::realvocab_model();
  auto r = test::run_command(serve + " --mmproj " + test::data_dir() + "/models/gemma4-tiny-e2b-like-f32.gguf");
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("not a vision or audio projector"), std::string::npos) << r.err;
  r = test::run_command(serve + " --model " + test::realvocab_model() + " --mmproj x.gguf");
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("--mmproj goes with one --model"), std::string::npos) << r.err;
  r = test::run_command(serve + " --image-tokens 100");
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("--image-tokens must be 70, 140, 280, 560 or 1120"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace facet
