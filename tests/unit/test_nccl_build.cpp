// The NCCL back end as built with -DNSL_WITH_NCCL=ON. Without a GPU (CI): the dtype mapping, the
// GPU choice, the back-end choice, and that dist.backend nccl fails with a clear DistributedError.
// With a GPU: one rank's collectives on CUDA tensors against hand-computed values.
#define BOOST_TEST_MODULE test_nccl_build
#include <cuda_runtime_api.h>
#include <nccl.h>

#include <boost/test/unit_test.hpp>
#include <cstdlib>
#include <optional>
#include <string>

#include "common/error.h"
#include "dist/make_communicator.h"
#include "dist/nccl_communicator.h"

namespace {

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// Sets (or unsets) an environment variable for a scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = std::string(old);
    if (value != nullptr) {
      setenv(name, value, 1);
    } else {
      unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      setenv(name_, old_->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

}  // namespace

BOOST_AUTO_TEST_CASE(dtype_mapping) {
  BOOST_TEST(nsl::nccl_data_type(torch::kFloat32) == static_cast<int>(ncclFloat32));
  BOOST_TEST(nsl::nccl_data_type(torch::kFloat64) == static_cast<int>(ncclFloat64));
  BOOST_TEST(nsl::nccl_data_type(torch::kFloat16) == static_cast<int>(ncclFloat16));
  BOOST_TEST(nsl::nccl_data_type(torch::kBFloat16) == static_cast<int>(ncclBfloat16));
  BOOST_TEST(nsl::nccl_data_type(torch::kInt64) == static_cast<int>(ncclInt64));
  BOOST_TEST(nsl::nccl_data_type(torch::kInt32) == static_cast<int>(ncclInt32));
  BOOST_TEST(nsl::nccl_data_type(torch::kInt8) == static_cast<int>(ncclInt8));
  BOOST_TEST(nsl::nccl_data_type(torch::kUInt8) == static_cast<int>(ncclUint8));
  BOOST_CHECK_EXCEPTION(nsl::nccl_data_type(torch::kBool), nsl::DistributedError,
                        [](const nsl::DistributedError& e) {
                          return contains(e.what(), "cannot reduce dtype Bool");
                        });
}

BOOST_AUTO_TEST_CASE(gpu_choice) {
  if (std::getenv("OMPI_COMM_WORLD_LOCAL_RANK") != nullptr) {
    BOOST_TEST_MESSAGE("started by Open MPI: the environment fixes the local rank; skipped");
    return;
  }
  {
    ScopedEnv slurm("SLURM_LOCALID", nullptr);
    BOOST_TEST(nsl::select_gpu(3, 8) == 3);
    BOOST_TEST(nsl::select_gpu(5, 4) == 1);  // more ranks than GPUs: wraps around
  }
  {
    ScopedEnv slurm("SLURM_LOCALID", "6");
    BOOST_TEST(nsl::select_gpu(0, 8) == 6);  // the launcher's local rank wins
    BOOST_TEST(nsl::select_gpu(0, 4) == 2);
  }
  {
    ScopedEnv slurm("SLURM_LOCALID", "x1");
    BOOST_TEST(nsl::select_gpu(1, 8) == 1);  // malformed: the fallback
  }
}

BOOST_AUTO_TEST_CASE(backend_names) {
  BOOST_CHECK_EXCEPTION(nsl::make_communicator("gloo"), nsl::ConfigError,
                        [](const nsl::ConfigError& e) {
                          return contains(e.what(), "dist.backend: unknown back end 'gloo'");
                        });
  if (nsl::launched_by_mpi()) return;
  // Without a launcher, mpi means the size-1 back end; auto never picks NCCL (no MPI job).
  BOOST_TEST(nsl::make_communicator("mpi")->comm().backend() == "local");
  BOOST_TEST(nsl::make_communicator("auto")->comm().backend() == "local");
}

// MPI can be initialised once per process: every NCCL communicator of this program is made here.
BOOST_AUTO_TEST_CASE(nccl_backend) {
  int runtime_count = -1;
  const cudaError_t rc = cudaGetDeviceCount(&runtime_count);
  (void)cudaGetLastError();
  std::string why;
  const int devices = nsl::visible_cuda_devices(&why);
  BOOST_TEST(devices == (rc == cudaSuccess ? runtime_count : 0));

  if (devices == 0) {
    BOOST_TEST_MESSAGE("no GPU visible (" << why << "): checking the error of dist.backend nccl");
    BOOST_CHECK_EXCEPTION(nsl::make_communicator("nccl"), nsl::DistributedError,
                          [](const nsl::DistributedError& e) {
                            BOOST_TEST_MESSAGE("message: " << e.what());
                            return contains(e.what(),
                                            "dist.backend nccl needs a CUDA GPU; none is visible "
                                            "(cudaGetDeviceCount: ") &&
                                   e.code() == nsl::kExitDistributed;
                          });
    return;
  }

  auto handle = nsl::make_communicator("nccl");
  nsl::Communicator& comm = handle->comm();
  BOOST_TEST(comm.backend() == "nccl");
  BOOST_TEST(comm.size() == 1);
  BOOST_TEST(comm.rank() == 0);
  const torch::Device dev = comm.device();
  BOOST_TEST(dev.is_cuda());
  BOOST_TEST(static_cast<int>(dev.index()) < devices);
  if (!torch::cuda::is_available()) {
    BOOST_TEST_MESSAGE("GPU visible but this LibTorch has no CUDA: only the start-up is checked");
    comm.barrier();
    return;
  }
  const auto on_gpu = [&](torch::ScalarType type) {
    return torch::TensorOptions().dtype(type).device(dev);
  };
  const int64_t seq = comm.next_sequence();

  // all_reduce over one rank: sum, max and min leave the values as they are.
  torch::Tensor f = torch::tensor({1.5F, -2.0F, 3.25F}, on_gpu(torch::kFloat32));
  comm.all_reduce(f, nsl::ReduceOp::kSum);
  BOOST_TEST(torch::equal(f.cpu(), torch::tensor({1.5F, -2.0F, 3.25F})));
  torch::Tensor i = torch::tensor({7, -3}, on_gpu(torch::kInt64));
  comm.all_reduce(i, nsl::ReduceOp::kMax);
  BOOST_TEST(torch::equal(i.cpu(), torch::tensor({7, -3}, torch::kInt64)));
  torch::Tensor h = torch::full({4}, 0.5, on_gpu(torch::kFloat16));
  comm.all_reduce(h, nsl::ReduceOp::kMin);
  BOOST_TEST(torch::equal(h.cpu().to(torch::kFloat32), torch::full({4}, 0.5F)));
  torch::Tensor b = torch::full({2}, 2.0, on_gpu(torch::kBFloat16));
  comm.all_reduce(b, nsl::ReduceOp::kSum);
  BOOST_TEST(torch::equal(b.cpu().to(torch::kFloat32), torch::full({2}, 2.0F)));
  BOOST_TEST(comm.next_sequence() == seq + 4);

  // Ordering against LibTorch's stream: the kernels queued just before must be seen, and the
  // result must be seen by the kernels queued just after.
  torch::Tensor big = torch::arange(1 << 22, on_gpu(torch::kFloat64));
  big.mul_(3.0).add_(1.0);  // 3 k + 1
  auto work = comm.all_reduce_async(big, nsl::ReduceOp::kSum);
  while (!work->test()) {
  }
  work->wait();
  const double expected_sum = 3.0 * (double(1 << 22) * double((1 << 22) - 1) / 2.0) + (1 << 22);
  BOOST_TEST(big.sum().item<double>() == expected_sum);

  // broadcast from rank 0.
  torch::Tensor u = torch::tensor({1, 2, 255}, on_gpu(torch::kUInt8));
  comm.broadcast(u, 0);
  BOOST_TEST(torch::equal(u.cpu(), torch::tensor({1, 2, 255}, torch::kUInt8)));
  BOOST_CHECK_THROW(comm.broadcast(u, 1), nsl::DistributedError);

  // all_gather_rows: the rows come back; zero rows and non-contiguous input are fine.
  torch::Tensor rows = torch::arange(12, on_gpu(torch::kFloat32)).reshape({4, 3}).mul_(2.0);
  torch::Tensor gathered = comm.all_gather_rows(rows);
  BOOST_TEST(gathered.device() == dev);
  BOOST_TEST(torch::equal(gathered.cpu(), torch::arange(12, torch::kFloat32).reshape({4, 3}) * 2));
  torch::Tensor none = comm.all_gather_rows(torch::zeros({0, 3}, on_gpu(torch::kInt32)));
  BOOST_TEST(none.size(0) == 0);
  BOOST_TEST(none.size(1) == 3);
  torch::Tensor t = comm.all_gather_rows(rows.t());
  BOOST_TEST(torch::equal(t.cpu(), rows.t().cpu()));

  // Tensors the back end cannot take.
  torch::Tensor cpu = torch::ones({2});
  BOOST_CHECK_EXCEPTION(comm.all_reduce(cpu, nsl::ReduceOp::kSum), nsl::DistributedError,
                        [](const nsl::DistributedError& e) {
                          return contains(e.what(), "NCCL all_reduce: the tensor is on cpu");
                        });
  torch::Tensor strided = torch::ones({4, 4}, on_gpu(torch::kFloat32)).t();
  BOOST_CHECK_THROW(comm.all_reduce(strided, nsl::ReduceOp::kSum), nsl::DistributedError);
  torch::Tensor flags = torch::ones({2}, on_gpu(torch::kBool));
  BOOST_CHECK_THROW(comm.all_reduce(flags, nsl::ReduceOp::kSum), nsl::DistributedError);

  comm.barrier();
}
