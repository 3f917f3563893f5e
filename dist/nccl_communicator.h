#pragma once
// Communicator over NCCL (CUDA tensors on this rank's GPU). Built only with -DNSL_WITH_NCCL=ON.
//
// An MpiCommunicator is the control plane: it gives rank and size, carries the NCCL unique id
// from rank 0 to everyone at start-up, and its Watchdog numbers every NCCL collective (one
// numbering shared with the control collectives), announces it to the peers and waits for it
// under the deadline. NCCL calls go to one non-blocking CUDA stream of this communicator; each
// first waits for the work already queued on the legacy default stream (where LibTorch runs its
// kernels) and, once waited for, makes that stream wait for the collective in turn. On a timeout
// or an asynchronous NCCL error the NCCL communicator is aborted before the DistributedError
// leaves, so no kernel keeps spinning on the GPU.
//
// This header needs neither cuda_runtime.h nor nccl.h. Not thread-safe: one thread at a time.
#include <torch/torch.h>

#include <memory>
#include <string>

#include "dist/mpi_communicator.h"
#include "interfaces/communicator.h"

namespace nsl {

// CUDA devices this process sees; 0 when there are none or the runtime reports an error, whose
// text (or "no CUDA device") then goes to `why` when given.
int visible_cuda_devices(std::string* why = nullptr);

// The ncclDataType_t (as its integer value) an all-reduce uses for `type`: float32, float64,
// float16, bfloat16, int64, int32, int8, uint8. Throws DistributedError for any other dtype.
int nccl_data_type(torch::ScalarType type);

// The GPU of a rank: its node-local rank from the launcher (OMPI_COMM_WORLD_LOCAL_RANK, else
// SLURM_LOCALID, else `fallback_local_rank`) modulo `device_count` (> 0).
int select_gpu(int fallback_local_rank, int device_count);

struct NcclState;

class NcclCommunicator : public Communicator {
 public:
  // Needs a live MpiSession. Collective over every rank of MPI_COMM_WORLD: throws
  // DistributedError on every rank when any rank sees no GPU or NCCL cannot start.
  NcclCommunicator();
  // Waits (at most timeout_s) for queued NCCL work, then destroys the NCCL communicator (aborts
  // it after a failure or when the work does not drain). Never throws.
  ~NcclCommunicator() override;
  NcclCommunicator(const NcclCommunicator&) = delete;
  NcclCommunicator& operator=(const NcclCommunicator&) = delete;
  // Aborts the NCCL communicator (no kernel of it keeps running), then the job.
  [[noreturn]] void abort(int exit_code) override;

  int rank() const override { return control_.rank(); }
  int size() const override { return control_.size(); }
  int local_rank() const override { return control_.local_rank(); }
  int local_size() const override { return control_.local_size(); }
  std::string backend() const override { return "nccl"; }
  torch::Device device() const override;
  int gpu() const { return gpu_; }

  // Tensors must be CUDA tensors on device(), contiguous (all_gather_rows accepts any layout).
  // Works returned by all_reduce_async must be destroyed before this communicator.
  void all_reduce(torch::Tensor& tensor, ReduceOp op) override;
  std::unique_ptr<CollectiveWork> all_reduce_async(torch::Tensor tensor, ReduceOp op) override;
  void broadcast(torch::Tensor& tensor, int root) override;
  torch::Tensor all_gather_rows(const torch::Tensor& tensor) override;
  void barrier() override;
  void set_timeout(double seconds) override { control_.set_timeout(seconds); }
  double timeout_s() const override { return control_.timeout_s(); }
  int64_t next_sequence() const override { return control_.next_sequence(); }

  // The MPI control plane (CPU tensors); its collectives share this communicator's numbering.
  MpiCommunicator& control() { return control_; }

 private:
  void check_tensor(const torch::Tensor& tensor, const char* op) const;

  MpiCommunicator control_;  // declared first: outlives the NCCL state that reports through it
  int gpu_ = 0;
  std::unique_ptr<NcclState> state_;
};

}  // namespace nsl
