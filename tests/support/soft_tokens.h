// Stand-in soft tokens for media prompts in engine tests: `count` rows of `width` values
// drawn N(0, 1) from a seeded generator (the embeddings' scale, without any tower).
#pragma once

#include <cstdint>
#include <random>
#include <vector>

namespace facet::test {

inline std::vector<float> random_soft_tokens(int64_t count, int64_t width, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> rows(static_cast<size_t>(count * width));
  for (float& v : rows) v = normal(rng);
  return rows;
}

}  // namespace facet::test
