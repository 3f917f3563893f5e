#include "train/weights_check.h"

#include "common/error.h"
#include "common/fnv.h"
#include "interfaces/collectives.h"

namespace nsl {

uint64_t weights_fingerprint(const std::vector<torch::Tensor>& tensors) {
  uint64_t hash = kFnv1a64Offset;
  for (const auto& t : tensors) {
    const torch::Tensor c = t.detach().contiguous().cpu();
    hash = fnv1a64(c.data_ptr(), c.nbytes(), hash);
  }
  return hash;
}

void check_replicas(Communicator& comm, const std::vector<torch::Tensor>& net,
                    const torch::Tensor& centers) {
  const uint64_t net_hash = weights_fingerprint(net);
  const uint64_t center_hash = centers.defined() ? weights_fingerprint({centers}) : 0;
  // Each hash as two exact 32-bit halves: min == max over ranks iff every rank agrees.
  const std::vector<int64_t> halves = {
      static_cast<int64_t>(net_hash >> 32), static_cast<int64_t>(net_hash & 0xffffffffULL),
      static_cast<int64_t>(center_hash >> 32), static_cast<int64_t>(center_hash & 0xffffffffULL)};
  const std::vector<int64_t> lo = all_reduce_scalars(comm, halves, ReduceOp::kMin);
  const std::vector<int64_t> hi = all_reduce_scalars(comm, halves, ReduceOp::kMax);
  const bool net_same = lo[0] == hi[0] && lo[1] == hi[1];
  const bool centers_same = lo[2] == hi[2] && lo[3] == hi[3];
  if (!net_same || !centers_same) {
    throw DistributedError(std::string("replica check failed: ") +
                           (!centers_same ? "the class centers" : "the network weights") +
                           " differ between ranks (rank " + std::to_string(comm.rank()) +
                           "'s fingerprint differs from another rank's)");
  }
}

std::vector<std::string> non_finite_parameters(const torch::nn::Module& module,
                                               const std::string& prefix) {
  torch::NoGradGuard no_grad;
  std::vector<std::string> bad;
  for (const auto& item : module.named_parameters()) {
    if (!torch::isfinite(item.value()).all().item<bool>()) bad.push_back(prefix + item.key());
  }
  return bad;
}

}  // namespace nsl
