// libFuzzer target: the safetensors header reader (nsl::parse_safetensors), the whole input being
// the file. DataError is the expected outcome of a bad input. Every entry it accepts must lie
// inside the input and hold exactly product(shape) * element_bytes bytes.
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "common/error.h"
#include "fuzz_support.h"
#include "model/safetensors_format.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<nsl::SafetensorsEntry> entries;
  try {
    entries = nsl::parse_safetensors(data, size, "fuzz.safetensors");
  } catch (const nsl::DataError& e) {
    if (nsl::fuzz::verbose()) std::fprintf(stderr, "error: %s\n", e.what());
    return 0;
  }
  if (nsl::fuzz::verbose()) std::fprintf(stderr, "ok: %zu tensors\n", entries.size());
  for (const auto& e : entries) {
    unsigned __int128 bytes = static_cast<unsigned __int128>(e.element_bytes);
    for (int64_t d : e.shape) bytes *= static_cast<unsigned __int128>(d);
    if (e.begin > e.end || e.end > size || bytes != e.end - e.begin ||
        (e.element_bytes != 2 && e.element_bytes != 4)) {
      std::fprintf(stderr, "fuzz_safetensors: entry '%s' [%llu, %llu) of %zu bytes is wrong\n",
                   e.name.c_str(), static_cast<unsigned long long>(e.begin),
                   static_cast<unsigned long long>(e.end), size);
      std::abort();
    }
    // Touch the tensor's bytes so that AddressSanitizer checks the range.
    volatile uint8_t sum = 0;
    for (uint64_t i = e.begin; i < e.end; ++i) sum = sum + data[i];
  }
  return 0;
}
