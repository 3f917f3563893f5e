#pragma once
// The collectives the trainer needs, on CPU or CUDA tensors. dist/ implements it over MPI, NCCL or
// a single process; nothing under src/ knows which.
#include <torch/torch.h>

#include <string>

namespace nsl {

enum class ReduceOp { kSum, kMax, kMin };

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // Ranks on this node and this rank's place among them (threads and GPUs are shared per node).
  virtual int local_rank() const = 0;
  virtual int local_size() const = 0;
  virtual std::string backend() const = 0;

  // In place; the tensor must be contiguous.
  virtual void all_reduce(torch::Tensor& tensor, ReduceOp op) = 0;
  virtual void broadcast(torch::Tensor& tensor, int root) = 0;
  // Concatenates every rank's tensor along dim 0 in rank order; row counts may differ per rank.
  virtual torch::Tensor all_gather_rows(const torch::Tensor& tensor) = 0;
  virtual void barrier() = 0;
  // Ends every rank of the job; never returns.
  [[noreturn]] virtual void abort(int exit_code) = 0;

  bool is_root() const { return rank() == 0; }
};

}  // namespace nsl
