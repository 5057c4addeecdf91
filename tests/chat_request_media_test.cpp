// Inline media in chat requests (request_media.h): data: URLs and bare base64 decoded into
// the parts' bytes for every client shape (OpenAI chat, Responses, Hugging Face, Ollama
// "images"), and clear errors for remote URLs, bad base64 and parts without data. The
// expected bytes are the base64 texts decoded by hand.
#include <gtest/gtest.h>

#include <string>

#include "chat/render.h"
#include "chat/render_request.h"
#include "chat/request_media.h"
#include "util/error.h"

namespace facet::chat {
namespace {

// "iVBORw0KGgo=" is base64 of the PNG signature 89 50 4E 47 0D 0A 1A 0A.
const std::string kPngMagic("\x89PNG\r\n\x1a\n", 8);
constexpr const char* kPngB64 = "iVBORw0KGgo=";

RenderRequest read_media(const std::string& json) {
  return render_request_from_json(Json::parse(json), {.keep_media = true});
}

std::string error_of(const std::string& json) {
  try {
    read_media(json);
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

std::string user_parts(const std::string& parts) {
  return R"({"messages":[{"role":"user","content":[)" + parts + "]}]}";
}

TEST(ChatRequestMedia, ReadsDataUrlsAndBareBase64) {
  InlineMedia m = read_media_reference(std::string("data:image/png;base64,") + kPngB64, "f", "image");
  EXPECT_EQ(m.mime, "image/png");
  EXPECT_EQ(m.bytes, kPngMagic);
  m = read_media_reference(kPngB64, "f", "image");
  EXPECT_EQ(m.mime, "");
  EXPECT_EQ(m.bytes, kPngMagic);
  // Extra parameters and upper-case scheme, as some encoders write them.
  m = read_media_reference("DATA:image/jpeg;name=a.jpg;BASE64,Zm9v", "f", "image");
  EXPECT_EQ(m.mime, "image/jpeg");
  EXPECT_EQ(m.bytes, "foo");
}

TEST(ChatRequestMedia, OpenAiChatImageUrlAsObjectOrString) {
  RenderRequest r = read_media(user_parts(std::string(R"({"type":"text","text":"What?"},)") +
                                          R"({"type":"image_url","image_url":{"url":"data:image/png;base64,)" + kPngB64 +
                                          R"(","detail":"low"}},{"type":"image_url","image_url":"data:image/webp;base64,Zm9v"})"));
  const auto& parts = r.messages[0].content.parts;
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[0].text, "What?");
  EXPECT_EQ(parts[1].kind, PartKind::Image);
  EXPECT_EQ(parts[1].data, kPngMagic);
  EXPECT_EQ(parts[1].mime, "image/png");
  EXPECT_EQ(parts[2].data, "foo");
  EXPECT_EQ(parts[2].mime, "image/webp");
}

TEST(ChatRequestMedia, ResponsesAndHuggingFaceShapes) {
  RenderRequest r = read_media(user_parts(std::string(R"({"type":"input_image","image_url":"data:image/png;base64,)") +
                                          kPngB64 + R"("},{"type":"image","image":"Zm9v"},{"type":"image","url":"YmFy"})"));
  const auto& parts = r.messages[0].content.parts;
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[0].data, kPngMagic);
  EXPECT_EQ(parts[1].data, "foo");
  EXPECT_EQ(parts[2].data, "bar");
}

TEST(ChatRequestMedia, AudioPartsKeepTheirBytesAndFormat) {
  RenderRequest r = read_media(user_parts(R"({"type":"input_audio","input_audio":{"data":"UklGRg==","format":"wav"}})"));
  const ContentPart& part = r.messages[0].content.parts[0];
  EXPECT_EQ(part.kind, PartKind::Audio);
  EXPECT_EQ(part.data, "RIFF");
  EXPECT_EQ(part.mime, "audio/wav");
}

TEST(ChatRequestMedia, OllamaImagesComeBeforeTheText) {
  RenderRequest r = read_media(std::string(R"({"messages":[{"role":"user","content":"Describe","images":[")") +
                               kPngB64 + R"(","data:image/jpeg;base64,Zm9v"]}]})");
  const Content& c = r.messages[0].content;
  ASSERT_EQ(c.form, Content::Form::Parts);
  ASSERT_EQ(c.parts.size(), 3u);
  EXPECT_EQ(c.parts[0].kind, PartKind::Image);
  EXPECT_EQ(c.parts[0].data, kPngMagic);
  EXPECT_EQ(c.parts[1].data, "foo");
  EXPECT_EQ(c.parts[1].mime, "image/jpeg");
  EXPECT_EQ(c.parts[2].kind, PartKind::Text);
  EXPECT_EQ(c.parts[2].text, "Describe");
  // The template writes the placeholders before the text, as for an OpenAI parts list.
  EXPECT_EQ(render_chat(r, ChatRules::Small), "<bos><|turn>user\n<|image|><|image|>Describe<turn|>\n<|turn>model\n");
  // An empty list changes nothing.
  r = read_media(R"({"messages":[{"role":"user","content":"Hi","images":[]}]})");
  EXPECT_EQ(r.messages[0].content.form, Content::Form::Text);
}

TEST(ChatRequestMedia, RemoteUrlsAreRefused) {
  for (const char* url : {"https://example.com/cat.png", "http://127.0.0.1/x.png", "file:///etc/passwd", "ftp://h/a"}) {
    const std::string e = error_of(user_parts(std::string(R"({"type":"image_url","image_url":{"url":")") + url + "\"}}"));
    EXPECT_NE(e.find("facet fetches nothing: send the image inline as a data: URL (base64)"), std::string::npos) << e;
    EXPECT_NE(e.find("messages[0].content[0].image_url.url"), std::string::npos) << e;
  }
  const std::string e = error_of(R"({"messages":[{"role":"user","content":"x","images":["https://a/b.png"]}]})");
  EXPECT_NE(e.find("messages[0].images[0]: facet fetches nothing"), std::string::npos) << e;
}

TEST(ChatRequestMedia, BadBase64AndMissingDataNameTheField) {
  std::string e = error_of(user_parts(R"({"type":"image_url","image_url":{"url":"data:image/png;base64,@@@@"}})"));
  EXPECT_NE(e.find("messages[0].content[0].image_url.url is not valid base64"), std::string::npos) << e;
  e = error_of(R"({"messages":[{"role":"user","content":"x","images":["Zm9v","not base64!"]}]})");
  EXPECT_NE(e.find("messages[0].images[1] is not valid base64"), std::string::npos) << e;
  e = error_of(user_parts(R"({"type":"image_url","image_url":{"url":"data:image/png,rawtext"}})"));
  EXPECT_NE(e.find("must hold base64 data"), std::string::npos) << e;
  e = error_of(user_parts(R"({"type":"image_url","image_url":{"url":"data:image/png;base64,"}})"));
  EXPECT_NE(e.find("the image is empty"), std::string::npos) << e;
  e = error_of(user_parts(R"({"type":"image"})"));
  EXPECT_NE(e.find("messages[0].content[0] has no image data"), std::string::npos) << e;
  e = error_of(user_parts(R"({"type":"input_image","file_id":"file-1"})"));
  EXPECT_NE(e.find("file_id is not supported"), std::string::npos) << e;
  e = error_of(user_parts(R"({"type":"input_audio","input_audio":{"format":"wav"}})"));
  EXPECT_NE(e.find("has no audio data"), std::string::npos) << e;
  e = error_of(user_parts(R"({"type":"image_url","image_url":{"url":42}})"));
  EXPECT_NE(e.find("must be a string"), std::string::npos) << e;
  e = error_of(R"({"messages":[{"role":"user","content":"x","images":"Zm9v"}]})");
  EXPECT_NE(e.find("messages[0].images must be a list"), std::string::npos) << e;
}

TEST(ChatRequestMedia, WithoutKeepMediaPartsArePlaceholdersOnly) {
  // The template tools (facet template, /apply-template) read any URL and ignore "images".
  RenderRequest r = render_request_from_json(
      Json::parse(user_parts(R"({"type":"image_url","image_url":{"url":"https://example.com/a.png"}})")));
  EXPECT_EQ(r.messages[0].content.parts[0].kind, PartKind::Image);
  EXPECT_TRUE(r.messages[0].content.parts[0].data.empty());
  r = render_request_from_json(Json::parse(R"({"messages":[{"role":"user","content":"x","images":["??"]}]})"));
  EXPECT_EQ(r.messages[0].content.form, Content::Form::Text);
}

}  // namespace
}  // namespace facet::chat
