#pragma once
// Checks of the weights every rank holds: bit-identical replicas, finite values.
#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "interfaces/communicator.h"

namespace nsl {

// FNV-1a over the tensors' bytes: replicas must be bit-identical, not merely close.
uint64_t weights_fingerprint(const std::vector<torch::Tensor>& tensors);

// Throws DistributedError unless `net` (its parameters and buffers) and `centers` (may be
// undefined) are bit-identical on every rank. Two collectives.
void check_replicas(Communicator& comm, const std::vector<torch::Tensor>& net,
                    const torch::Tensor& centers);

// "PREFIX.name" of every parameter of `module` holding a non-finite value.
std::vector<std::string> non_finite_parameters(const torch::nn::Module& module,
                                               const std::string& prefix);

}  // namespace nsl
