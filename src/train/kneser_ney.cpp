#include "train/kneser_ney.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "util/error.h"

namespace facet::train {

KneserNeyModel::KneserNeyModel(int order, int vocab_size, int32_t bos_id)
    : order_(order), vocab_size_(vocab_size), bos_(bos_id), raw_(static_cast<size_t>(order)),
      kn_(static_cast<size_t>(order)), history_(static_cast<size_t>(order)), d1_(static_cast<size_t>(order)),
      d2_(static_cast<size_t>(order)), d3_(static_cast<size_t>(order)) {
  require(order >= 1 && order <= 9, "the n-gram order must be 1..9");
  require(vocab_size >= 1, "the vocabulary is empty");
}

std::string KneserNeyModel::key(const int32_t* ids, size_t n) {
  return std::string(reinterpret_cast<const char*>(ids), n * sizeof(int32_t));
}

void KneserNeyModel::add(const std::vector<int32_t>& ids) {
  require(!finished_, "internal: add() after finish()");
  // Every n-gram ending at a target position (the first token is context only).
  for (size_t end = 1; end < ids.size(); ++end)
    for (int n = 1; n <= order_ && static_cast<size_t>(n) <= end + 1; ++n)
      raw_[static_cast<size_t>(n - 1)][key(&ids[end + 1 - static_cast<size_t>(n)], static_cast<size_t>(n))] += 1;
}

void KneserNeyModel::finish() {
  require(!finished_, "internal: finish() twice");
  finished_ = true;
  // Lower orders: continuation counts from the distinct left extensions one order up;
  // <bos> n-grams (only ever at a sequence start, with no left extension) keep raw counts.
  for (int n = 1; n < order_; ++n) {
    auto& kn = kn_[static_cast<size_t>(n - 1)];
    for (const auto& [gram, count] : raw_[static_cast<size_t>(n)]) kn[gram.substr(sizeof(int32_t))] += 1;
    for (const auto& [gram, count] : raw_[static_cast<size_t>(n - 1)]) {
      int32_t first;
      std::memcpy(&first, gram.data(), sizeof first);
      if (first == bos_) kn[gram] = count;
    }
  }
  for (int n = 1; n <= order_; ++n) {
    const auto& counts = n == order_ ? raw_[static_cast<size_t>(n - 1)] : kn_[static_cast<size_t>(n - 1)];
    double cc[5] = {0, 0, 0, 0, 0};  // count-of-counts 1..4
    auto& hist = history_[static_cast<size_t>(n - 1)];
    for (const auto& [gram, count] : counts) {
      if (count >= 1 && count <= 4) cc[static_cast<int>(count)] += 1;
      History& h = hist[gram.substr(0, gram.size() - sizeof(int32_t))];
      h.total += count;
      if (count == 1) h.n1 += 1;
      else if (count == 2) h.n2 += 1;
      else h.n3 += 1;
    }
    // Discounts (Chen & Goodman eq. 26); fall back to 0.5/1/1.5 where a count-of-count is 0.
    const size_t i = static_cast<size_t>(n - 1);
    if (cc[1] > 0 && cc[2] > 0 && cc[3] > 0 && cc[4] > 0) {
      const double y = cc[1] / (cc[1] + 2 * cc[2]);
      d1_[i] = std::clamp(1 - 2 * y * cc[2] / cc[1], 0.0, 1.0);
      d2_[i] = std::clamp(2 - 3 * y * cc[3] / cc[2], 0.0, 2.0);
      d3_[i] = std::clamp(3 - 4 * y * cc[4] / cc[3], 0.0, 3.0);
    } else {
      d1_[i] = 0.5, d2_[i] = 1.0, d3_[i] = 1.5;
    }
  }
}

double KneserNeyModel::count_of(int n, const std::string& gram) const {
  const auto& counts = n == order_ ? raw_[static_cast<size_t>(n - 1)] : kn_[static_cast<size_t>(n - 1)];
  auto it = counts.find(gram);
  return it == counts.end() ? 0.0 : it->second;
}

double KneserNeyModel::log_prob(const std::vector<int32_t>& ids, size_t pos) const {
  require(finished_, "internal: log_prob() before finish()");
  const int longest = static_cast<int>(std::min<size_t>(static_cast<size_t>(order_), pos + 1));
  // From the unigram up: p_n = discounted_n + γ_n p_{n-1}.
  double p = 1.0 / static_cast<double>(vocab_size_);
  for (int n = 1; n <= longest; ++n) {
    const size_t first = pos + 1 - static_cast<size_t>(n);
    const std::string gram = key(&ids[first], static_cast<size_t>(n));
    const auto& hist = history_[static_cast<size_t>(n - 1)];
    auto h = hist.find(gram.substr(0, gram.size() - sizeof(int32_t)));
    if (h == hist.end() || h->second.total <= 0) continue;  // unseen history: keep the lower order
    const size_t i = static_cast<size_t>(n - 1);
    const double c = count_of(n, gram);
    const double d = c <= 0 ? 0 : c == 1 ? d1_[i] : c == 2 ? d2_[i] : d3_[i];
    const History& s = h->second;
    const double gamma = (d1_[i] * s.n1 + d2_[i] * s.n2 + d3_[i] * s.n3) / s.total;
    p = std::max(c - d, 0.0) / s.total + gamma * p;
  }
  return std::log(p);
}

double KneserNeyModel::negative_log_likelihood(const std::vector<int32_t>& ids) const {
  double nll = 0;
  for (size_t pos = 1; pos < ids.size(); ++pos) nll -= log_prob(ids, pos);
  return nll;
}

int64_t KneserNeyModel::ngram_types() const {
  int64_t n = 0;
  for (const auto& m : raw_) n += static_cast<int64_t>(m.size());
  return n;
}

}  // namespace facet::train
