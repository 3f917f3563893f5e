// libFuzzer target: the checkpoint manifest reader (nsl::CheckpointStore::verify). The input is
// written as manifest.json into a fixed checkpoint folder, step-000000000042, that also holds two
// small files with known bytes (model.bin, rng.bin), so that valid manifests can list them by
// size and FNV-1a 64 hash. DataError is the expected outcome of a bad manifest.
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "common/error.h"
#include "common/fnv.h"
#include "fuzz_support.h"
#include "train/checkpoint_store.h"

namespace {

// The fixed files of the checkpoint folder; the seed corpus's manifests record their hashes.
constexpr char kModelBytes[] = "nsl fuzz model weights\n";
constexpr char kRngBytes[] = "rng";

const std::filesystem::path& checkpoint_dir() {
  static const std::filesystem::path dir = [] {
    const auto d = nsl::fuzz::scratch_dir("checkpoint") / "step-000000000042";
    std::filesystem::create_directories(d);
    nsl::fuzz::write_file(d / "model.bin", kModelBytes, sizeof(kModelBytes) - 1);
    nsl::fuzz::write_file(d / "rng.bin", kRngBytes, sizeof(kRngBytes) - 1);
    return d;
  }();
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto& dir = checkpoint_dir();
  nsl::fuzz::write_file(dir / "manifest.json", reinterpret_cast<const char*>(data), size);
  try {
    const nsl::CheckpointEntry entry = nsl::CheckpointStore::verify(dir);
    if (entry.global_step != 42) {
      std::fprintf(stderr, "fuzz_checkpoint_manifest: verify accepted global step %lld in %s\n",
                   static_cast<long long>(entry.global_step), dir.c_str());
      std::abort();
    }
    if (nsl::fuzz::verbose()) std::fprintf(stderr, "ok: step %lld\n", (long long)entry.global_step);
  } catch (const nsl::DataError& e) {
    if (nsl::fuzz::verbose()) std::fprintf(stderr, "error: %s\n", e.what());
  }
  return 0;
}
