// First-fit packing of SFT examples (see packing.h for why this strategy).
#include "train/packing.h"

#include <algorithm>
#include <random>
#include <sstream>

#include "util/error.h"

namespace facet::train {
namespace {

// Free room of every possible sequence (n examples need at most n sequences; the unused
// ones have all max_seq_len tokens free) in a max-tree, so "the first sequence with room
// for k tokens" is one descent instead of a scan over all open sequences: first-fit in
// O(n log n), which matters for datasets of 10^5 short rows.
class FreeRoomTree {
 public:
  FreeRoomTree(size_t n, int64_t capacity) : leaves_(1) {
    while (leaves_ < n) leaves_ *= 2;
    room_.assign(2 * leaves_, 0);
    for (size_t i = 0; i < n; ++i) room_[leaves_ + i] = capacity;
    for (size_t i = leaves_ - 1; i >= 1; --i) room_[i] = std::max(room_[2 * i], room_[2 * i + 1]);
  }

  // Index of the first sequence with at least `tokens` free; takes them.
  size_t take_first_fit(int64_t tokens) {
    size_t node = 1;
    while (node < leaves_) node = room_[2 * node] >= tokens ? 2 * node : 2 * node + 1;
    room_[node] -= tokens;
    for (size_t i = node / 2; i >= 1; i /= 2) room_[i] = std::max(room_[2 * i], room_[2 * i + 1]);
    return node - leaves_;
  }

 private:
  size_t leaves_;
  std::vector<int64_t> room_;  // 1-based heap layout: node i has children 2i and 2i+1
};

}  // namespace

std::string PackReport::summary() const {
  std::ostringstream out;
  const double full = sequences > 0 && capacity > 0
                          ? 100.0 * static_cast<double>(tokens) / static_cast<double>(sequences * capacity)
                          : 0.0;
  out << "packed " << examples << (examples == 1 ? " example" : " examples") << " into " << sequences
      << (sequences == 1 ? " sequence" : " sequences") << " of at most " << capacity
      << " tokens (" << static_cast<int>(full + 0.5) << "% full)";
  return out.str();
}

std::vector<SftExample> pack_sft_examples(std::vector<SftExample> examples, int64_t max_seq_len, uint64_t seed,
                                          PackReport* report) {
  require(max_seq_len >= 1, "--max-seq-len must be at least 1 to pack");
  for (const SftExample& ex : examples) {
    require(ex.segments.empty(), "line ", ex.line, ": the example is already packed");
    require(!ex.tokens.empty() && ex.trained.size() == ex.tokens.size(), "line ", ex.line, ": empty example");
    require(static_cast<int64_t>(ex.tokens.size()) <= max_seq_len, "line ", ex.line, ": the example has ",
            ex.tokens.size(), " tokens, over the packing length ", max_seq_len);
  }
  std::vector<size_t> order(examples.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::mt19937_64 rng(seed ^ 0x9ac4ed5eedull);  // its own stream: not the epoch or eval-split shuffle
  std::shuffle(order.begin(), order.end(), rng);

  std::vector<SftExample> packed;
  FreeRoomTree tree(std::max<size_t>(1, examples.size()), max_seq_len);
  int64_t tokens = 0;
  for (size_t i : order) {
    SftExample& ex = examples[i];
    const int64_t length = static_cast<int64_t>(ex.tokens.size());
    const size_t slot = tree.take_first_fit(length);
    if (slot == packed.size()) {
      packed.emplace_back();
      packed.back().line = ex.line;
    }
    SftExample& seq = packed[slot];
    seq.tokens.insert(seq.tokens.end(), ex.tokens.begin(), ex.tokens.end());
    seq.trained.insert(seq.trained.end(), ex.trained.begin(), ex.trained.end());
    seq.segments.push_back(length);
    tokens += length;
  }
  if (report) {
    report->examples = static_cast<int64_t>(examples.size());
    report->sequences = static_cast<int64_t>(packed.size());
    report->tokens = tokens;
    report->capacity = max_seq_len;
  }
  return packed;
}

}  // namespace facet::train
