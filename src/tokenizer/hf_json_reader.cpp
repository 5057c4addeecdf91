#include "tokenizer/hf_json_reader.h"

#include "util/error.h"

namespace facet {
namespace {

using nlohmann::json;

class Handler : public nlohmann::json_sax<json> {
 public:
  explicit Handler(HfTokenizerJson& out) : out_(out) {}

  const std::string& error() const { return error_; }

  bool null() override { return value(json(nullptr)); }
  bool boolean(bool v) override { return value(json(v)); }
  bool number_integer(number_integer_t v) override { return value(json(v)); }
  bool number_unsigned(number_unsigned_t v) override { return value(json(v)); }
  bool number_float(number_float_t v, const string_t&) override { return value(json(v)); }
  bool binary(binary_t&) override { return reject("unexpected binary value"); }

  bool string(string_t& v) override {
    if (mode_ == Mode::kMerges && merge_depth_ == 0) {
      out_.merges.push_back(std::move(v));
      return true;
    }
    if (mode_ == Mode::kMerges && merge_depth_ == 1) {
      require_merge_part(v);
      std::string& merge = out_.merges.back();
      if (merge_parts_++ > 0) merge.push_back(' ');
      merge += v;
      return merge_parts_ <= 2 || reject("model.merges[", out_.merges.size() - 1, "] has more than two parts");
    }
    return value(json(std::move(v)));
  }

  bool key(string_t& k) override {
    if (mode_ == Mode::kVocab) {
      vocab_key_ = std::move(k);
      return true;
    }
    pending_key_ = std::move(k);
    return true;
  }

  bool start_object(std::size_t) override {
    if (mode_ == Mode::kNone && at_model_key("vocab")) {
      mode_ = Mode::kVocab;
      out_.has_vocab = true;
      return true;
    }
    if (mode_ != Mode::kNone) return reject("unexpected object inside model.", mode_name());
    return open(json::object());
  }

  bool end_object() override {
    if (mode_ == Mode::kVocab) {
      mode_ = Mode::kNone;
      return true;
    }
    stack_.pop_back();
    return true;
  }

  bool start_array(std::size_t) override {
    if (mode_ == Mode::kNone && at_model_key("merges")) {
      mode_ = Mode::kMerges;
      out_.has_merges = true;
      return true;
    }
    if (mode_ == Mode::kMerges && merge_depth_ == 0) {
      merge_depth_ = 1;
      merge_parts_ = 0;
      out_.merges.emplace_back();
      return true;
    }
    if (mode_ != Mode::kNone) return reject("unexpected array inside model.", mode_name());
    return open(json::array());
  }

  bool end_array() override {
    if (mode_ == Mode::kMerges && merge_depth_ == 1) {
      merge_depth_ = 0;
      return merge_parts_ == 2 || reject("model.merges[", out_.merges.size() - 1, "] must have two parts");
    }
    if (mode_ == Mode::kMerges) {
      mode_ = Mode::kNone;
      return true;
    }
    stack_.pop_back();
    return true;
  }

  bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception& e) override {
    if (error_.empty()) error_ = str_cat("not valid JSON at byte ", position, " (", e.what(), ")");
    return false;
  }

 private:
  enum class Mode { kNone, kVocab, kMerges };

  const char* mode_name() const { return mode_ == Mode::kVocab ? "vocab" : "merges"; }

  template <typename... Parts>
  bool reject(Parts&&... parts) {
    if (error_.empty()) error_ = str_cat(std::forward<Parts>(parts)...);
    return false;
  }

  // A merge written as two strings cannot hold a space in either, or "a b" would be ambiguous.
  void require_merge_part(const std::string& part) {
    if (part.find(' ') != std::string::npos)
      reject("model.merges[", out_.merges.size() - 1, "] has a piece containing a space");
  }

  // Whether the value about to start is the member `name` of the top-level "model" object.
  bool at_model_key(const char* name) const {
    return stack_.size() == 2 && stack_[1]->is_object() && model_is_open_ && pending_key_ == name;
  }

  bool value(json v) {
    if (mode_ == Mode::kVocab) {
      if (!v.is_number_integer()) return reject("model.vocab[\"", vocab_key_, "\"] must be an integer id");
      out_.vocab.emplace_back(std::move(vocab_key_), v.get<int64_t>());
      return true;
    }
    if (mode_ == Mode::kMerges) return reject("model.merges entries must be strings or pairs of strings");
    place(std::move(v));
    return true;
  }

  json* place(json v) {
    if (stack_.empty()) {
      out_.rest = std::move(v);
      return &out_.rest;
    }
    json& parent = *stack_.back();
    if (parent.is_object()) return &(parent[pending_key_] = std::move(v));
    parent.push_back(std::move(v));
    return &parent.back();
  }

  bool open(json container) {
    bool opening_model = stack_.size() == 1 && pending_key_ == "model";
    stack_.push_back(place(std::move(container)));
    if (opening_model) model_is_open_ = true;
    else if (stack_.size() == 2) model_is_open_ = false;
    return true;
  }

  HfTokenizerJson& out_;
  std::vector<json*> stack_;  // open containers; children are placed into the back one
  std::string pending_key_;
  std::string vocab_key_;
  std::string error_;
  Mode mode_ = Mode::kNone;
  int merge_depth_ = 0;
  int merge_parts_ = 0;
  bool model_is_open_ = false;  // stack_[1] is the top-level "model" object
};

}  // namespace

HfTokenizerJson parse_hf_tokenizer_json(const std::string& text, const std::string& path) {
  HfTokenizerJson out;
  Handler handler(out);
  bool ok = json::sax_parse(text, &handler);
  if (!ok) fail(path, ": ", handler.error().empty() ? std::string("not valid JSON") : handler.error());
  return out;
}

}  // namespace facet
