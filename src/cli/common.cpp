#include "cli/common.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "util/error.h"

namespace facet::cli {

std::vector<int32_t> parse_token_list(const std::string& text) {
  std::vector<int32_t> out;
  size_t at = 0;
  while (at <= text.size()) {
    size_t comma = text.find(',', at);
    if (comma == std::string::npos) comma = text.size();
    std::string item = text.substr(at, comma - at);
    while (!item.empty() && item.front() == ' ') item.erase(item.begin());
    while (!item.empty() && item.back() == ' ') item.pop_back();
    int64_t v = 0;
    auto [ptr, ec] = std::from_chars(item.data(), item.data() + item.size(), v);
    require(!item.empty() && ec == std::errc() && ptr == item.data() + item.size() && v >= 0 && v <= INT32_MAX,
            "--tokens: \"", item, "\" is not a token id (expected comma-separated non-negative integers)");
    out.push_back(static_cast<int32_t>(v));
    at = comma + 1;
  }
  require(!out.empty(), "--tokens: no token ids given");
  return out;
}

void append_json_float(std::string& out, float value) {
  if (!std::isfinite(value)) {  // JSON has no inf/nan; soft-capped logits never produce them
    out += value > 0 ? "1e38" : (value < 0 ? "-1e38" : "0");
    return;
  }
  char buf[32];
  int n = std::snprintf(buf, sizeof(buf), "%.9g", static_cast<double>(value));
  out.append(buf, static_cast<size_t>(n));
}

std::string bundled_default_model() {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (const char* env = std::getenv("FACET_DEFAULT_MODEL"); env && *env)
    return fs::exists(env, ec) ? std::string(env) : std::string();
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return "";
  for (const fs::path& root : {exe.parent_path().parent_path(), exe.parent_path()}) {
    const fs::path candidate = root / "models" / "default" / "facet-brown-8m-f16.gguf";
    if (fs::exists(candidate, ec)) return candidate.string();
  }
  return "";
}

}  // namespace facet::cli
