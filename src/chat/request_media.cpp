#include "chat/request_media.h"

#include <algorithm>
#include <cctype>

#include "util/base64.h"
#include "util/error.h"

namespace facet::chat {
namespace {

bool starts_with_nocase(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() &&
         std::equal(prefix.begin(), prefix.end(), text.begin(), [](char a, char b) {
           return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
         });
}

// A URL with a scheme other than data: ("https://...", "file:/etc/passwd", "s3://...").
// Base64 never holds ':', so this cannot misread base64.
bool is_remote_reference(std::string_view value) {
  const size_t colon = value.find(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  return std::all_of(value.begin(), value.begin() + static_cast<std::ptrdiff_t>(colon), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '-' || c == '.';
  });
}

const char* kind_name(PartKind kind) {
  switch (kind) {
    case PartKind::Image: return "image";
    case PartKind::Audio: return "audio";
    case PartKind::Video: return "video";
    default: return "media";
  }
}

// The string at object[key], or object[key].url for {"url": ...}; nullptr when absent.
const Json* reference_field(const Json& part, const char* key, std::string& where) {
  auto it = part.find(key);
  if (it == part.end() || it->is_null()) return nullptr;
  where += std::string(".") + key;
  if (it->is_object()) {
    auto url = it->find("url");
    if (url == it->end()) return nullptr;
    where += ".url";
    return &*url;
  }
  return &*it;
}

}  // namespace

InlineMedia read_media_reference(std::string_view value, const std::string& where, std::string_view kind) {
  InlineMedia out;
  std::string_view payload = value;
  if (starts_with_nocase(value, "data:")) {
    const size_t comma = value.find(',');
    require(comma != std::string_view::npos, where, ": a data: URL needs a comma before its data (data:MIME;base64,DATA)");
    const std::string_view meta = value.substr(5, comma - 5);
    bool base64 = false;
    size_t start = 0;
    for (size_t i = 0; i <= meta.size(); ++i) {
      if (i < meta.size() && meta[i] != ';') continue;
      const std::string_view piece = meta.substr(start, i - start);
      if (start == 0) out.mime = std::string(piece);
      else if (starts_with_nocase(piece, "base64") && piece.size() == 6) base64 = true;
      start = i + 1;
    }
    require(base64, where, ": the data: URL must hold base64 data (data:",
            out.mime.empty() ? kind == "audio" ? "audio/wav" : "image/png" : out.mime, ";base64,...)");
    payload = value.substr(comma + 1);
  } else {
    require(!is_remote_reference(value), where, ": facet fetches nothing: send the ", kind,
            " inline as a data: URL (base64), not \"", value.substr(0, std::min<size_t>(value.size(), 64)), "\"");
  }
  std::optional<std::string> bytes = base64_decode(payload);
  const std::string example = kind == "audio" ? "data:audio/wav" : kind == "video" ? "data:video/mp4" : "data:image/png";
  require(bytes.has_value(), where, " is not valid base64 (expected a data: URL like ", example, ";base64,... or ",
          "bare base64)");
  require(!bytes->empty(), where, ": the ", kind, " is empty");
  out.bytes = std::move(*bytes);
  return out;
}

void read_part_media(const Json& part, ContentPart& out, const std::string& where) {
  const char* kind = kind_name(out.kind);
  // OpenAI / Responses field first, then the Hugging Face style ones.
  static const char* const kImageKeys[] = {"image_url", "image", "url"};
  static const char* const kVideoKeys[] = {"video_url", "video", "url"};
  if (out.kind == PartKind::Audio) {
    auto audio = part.find("input_audio");
    if (audio == part.end()) audio = part.find("audio");
    require(audio != part.end() && audio->is_object() && audio->contains("data") && (*audio)["data"].is_string(),
            where, " has no audio data: send {\"type\":\"input_audio\",\"input_audio\":{\"data\":BASE64,\"format\":\"wav\"}}");
    const std::string field = where + (part.contains("input_audio") ? ".input_audio" : ".audio") + ".data";
    InlineMedia media = read_media_reference((*audio)["data"].get_ref<const std::string&>(), field, kind);
    out.data = std::move(media.bytes);
    out.mime = media.mime;
    if (auto format = audio->find("format"); out.mime.empty() && format != audio->end() && format->is_string())
      out.mime = "audio/" + format->get<std::string>();
    return;
  }
  require(!part.contains("file_id"), where, ": file_id is not supported: facet stores no files; send the ", kind,
          " inline as a data: URL (base64)");
  const auto& keys = out.kind == PartKind::Video ? kVideoKeys : kImageKeys;
  for (const char* key : keys) {
    std::string field = where;
    const Json* value = reference_field(part, key, field);
    if (!value) continue;
    require(value->is_string(), field, " must be a string (a data: URL), got ", value->dump());
    InlineMedia media = read_media_reference(value->get_ref<const std::string&>(), field, kind);
    out.data = std::move(media.bytes);
    out.mime = std::move(media.mime);
    return;
  }
  if (out.kind == PartKind::Video)
    fail(where, " has no video data: send {\"type\":\"video_url\",\"video_url\":{\"url\":\"data:video/mp4;base64,...\"}}");
  fail(where, " has no image data: send {\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png;base64,...\"}}");
}

std::vector<ContentPart> image_parts_from_list(const Json& images, const std::string& where) {
  require(images.is_array(), where, " must be a list of base64 images");
  std::vector<ContentPart> parts;
  for (size_t i = 0; i < images.size(); ++i) {
    const std::string field = where + "[" + std::to_string(i) + "]";
    require(images[i].is_string(), field, " must be a base64 string");
    InlineMedia media = read_media_reference(images[i].get_ref<const std::string&>(), field, "image");
    ContentPart part = ContentPart::of(PartKind::Image);
    part.data = std::move(media.bytes);
    part.mime = std::move(media.mime);
    parts.push_back(std::move(part));
  }
  return parts;
}

}  // namespace facet::chat
