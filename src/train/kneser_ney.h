// An interpolated, modified Kneser-Ney n-gram model over token ids (Chen & Goodman, "An
// empirical study of smoothing techniques for language modeling", 1998): the baseline a
// trained model is compared with (`facet ngram-baseline`).
//
//   p_n(w | h) = max(c_n(h w) - D_n(c), 0) / c_n(h·) + γ_n(h) p_{n-1}(w | h')
//   γ_n(h)     = (D_n1 N1(h·) + D_n2 N2(h·) + D_n3+ N3+(h·)) / c_n(h·)
//   p_0(w)     = 1 / vocab_size
// with h' the history without its oldest token, c_N the raw counts at the highest order,
// and for lower orders the continuation count (how many distinct tokens precede the
// n-gram), except for n-grams that start with <bos>, which only ever occur at a sequence's
// start and keep their raw counts (as SRILM does for <s>). The three discounts per order
// come from that order's count-of-counts: Y = n1 / (n1 + 2 n2), D1 = 1 - 2Y n2/n1,
// D2 = 2 - 3Y n3/n2, D3+ = 3 - 4Y n4/n3. A history never seen falls through to the next
// lower order.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace facet::train {

class KneserNeyModel {
 public:
  KneserNeyModel(int order, int vocab_size, int32_t bos_id);

  // Counts the n-grams of one training sequence (it should start with <bos>).
  void add(const std::vector<int32_t>& ids);
  // Computes the discounts and history statistics; call once after the last add().
  void finish();

  // ln p(ids[pos] | ids[max(0, pos - order + 1) .. pos - 1]).
  double log_prob(const std::vector<int32_t>& ids, size_t pos) const;
  // Sum of -ln p over every token of `ids` but the first (the history restarts at ids[0]).
  double negative_log_likelihood(const std::vector<int32_t>& ids) const;

  int order() const { return order_; }
  int64_t ngram_types() const;  // distinct n-grams of all orders

 private:
  struct History {
    double total = 0;            // sum of the counts of h·
    double n1 = 0, n2 = 0, n3 = 0;  // how many w have count 1, 2, >= 3 after h
  };
  static std::string key(const int32_t* ids, size_t n);
  double count_of(int n, const std::string& gram) const;

  int order_;
  int vocab_size_;
  int32_t bos_;
  bool finished_ = false;
  // Per order n (index n - 1): raw counts of every n-gram seen.
  std::vector<std::unordered_map<std::string, double>> raw_;
  // Per order n < order: the counts KN uses (continuation or raw for <bos> n-grams).
  std::vector<std::unordered_map<std::string, double>> kn_;
  std::vector<std::unordered_map<std::string, History>> history_;  // per order, by history key
  std::vector<double> d1_, d2_, d3_;
};

}  // namespace facet::train
