#pragma once
// Communicator over MPI (CPU tensors). MpiSession owns MPI_Init/MPI_Finalize; MpiCommunicator owns
// a duplicate of MPI_COMM_WORLD so the library's traffic never mixes with anyone else's, and a
// Watchdog (its own duplicate) that numbers the collectives and ends a stalled job. Every
// collective is a non-blocking MPI call waited on under the watchdog's deadline.
#include <memory>
#include <string>

#include "interfaces/communicator.h"

namespace nsl {
class Watchdog;
}

namespace nsl {

class MpiSession {
 public:
  MpiSession();
  ~MpiSession();
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;
  static std::string library_version();
};

class MpiCommunicator : public Communicator {
 public:
  MpiCommunicator();
  ~MpiCommunicator() override;
  MpiCommunicator(const MpiCommunicator&) = delete;
  MpiCommunicator& operator=(const MpiCommunicator&) = delete;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int local_rank() const override { return local_rank_; }
  int local_size() const override { return local_size_; }
  std::string backend() const override { return "mpi"; }
  void all_reduce(torch::Tensor& tensor, ReduceOp op) override;
  std::unique_ptr<CollectiveWork> all_reduce_async(torch::Tensor tensor, ReduceOp op) override;
  void broadcast(torch::Tensor& tensor, int root) override;
  torch::Tensor all_gather_rows(const torch::Tensor& tensor) override;
  void barrier() override;
  [[noreturn]] void abort(int exit_code) override;
  void set_timeout(double seconds) override;
  double timeout_s() const override;
  int64_t next_sequence() const override;
  // The numbering and deadline of this communicator's collectives (the NCCL back end uses the MPI
  // communicator as its control plane and numbers its own collectives here too).
  Watchdog& watchdog() { return *watchdog_; }

 private:
  struct Handles;
  std::unique_ptr<Handles> handles_;
  std::unique_ptr<Watchdog> watchdog_;
  int rank_ = 0, size_ = 1, local_rank_ = 0, local_size_ = 1;
};

}  // namespace nsl
