// libFuzzer target: the dataset manifest reader (nsl::parse_manifest), the whole input being the
// JSON text of manifest.json. DataError is the expected outcome of a bad input. A manifest that
// parses must survive manifest_to_json -> manifest_from_json -> manifest_to_json unchanged.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "common/error.h"
#include "data/manifest.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  nsl::Manifest manifest;
  try {
    manifest = nsl::parse_manifest(text, "fuzz/manifest.json");
  } catch (const nsl::DataError& e) {
    if (nsl::fuzz::verbose()) std::fprintf(stderr, "error: %s\n", e.what());
    return 0;
  }
  if (nsl::fuzz::verbose()) std::fprintf(stderr, "ok: %zu splits\n", manifest.splits.size());
  const std::string once = nsl::manifest_to_json(manifest).dump();
  std::string twice;
  try {
    twice = nsl::manifest_to_json(nsl::manifest_from_json(nsl::manifest_to_json(manifest), "again"))
                .dump();
  } catch (const nsl::DataError& e) {
    std::fprintf(stderr, "fuzz_dataset_manifest: manifest_to_json output is rejected: %s\n%s\n",
                 e.what(), once.c_str());
    std::abort();
  }
  if (once != twice) {
    std::fprintf(stderr, "fuzz_dataset_manifest: round trip differs:\n%s\n%s\n", once.c_str(),
                 twice.c_str());
    std::abort();
  }
  return 0;
}
