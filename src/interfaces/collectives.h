#pragma once
// Collectives on host values, written once: a value goes into a tensor on the communicator's
// device, through the collective, and comes back. Every rank must call them in the same order,
// like the Communicator's own collectives (each is exactly one collective).
#include <torch/torch.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <type_traits>
#include <vector>

#include "interfaces/communicator.h"

namespace nsl {

// Element-wise reduction of every rank's values (the same count on every rank).
std::vector<double> all_reduce_scalars(Communicator& comm, const std::vector<double>& values,
                                       ReduceOp op);
std::vector<int64_t> all_reduce_scalars(Communicator& comm, const std::vector<int64_t>& values,
                                        ReduceOp op);
int64_t all_reduce_value(Communicator& comm, int64_t value, ReduceOp op);

// all_reduce_scalars started now and read later (the training step's scalars overlap backward).
class ScalarsInFlight {
 public:
  ScalarsInFlight(Communicator& comm, const std::vector<double>& values, ReduceOp op);
  // Blocks until the reduction is done; call once.
  std::vector<double> wait();

 private:
  torch::Tensor tensor_;
  std::unique_ptr<CollectiveWork> work_;
};

// Root's bytes into `data` on every rank.
void broadcast_bytes(Communicator& comm, void* data, size_t size, int root);

// Root's value on every rank. T is copied as bytes, so its fields keep their names on both sides
// (a struct of progress counters, a flag) without packing them into slots of a tensor.
template <class T>
T broadcast_value(Communicator& comm, T value, int root = 0) {
  static_assert(std::is_trivially_copyable_v<T>, "broadcast_value copies T's bytes");
  broadcast_bytes(comm, &value, sizeof(T), root);
  return value;
}

// Root's tensor (any device) into `tensor` on every rank, through the communicator's device; the
// tensor keeps its device, dtype and shape (which must agree on every rank).
void broadcast_tensor(Communicator& comm, torch::Tensor& tensor, int root = 0);

// Sum over the ranks of each rank's `local` [k] (float64), added in rank order: the same bits on
// every rank and for any reduction algorithm. Without a communicator (or a world of one) it is
// `local`.
torch::Tensor sum_in_rank_order(Communicator* comm, const torch::Tensor& local);

}  // namespace nsl
