#pragma once
// Counter-based seeding: every random stream is keyed by a tuple such as (seed, epoch, shard), so a
// stream never depends on how many draws happened before it or on the number of ranks.
#include <cstdint>
#include <initializer_list>

namespace nsl {

inline uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

// Mixes a list of integers into one 64-bit seed; different tuples give unrelated seeds.
inline uint64_t derive_seed(std::initializer_list<uint64_t> keys) {
  uint64_t h = 0x6A09E667F3BCC908ULL;
  for (uint64_t k : keys) h = splitmix64(h ^ splitmix64(k));
  return h;
}

}  // namespace nsl
