// nsl_dist info: versions, build options, threads per rank and the measured matrix-product rate.
#include <torch/torch.h>
#include <torch/version.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "common/fixed_split.h"
#include "data/dataset_info.h"
#include "dist/make_communicator.h"
#include "launch/commands.h"
#include "launch/threads.h"
#include "nsl/build_config.h"

namespace nsl {
namespace {

constexpr double kLowGflops = 20.0;

// Best of a few float32 n x n matrix products, in GFLOP/s (2 n^3 flops each).
double measure_gemm_gflops(int64_t n) {
  torch::NoGradGuard no_grad;
  torch::manual_seed(0);
  const auto a = torch::randn({n, n});
  const auto b = torch::randn({n, n});
  auto c = torch::matmul(a, b);  // warm-up
  double best = 1e30;
  for (int rep = 0; rep < 3; ++rep) {
    const auto start = std::chrono::steady_clock::now();
    c = torch::matmul(a, b);
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    best = std::min(best, s);
  }
  return 2.0 * static_cast<double>(n) * static_cast<double>(n) * static_cast<double>(n) / best /
         1e9;
}

std::string blas_line() {
  const std::string config = at::show_config();
  const auto pos = config.find("BLAS_INFO=");
  if (pos == std::string::npos) return "unknown";
  const auto end = config.find_first_of(",\n", pos);
  return config.substr(pos + 10, end - pos - 10);
}

// Whether the evaluation's fixed-tile products (common/fixed_split.h) give the same bits with one
// thread and with `threads`: they do when the BLAS is single-threaded inside LibTorch's OpenMP
// regions (an OpenMP BLAS on LibTorch's OpenMP runtime).
bool fixed_products_thread_independent(int64_t threads) {
  torch::manual_seed(0);
  const auto a = torch::randn({277, 512});
  const auto b = torch::randn({3000, 512});
  torch::set_num_threads(1);
  const auto one = matmul_nt_fixed(a, b);
  torch::set_num_threads(static_cast<int>(threads));
  return torch::equal(one, matmul_nt_fixed(a, b));
}

int local_ranks_from_env() {
  for (const char* var :
       {"OMPI_COMM_WORLD_LOCAL_SIZE", "SLURM_NTASKS_PER_NODE", "MPI_LOCALNRANKS"}) {
    if (const char* v = std::getenv(var)) return std::max(1, std::atoi(v));
  }
  return 1;
}

}  // namespace

void add_info_command(CLI::App& app, InfoArgs& args) {
  CLI::App* cmd = app.add_subcommand("info", "versions, build options and a BLAS speed check");
  cmd->add_option("--gemm-size", args.gemm_size, "matrix size of the speed check")
      ->capture_default_str();
}

int run_info(const InfoArgs& args) {
  const int local_ranks = local_ranks_from_env();
  const int64_t threads = threads_per_rank(0, local_ranks);
  apply_thread_settings(threads);
#ifdef NSL_HAVE_NCCL
  const char* nccl = "built (NSL_WITH_NCCL)";
#else
  const char* nccl = "not built (configure with -DNSL_WITH_NCCL=ON)";
#endif
  std::printf("nsl_dist        %s\n", NSL_VERSION);
  std::printf("LibTorch        %s (CUDA %s)\n", TORCH_VERSION,
              torch::cuda::is_available() ? "available" : "not available");
  std::printf("BLAS            %s\n", blas_line().c_str());
  std::printf("MPI             %s\n", mpi_library_version().c_str());
  std::printf("HDF5            %s\n", hdf5_version_string().c_str());
  std::printf("NCCL back end   %s\n", nccl);
  std::printf("threads/rank    %lld (%d local rank(s); set train.threads_per_rank to change)\n",
              static_cast<long long>(threads), local_ranks);
  const double gflops = measure_gemm_gflops(args.gemm_size);
  std::printf("matmul %lldx%lld  %.1f GFLOP/s with %lld thread(s)\n",
              static_cast<long long>(args.gemm_size), static_cast<long long>(args.gemm_size),
              gflops, static_cast<long long>(threads));
  if (gflops < kLowGflops) {
    std::printf(
        "WARNING: matrix products run at %.1f GFLOP/s, below %.0f: LibTorch is probably using "
        "the reference BLAS. Install an optimised one: apt-get install libopenblas0-openmp\n",
        gflops, kLowGflops);
  }
  if (threads > 1) {
    const bool same = fixed_products_thread_independent(threads);
    std::printf("evaluation      %s\n",
                same ? "thread-independent (fixed-tile products: same bits with 1 and N threads)"
                     : "NOT thread-independent on this installation");
    if (!same) {
      std::printf(
          "WARNING: with this BLAS the evaluation's numbers depend on train.threads_per_rank: its "
          "products are not single-threaded inside LibTorch's OpenMP regions. Use an OpenMP BLAS "
          "on LibTorch's OpenMP runtime (Debian: libopenblas0-openmp), or evaluate with "
          "--set train.threads_per_rank=1\n");
    }
  }
  return 0;
}

}  // namespace nsl
