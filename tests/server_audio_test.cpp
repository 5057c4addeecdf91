// Audio through facet serve, as the clients send it: OpenAI chat input_audio parts (bare
// base64 or a data: URL), Responses input_audio, and Ollama's "images" holding a WAV
// (Ollama's API has no audio field). The models all are the tiny real-vocabulary model:
//   - "tiny" with mmproj-tiny.gguf beside it holding both random towers
//     (tiny-realvocab-vision.json and tiny-realvocab-audio.json merged into one file, as
//     Gemma 4 E2B's real mmproj holds both);
//   - "seeonly" with a vision-only projector, "hearonly" with an audio-only one;
//   - "plain" with none.
// Checks: the prompt grows by N + 2 tokens a clip with N = 25 a second (one soft token per
// 40 ms of 16 kHz audio, <|audio> and <audio|> around them); images and audio mix in one
// request; every shape gives the same (seeded) answer for the same clip, another clip
// another; a resent clip reuses the cached prompt; bad input and models without an audio
// tower are clear 400s and the server goes on serving.
#include <gtest/gtest.h>
#include <png.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "formats/gguf.h"
#include "model/audio.h"
#include "model/random_model.h"
#include "model/vision.h"
#include "support/run_command.h"
#include "support/server_requests.h"
#include "support/test_server.h"

namespace facet {
namespace {

using nlohmann::json;

// A mono PCM WAV file (RIFF header written out by hand): `seconds` of a sine at `hz`,
// 16-bit, or 8-bit silence when `bits` is 8.
std::string wav_bytes(double seconds, int rate, double hz, int bits = 16) {
  const uint32_t n = static_cast<uint32_t>(seconds * rate);
  const uint32_t bytes_per_sample = static_cast<uint32_t>(bits / 8);
  std::string b;
  auto u32 = [&](uint32_t v) { for (int i = 0; i < 4; ++i) b.push_back(static_cast<char>(v >> (8 * i))); };
  auto u16 = [&](uint32_t v) { for (int i = 0; i < 2; ++i) b.push_back(static_cast<char>(v >> (8 * i))); };
  b += "RIFF";
  u32(36 + bytes_per_sample * n);
  b += "WAVEfmt ";
  u32(16);
  u16(1);  // PCM
  u16(1);  // mono
  u32(static_cast<uint32_t>(rate));
  u32(static_cast<uint32_t>(rate) * bytes_per_sample);
  u16(bytes_per_sample);
  u16(static_cast<uint32_t>(bits));
  b += "data";
  u32(bytes_per_sample * n);
  for (uint32_t i = 0; i < n; ++i) {
    if (bits == 8) {
      b.push_back(static_cast<char>(128));  // unsigned 8-bit silence
    } else {
      u16(static_cast<uint16_t>(static_cast<int16_t>(12000 * std::sin(2 * M_PI * hz * i / rate))));
    }
  }
  return b;
}

// A 64x64 RGB PNG (64 soft tokens at the 70-token budget, see server_images_test.cpp).
std::string png_bytes() {
  const int side = 64;
  std::vector<uint8_t> pixels(side * side * 3);
  for (int i = 0; i < side * side * 3; ++i) pixels[static_cast<size_t>(i)] = static_cast<uint8_t>(i * 7 % 256);
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  image.width = side;
  image.height = side;
  image.format = PNG_FORMAT_RGB;
  png_alloc_size_t size = 0;
  EXPECT_NE(png_image_write_to_memory(&image, nullptr, &size, 0, pixels.data(), 0, nullptr), 0) << image.message;
  std::string out(size, '\0');
  EXPECT_NE(png_image_write_to_memory(&image, out.data(), &size, 0, pixels.data(), 0, nullptr), 0) << image.message;
  out.resize(size);
  return out;
}
constexpr int kImageTokens = 64;

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

json read_config(const std::string& name, std::string* path) {
  *path = test::source_dir() + "/models/configs/" + name;
  std::ifstream in(*path);
  return json::parse(in);
}

// The random vision projector of tiny-realvocab-vision.json.
void write_vision_projector(const std::string& out) {
  std::string path;
  const json j = read_config("tiny-realvocab-vision.json", &path);
  GeneratorOptions options;
  read_generator_keys(j, path, options);
  write_random_mmproj(VisionConfig::from_hf_json(j, j["text_hidden_size"].get<int>(), path), options, out);
}

// The random audio projector of tiny-realvocab-audio.json.
void write_audio_projector(const std::string& out) {
  std::string path;
  const json j = read_config("tiny-realvocab-audio.json", &path);
  GeneratorOptions options;
  read_generator_keys(j, path, options);
  write_random_audio_mmproj(AudioConfig::from_hf_json(j, j["text_hidden_size"].get<int>(), path), options, out);
}

// One projector with both towers, as llama.cpp writes E2B's: every key and tensor of both
// files (their tensor names do not overlap: v.* / mm.* against a.* / mm.a.*), both
// has_*_encoder flags true.
void merge_projectors(const std::string& vision, const std::string& audio, const std::string& out) {
  const auto v = GgufFile::open(vision);
  const auto a = GgufFile::open(audio);
  GgufWriter w;
  for (const auto* file : {v.get(), a.get()})
    for (const auto& [key, value] : file->metadata()) w.set(key, value);
  w.set("clip.has_vision_encoder", GgufValue::of_bool(true));
  w.set("clip.has_audio_encoder", GgufValue::of_bool(true));
  for (const auto* file : {v.get(), a.get()})
    for (const GgufTensor& t : file->tensors()) w.add_tensor(t.name, t.view.dtype, t.view.shape, t.view.data);
  w.write(out);
}

const json kOllamaSampling = {{"temperature", 1}, {"seed", 3}, {"num_predict", 12}};

class ServerAudio : public ::testing::Test {
 protected:
  ServerAudio()
      : server([this](server::ServerOptions& o) {
          write_vision_projector(work.file("vision.gguf"));
          write_audio_projector(work.file("audio.gguf"));
          merge_projectors(work.file("vision.gguf"), work.file("audio.gguf"), o.models_dir + "/mmproj-tiny.gguf");
          for (const char* name : {"seeonly", "hearonly"})
            std::filesystem::create_symlink(test::realvocab_model(), o.models_dir + "/" + name + ".gguf");
          std::filesystem::copy_file(work.file("vision.gguf"), o.models_dir + "/mmproj-seeonly.gguf");
          std::filesystem::copy_file(work.file("audio.gguf"), o.models_dir + "/mmproj-hearonly.gguf");
          std::filesystem::create_symlink(test::realvocab_model(), work.file("plain.gguf"));
          o.model_paths.push_back(work.file("plain.gguf"));
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
  static json chat_body(const json& content, const std::string& model) {
    return {{"model", model},
            {"messages", {{{"role", "user"}, {"content", content}}}},
            {"temperature", 1},
            {"seed", 3},
            {"max_tokens", 12}};
  }
  json openai_chat(const json& content, const std::string& model = "tiny") {
    return ok("/v1/chat/completions", chat_body(content, model));
  }
  std::string openai_refused(const json& content, const std::string& model = "tiny") {
    return refused("/v1/chat/completions", chat_body(content, model));
  }
  static json audio_part(const std::string& data, const std::string& format = "wav") {
    return {{"type", "input_audio"}, {"input_audio", {{"data", data}, {"format", format}}}};
  }
  static json audio_then_text(const std::string& wav) {
    return json::array({audio_part(base64(wav)), {{"type", "text"}, {"text", "What is this?"}}});
  }
  static std::string answer(const json& chat) { return chat["choices"][0]["message"]["content"]; }
  void still_serves() { EXPECT_FALSE(answer(openai_chat(audio_then_text(one_second))).empty()); }

  test::TempDir work;  // before the server, whose options point into it
  test::TestServer server;
  const std::string one_second = wav_bytes(1.0, 16000, 440), other_second = wav_bytes(1.0, 16000, 1250),
                    two_seconds_44k = wav_bytes(2.0, 44100, 440), picture = png_bytes();
};

TEST_F(ServerAudio, ThePromptHoldsTwentyFiveSoftTokensASecond) {
  const int64_t text = openai_chat("What is this?")["usage"]["prompt_tokens"];
  // 1 s at 16 kHz: 25 soft tokens plus <|audio> and <audio|>.
  EXPECT_EQ(openai_chat(audio_then_text(one_second))["usage"]["prompt_tokens"], text + 25 + 2);
  // 2 s at 44.1 kHz: resampled to 16 kHz first, 50 soft tokens.
  EXPECT_EQ(openai_chat(audio_then_text(two_seconds_44k))["usage"]["prompt_tokens"], text + 50 + 2);
  // A picture and two clips in one message: each in its own place.
  const json mixed = json::array({{{"type", "image_url"}, {"image_url", {{"url", "data:image/png;base64," + base64(picture)}}}},
                                  audio_part(base64(one_second)),
                                  audio_part("data:audio/wav;base64," + base64(two_seconds_44k)),
                                  {{"type", "text"}, {"text", "What is this?"}}});
  EXPECT_EQ(openai_chat(mixed)["usage"]["prompt_tokens"], text + kImageTokens + 2 + 25 + 2 + 50 + 2);
  // Ollama: the picture and a clip in "images"; the WAV bytes make it audio.
  const json o = ok("/api/chat", {{"model", "tiny"},
                                  {"messages", {{{"role", "user"}, {"content", "What is this?"},
                                                 {"images", {base64(picture), base64(one_second)}}}}},
                                  {"stream", false},
                                  {"options", kOllamaSampling}});
  EXPECT_EQ(o["prompt_eval_count"], text + kImageTokens + 2 + 25 + 2);
}

TEST_F(ServerAudio, EveryClientShapeGivesTheSameAnswerForTheSameClip) {
  const std::string a = answer(openai_chat(audio_then_text(one_second)));
  ASSERT_FALSE(a.empty());
  // A data: URL instead of bare base64, and the mp3-less "format" left out.
  EXPECT_EQ(answer(openai_chat(json::array({{{"type", "input_audio"},
                                             {"input_audio", {{"data", "data:audio/wav;base64," + base64(one_second)}}}},
                                            {{"type", "text"}, {"text", "What is this?"}}}))),
            a);
  const json r = ok("/v1/responses",
                    {{"model", "tiny"},
                     {"input", {{{"role", "user"},
                                 {"content", {audio_part(base64(one_second)), {{"type", "input_text"}, {"text", "What is this?"}}}}}}},
                     {"temperature", 1},
                     {"seed", 3},
                     {"max_output_tokens", 12}});
  ASSERT_TRUE(r.is_object());
  EXPECT_EQ(r["output"].back()["content"][0]["text"], a);
  const json o = ok("/api/chat", {{"model", "tiny"},
                                  {"messages", {{{"role", "user"}, {"content", "What is this?"}, {"images", {base64(one_second)}}}}},
                                  {"stream", false},
                                  {"options", kOllamaSampling}});
  EXPECT_EQ(o["message"]["content"], a);
  const json g = ok("/api/generate", {{"model", "tiny"}, {"prompt", "What is this?"}, {"images", {base64(one_second)}},
                                      {"stream", false}, {"options", kOllamaSampling}});
  EXPECT_EQ(g["response"], a);
  // The audio-only projector's tower is the same as the merged one's: the same answer.
  EXPECT_EQ(answer(openai_chat(audio_then_text(one_second), "hearonly")), a);
  // Another clip of the same length: another answer (the logits follow the soft tokens; the
  // seed and the weights are fixed, so this is no chance).
  EXPECT_NE(answer(openai_chat(audio_then_text(other_second))), a);
}

TEST_F(ServerAudio, AResentClipReusesTheCacheAnotherDoesNot) {
  openai_chat(audio_then_text(one_second));
  const json again = openai_chat(audio_then_text(one_second));
  const int64_t prompt = again["usage"]["prompt_tokens"];
  // All but the last prompt token come from the cache (that one is run for its logits).
  EXPECT_EQ(again["usage"]["prompt_tokens_details"]["cached_tokens"], prompt - 1);
  // Same length, another tone: the placeholder tokens are the same, but nothing from the
  // clip on may be reused (<bos><|turn>user\n<|audio> is 5 tokens).
  const json other = openai_chat(audio_then_text(other_second));
  EXPECT_EQ(other["usage"]["prompt_tokens"], prompt);
  EXPECT_LE(other["usage"]["prompt_tokens_details"]["cached_tokens"].get<int64_t>(), 5);
  auto metrics = server.client().Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("facet_audio_reused_total 1\n"), std::string::npos) << metrics->body;
  EXPECT_NE(metrics->body.find("facet_audio_encoded_total 2\n"), std::string::npos) << metrics->body;
  EXPECT_NE(metrics->body.find("facet_images_encoded_total 0\n"), std::string::npos) << metrics->body;
}

TEST_F(ServerAudio, BadAudioIsAClearErrorAndTheServerGoesOn) {
  std::string e = openai_refused(json::array({audio_part("%%%not base64")}));
  EXPECT_NE(e.find("messages[0].content[0].input_audio.data is not valid base64"), std::string::npos) << e;
  still_serves();
  // The RIFF/WAVE header cut in the middle of its fmt chunk.
  e = openai_refused(json::array({audio_part(base64(one_second.substr(0, 30)))}));
  EXPECT_NE(e.find("audio 1 (messages[0])"), std::string::npos) << e;
  EXPECT_NE(e.find("damaged"), std::string::npos) << e;
  still_serves();
  e = openai_refused(json::array({audio_part(base64("this is no sound at all, just text"))}));
  EXPECT_NE(e.find("audio 1 (messages[0])"), std::string::npos) << e;
  still_serves();
  // Over the decoder's 600 s: 601 s of 8-bit audio at 1 kHz (601 kB).
  e = openai_refused(json::array({audio_part(base64(wav_bytes(601, 1000, 0, 8)))}));
  EXPECT_NE(e.find("audio inputs are limited to"), std::string::npos) << e;
  still_serves();
  // Models without an audio tower.
  e = openai_refused(audio_then_text(one_second), "seeonly");
  EXPECT_NE(e.find("model seeonly:latest has no audio encoder: its projector"), std::string::npos) << e;
  EXPECT_NE(e.find("holds only a vision tower"), std::string::npos) << e;
  e = openai_refused(audio_then_text(one_second), "plain");
  EXPECT_NE(e.find("model plain:latest has no audio encoder"), std::string::npos) << e;
  // And one without a vision tower, given a picture.
  e = openai_refused(json::array({{{"type", "image_url"}, {"image_url", {{"url", "data:image/png;base64," + base64(picture)}}}}}),
                     "hearonly");
  EXPECT_NE(e.find("model hearonly:latest has no vision encoder"), std::string::npos) << e;
  // A literal placeholder typed in the text makes one more audio place than clips.
  e = openai_refused(json::array({audio_part(base64(one_second)), {{"type", "text"}, {"text", "<|audio|>"}}}));
  EXPECT_NE(e.find("audio place"), std::string::npos) << e;
  still_serves();
  EXPECT_TRUE(openai_chat("Hi", "seeonly")["choices"].is_array());
}

TEST_F(ServerAudio, ShowReportsTheProjectorsTowers) {
  auto capabilities = [this](const std::string& model) {
    const json caps = ok("/api/show", {{"model", model}})["capabilities"];
    auto has = [&](const char* c) { return std::find(caps.begin(), caps.end(), c) != caps.end(); };
    return std::make_pair(has("vision"), has("audio"));
  };
  EXPECT_EQ(capabilities("tiny"), std::make_pair(true, true));
  EXPECT_EQ(capabilities("seeonly"), std::make_pair(true, false));
  EXPECT_EQ(capabilities("hearonly"), std::make_pair(false, true));
  EXPECT_EQ(capabilities("plain"), std::make_pair(false, false));
}

// --mmproj takes an audio-only projector: the flags are checked in order, so failing on the
// later --image-tokens shows the projector passed (`timeout` keeps a server that wrongly
// started from hanging the test).
TEST(ServeAudioFlags, AnAudioOnlyProjectorIsAccepted) {
  test::TempDir dir;
  write_audio_projector(dir.file("audio.gguf"));
  const auto r = test::run_command("timeout 30 " + test::facet_bin() + " serve --port 0 --no-default-model --model " +
                                   test::realvocab_model() + " --mmproj " + dir.file("audio.gguf") +
                                   " --image-tokens 100");
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_EQ(r.err.find("projector"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--image-tokens must be"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace facet
