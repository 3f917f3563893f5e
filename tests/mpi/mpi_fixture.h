#pragma once
// Global fixture for MPI test programs: one MPI session and communicator for all test cases.
#include <torch/torch.h>

#include <memory>

#include "dist/mpi_communicator.h"

namespace nsl::test {

struct MpiFixture {
  MpiFixture() {
    torch::set_num_threads(1);
    session = std::make_unique<MpiSession>();
    comm = std::make_unique<MpiCommunicator>();
    instance = this;
  }
  ~MpiFixture() {
    comm.reset();
    session.reset();
  }
  std::unique_ptr<MpiSession> session;
  std::unique_ptr<MpiCommunicator> comm;
  static inline MpiFixture* instance = nullptr;
};

inline MpiCommunicator& world() { return *MpiFixture::instance->comm; }

}  // namespace nsl::test
