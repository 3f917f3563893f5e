#pragma once
// The collectives the trainer needs, on CPU or CUDA tensors. dist/ implements it over MPI, NCCL or
// a single process; nothing under src/ knows which.
//
// Every collective gets the next sequence number of this communicator (the same on every rank when
// the ranks call the same collectives in the same order). A collective that does not complete
// within timeout_s() raises DistributedError naming the operation, its sequence number and the
// ranks that never arrived at it, so a job never hangs silently.
#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>

namespace nsl {

enum class ReduceOp { kSum, kMax, kMin };

// A collective in flight. Its tensor must stay alive and untouched until wait() returns.
class CollectiveWork {
 public:
  virtual ~CollectiveWork() = default;
  // Makes progress; true once the collective has completed on this rank.
  virtual bool test() = 0;
  // Blocks until it completes; throws DistributedError when the watchdog's timeout passes.
  virtual void wait() = 0;
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // Ranks on this node and this rank's place among them (threads and GPUs are shared per node).
  virtual int local_rank() const = 0;
  virtual int local_size() const = 0;
  virtual std::string backend() const = 0;
  // Where the tensors given to the collectives must live (CPU for MPI, this rank's GPU for NCCL).
  virtual torch::Device device() const { return torch::kCPU; }

  // In place; the tensor must be contiguous.
  virtual void all_reduce(torch::Tensor& tensor, ReduceOp op) = 0;
  // Starts an in-place all-reduce and returns at once (gradient buckets overlap with backward).
  // Collectives started this way take their sequence number at the call, like blocking ones.
  virtual std::unique_ptr<CollectiveWork> all_reduce_async(torch::Tensor tensor, ReduceOp op) = 0;
  virtual void broadcast(torch::Tensor& tensor, int root) = 0;
  // Concatenates every rank's tensor along dim 0 in rank order; row counts may differ per rank.
  virtual torch::Tensor all_gather_rows(const torch::Tensor& tensor) = 0;
  virtual void barrier() = 0;
  // Ends every rank of the job; never returns.
  [[noreturn]] virtual void abort(int exit_code) = 0;

  // Watchdog: seconds a collective may take before the job is ended (default 600).
  virtual void set_timeout(double seconds) = 0;
  virtual double timeout_s() const = 0;
  // Sequence number the next collective will get (collectives are numbered from 1).
  virtual int64_t next_sequence() const = 0;

  bool is_root() const { return rank() == 0; }
};

}  // namespace nsl
