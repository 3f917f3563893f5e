#pragma once
// FNV-1a 64-bit: the one byte hash of the project (file checksums, config hashes, replica checks).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

namespace nsl {

inline constexpr uint64_t kFnv1a64Offset = 0xcbf29ce484222325ULL;
inline constexpr uint64_t kFnv1a64Prime = 0x100000001b3ULL;

// Continues an FNV-1a 64-bit hash over `size` bytes.
inline uint64_t fnv1a64(const void* data, size_t size, uint64_t hash = kFnv1a64Offset) {
  const auto* bytes = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < size; ++i) {
    hash ^= bytes[i];
    hash *= kFnv1a64Prime;
  }
  return hash;
}

// 16 lowercase hex digits of `value`.
inline std::string hex64(uint64_t value) {
  char buffer[17];
  std::snprintf(buffer, sizeof(buffer), "%016llx", static_cast<unsigned long long>(value));
  return buffer;
}

}  // namespace nsl
