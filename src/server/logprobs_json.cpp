#include "server/logprobs_json.h"

#include "tokenizer/utf8.h"

namespace facet::server {
namespace {

const std::string& raw_text(const std::vector<std::string>& texts, int32_t id) {
  static const std::string kNone;
  return id >= 0 && static_cast<size_t>(id) < texts.size() ? texts[static_cast<size_t>(id)] : kNone;
}

std::string shown_text(const std::string& raw) {
  std::string out;
  utf8::append_lossy(out, raw, true);
  return out;
}

Json one_token(const std::vector<std::string>& texts, int32_t id, float logprob) {
  const std::string& raw = raw_text(texts, id);
  Json bytes = Json::array();
  for (unsigned char c : raw) bytes.push_back(static_cast<int>(c));
  return Json{{"token", shown_text(raw)}, {"logprob", logprob}, {"bytes", std::move(bytes)}};
}

}  // namespace

Json logprob_entries(const std::vector<TokenLogprob>& logprobs, const std::vector<std::string>& token_texts) {
  Json out = Json::array();
  for (const TokenLogprob& lp : logprobs) {
    Json entry = one_token(token_texts, lp.id, lp.logprob);
    Json top = Json::array();
    for (const auto& [id, value] : lp.top) top.push_back(one_token(token_texts, id, value));
    entry["top_logprobs"] = std::move(top);
    out.push_back(std::move(entry));
  }
  return out;
}

Json legacy_logprobs(const std::vector<TokenLogprob>& logprobs, const std::vector<std::string>& token_texts,
                     size_t& offset) {
  Json tokens = Json::array(), values = Json::array(), tops = Json::array(), offsets = Json::array();
  for (const TokenLogprob& lp : logprobs) {
    const std::string& raw = raw_text(token_texts, lp.id);
    tokens.push_back(shown_text(raw));
    values.push_back(lp.logprob);
    Json top = Json::object();
    for (const auto& [id, value] : lp.top) top[shown_text(raw_text(token_texts, id))] = value;
    tops.push_back(std::move(top));
    offsets.push_back(offset);
    offset += raw.size();
  }
  return Json{{"tokens", std::move(tokens)},
              {"token_logprobs", std::move(values)},
              {"top_logprobs", std::move(tops)},
              {"text_offset", std::move(offsets)}};
}

}  // namespace facet::server
