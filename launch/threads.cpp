#include "launch/threads.h"

#include <torch/torch.h>

#include <algorithm>
#include <thread>

namespace nsl {

int64_t threads_per_rank(int64_t configured, int local_ranks) {
  if (configured > 0) return configured;
  const auto cores = static_cast<int64_t>(std::max(1u, std::thread::hardware_concurrency()));
  return std::max<int64_t>(1, cores / std::max(1, local_ranks));
}

void apply_thread_settings(int64_t threads) {
  torch::set_num_threads(static_cast<int>(threads));
  static bool interop_set = false;
  if (!interop_set) {
    at::set_num_interop_threads(1);
    interop_set = true;
  }
}

}  // namespace nsl
