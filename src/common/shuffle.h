#pragma once
// A seeded Fisher-Yates permutation with unbiased draws, written out so that results never depend
// on the standard library's std::shuffle or distribution implementations.
#include <cstdint>
#include <random>
#include <vector>

namespace nsl {

// Uniform integer in [0, bound) without modulo bias, from the engine's raw bits only.
inline uint64_t uniform_below(std::mt19937_64& engine, uint64_t bound) {
  const uint64_t limit = UINT64_MAX - UINT64_MAX % bound;  // accept x < limit
  uint64_t x = engine();
  while (x >= limit) x = engine();
  return x % bound;
}

inline std::vector<int64_t> seeded_permutation(int64_t n, uint64_t seed) {
  std::vector<int64_t> perm(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) perm[static_cast<size_t>(i)] = i;
  std::mt19937_64 engine(seed);
  for (int64_t i = n - 1; i > 0; --i) {
    const auto j = static_cast<int64_t>(uniform_below(engine, static_cast<uint64_t>(i + 1)));
    std::swap(perm[static_cast<size_t>(i)], perm[static_cast<size_t>(j)]);
  }
  return perm;
}

}  // namespace nsl
