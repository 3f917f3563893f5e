#pragma once
// LibTorch intra-op threads per rank: the cores of the node shared among the ranks on it, so that
// ranks never oversubscribe the CPUs.
#include <cstdint>

namespace nsl {

int64_t threads_per_rank(int64_t configured, int local_ranks);
void apply_thread_settings(int64_t threads);

}  // namespace nsl
