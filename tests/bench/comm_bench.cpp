// The project's bucketed gradient all-reduce (GradientReducer over MpiCommunicator) next to one raw
// blocking MPI_Allreduce of the same bytes, measured in the same run. Prints a table; asserts
// nothing. Every rank takes part, rank 0 prints.
//   mpirun --allow-run-as-root --bind-to none -np 2 build/comm_bench
//          [--min-size BYTES] [--max-size BYTES] [--reps N] [--nonblocking-raw] [--breakdown]
// (BYTES may end in K, M or G: KiB, MiB, GiB; sizes are 4 KiB, 16 KiB, ... 256 MiB, x4 apart.)
//
// Project: float32 parameters totalling SIZE bytes, split into 8 equal leaf tensors, under a
// GradientReducer with the default 25 MiB buckets and no dedicated parameters. A step is what the
// trainer does: grads zeroed in place (untimed), begin_step(), backward of sum_p (p * c).sum() (c a
// per-rank scalar), finish_step(). The same backward without the reducer (outside begin_step the
// reducer's hooks return at once) is timed separately in the same repetition. The project's time
// is median(step) - median(backward): what the reducer adds to a backward, i.e. the all-reduces
// (started during backward, waited in finish_step, under the watchdog's MPI_Test polling) in place
// on the buckets, which the parameters' .grad are views of (no copies); overlap with backward
// lowers it, as it would in training. Both medians are printed too (bwd us, step us).
// Raw: MPI_Allreduce(MPI_IN_PLACE, SIZE bytes of float32, MPI_SUM, MPI_COMM_WORLD), blocking.
// With --nonblocking-raw also MPI_Iallreduce + MPI_Wait on the same buffer (what the project's
// MPI back end calls; OpenMPI may pick a different algorithm for it). With --breakdown also the
// parts of the project's time, each timed alone: "buckets" = the communicator's all_reduce_async
// on the reducer's bucket layout (all started, then waited in order: the MPI back end with its
// watchdog, no autograd) and "copies" = two copies of SIZE bytes, what a reducer that copied
// gradients into buckets and the sums back would add (the first design did; kept for comparison).
//
// Timing: each repetition runs backward, step, raw (and nonblocking raw) in turn, each after an
// MPI_Barrier; per measurement the slowest rank's time counts (an MPI_Reduce MAX at the end);
// a size reports the median over repetitions, after warm-up repetitions. Repetitions: 200 up to
// 64 KiB, 100 up to 1 MiB, 30 up to 16 MiB, 10 at 64 MiB, 7 above (--reps N: N for every size).
// algbw = bytes / time, busbw = algbw * 2 (n - 1) / n (as nccl-tests); ratio = project busbw /
// raw busbw (1.00: the project moves gradients as fast as one raw all-reduce).
#include <mpi.h>
#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "common/allocator.h"
#include "dist/mpi_communicator.h"
#include "train/gradient_reducer.h"

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

int64_t parse_bytes(const char* text) {
  char* end = nullptr;
  const double v = std::strtod(text, &end);
  int64_t unit = 1;
  if (end && (*end == 'K' || *end == 'k')) unit = int64_t{1} << 10;
  if (end && (*end == 'M' || *end == 'm')) unit = int64_t{1} << 20;
  if (end && (*end == 'G' || *end == 'g')) unit = int64_t{1} << 30;
  return static_cast<int64_t>(v * static_cast<double>(unit));
}

std::string size_text(int64_t bytes) {
  char text[32];
  if (bytes >= (int64_t{1} << 20)) {
    std::snprintf(text, sizeof(text), "%lld MiB", static_cast<long long>(bytes >> 20));
  } else {
    std::snprintf(text, sizeof(text), "%lld KiB", static_cast<long long>(bytes >> 10));
  }
  return text;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Per repetition, the slowest rank's time (on rank 0; other ranks get their own).
std::vector<double> slowest(const std::vector<double>& mine) {
  std::vector<double> out(mine.size());
  MPI_Reduce(mine.data(), out.data(), static_cast<int>(mine.size()), MPI_DOUBLE, MPI_MAX, 0,
             MPI_COMM_WORLD);
  return out;
}

std::string first_line_of(const char* path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

}  // namespace

int main(int argc, char** argv) {
  int64_t min_size = 4 << 10, max_size = int64_t{256} << 20;
  int reps_override = 0;
  bool nonblocking_raw = false, breakdown = false;
  for (int i = 1; i < argc; ++i) {
    const bool has_value = i + 1 < argc;
    if (std::strcmp(argv[i], "--min-size") == 0 && has_value) {
      min_size = parse_bytes(argv[++i]);
    } else if (std::strcmp(argv[i], "--max-size") == 0 && has_value) {
      max_size = parse_bytes(argv[++i]);
    } else if (std::strcmp(argv[i], "--reps") == 0 && has_value) {
      reps_override = std::atoi(argv[++i]);
    } else if (std::strcmp(argv[i], "--nonblocking-raw") == 0) {
      nonblocking_raw = true;
    } else if (std::strcmp(argv[i], "--breakdown") == 0) {
      nonblocking_raw = breakdown = true;
    } else {
      std::fprintf(stderr,
                   "usage: comm_bench [--min-size BYTES] [--max-size BYTES] [--reps N] "
                   "[--nonblocking-raw] [--breakdown]\n");
      return 2;
    }
  }

  nsl::keep_freed_memory();  // as nsl_dist does
  torch::set_num_threads(1);
  nsl::MpiSession session;
  nsl::MpiCommunicator comm;
  const int rank = comm.rank(), ranks = comm.size();
  const double bus_factor = ranks > 1 ? 2.0 * (ranks - 1) / ranks : 1.0;

  if (rank == 0) {
    char host[256] = {0};
    gethostname(host, sizeof(host) - 1);
    std::printf("host %s, nproc %ld, loadavg %s\n", host, sysconf(_SC_NPROCESSORS_ONLN),
                first_line_of("/proc/loadavg").c_str());
    std::printf("world size %d (%d on this node), %s, LibTorch threads per rank %d\n", ranks,
                comm.local_size(), nsl::MpiSession::library_version().c_str(),
                torch::get_num_threads());
    std::printf(
        "project: GradientReducer, 8 float32 params, %lld MiB buckets, time = median(step) - "
        "median(backward); raw: blocking MPI_Allreduce in place on MPI_COMM_WORLD; medians of "
        "the slowest rank\n",
        static_cast<long long>(nsl::GradientReducer::kDefaultBucketBytes >> 20));
    std::printf("%-8s %5s %10s %10s %10s %10s %9s %9s %10s %9s %9s", "size", "reps", "bwd us",
                "step us", "proj us", "proj algbw", "busbw", "raw us", "raw algbw", "busbw",
                "ratio");
    if (nonblocking_raw) std::printf(" %10s %9s", "iallr us", "busbw");
    if (breakdown) std::printf(" %10s %10s", "buckets us", "copies us");
    std::printf("\n");
    std::fflush(stdout);
  }

  for (int64_t bytes = min_size; bytes <= max_size; bytes *= 4) {
    const int64_t numel = bytes / 4;
    const int64_t per_param = numel / 8;
    if (per_param < 1 || per_param * 8 != numel) {
      if (rank == 0)
        std::fprintf(stderr, "skipping %lld bytes: not 8 x float32 x k\n",
                     static_cast<long long>(bytes));
      continue;
    }
    const int reps = reps_override > 0              ? reps_override
                     : bytes <= (64 << 10)          ? 200
                     : bytes <= (1 << 20)           ? 100
                     : bytes <= (16 << 20)          ? 30
                     : bytes <= (int64_t{64} << 20) ? 10
                                                    : 7;
    const int warmup = bytes <= (1 << 20) ? 10 : 2;

    std::vector<torch::Tensor> params;
    for (int i = 0; i < 8; ++i) params.push_back(torch::zeros({per_param}).requires_grad_(true));
    const auto c = torch::full({}, static_cast<float>(rank + 1));
    nsl::GradientReducer reducer(comm, params, {});
    auto zero_grads = [&] {
      for (auto& p : params) {
        if (p.grad().defined()) p.mutable_grad().zero_();
      }
    };
    auto backward = [&] {
      torch::Tensor loss = (params[0] * c).sum();
      for (size_t i = 1; i < params.size(); ++i) loss = loss + (params[i] * c).sum();
      loss.backward();
    };
    auto raw = torch::zeros({numel});
    // The reducer's bucket layout in elements (for --breakdown).
    std::vector<int64_t> bucket_numel;
    for (int64_t members : reducer.bucket_sizes()) bucket_numel.push_back(members * per_param);
    torch::Tensor grad_like, bucket_like, out_like;
    if (breakdown) {
      grad_like = torch::ones({numel});
      bucket_like = torch::zeros({numel});
      out_like = torch::zeros({numel});
    }

    std::vector<double> t_bwd, t_step, t_raw, t_nb, t_buckets, t_copies;
    for (int r = 0; r < warmup + reps; ++r) {
      const bool timed = r >= warmup;
      zero_grads();
      MPI_Barrier(MPI_COMM_WORLD);
      auto t0 = Clock::now();
      backward();
      const double bwd = seconds_since(t0);

      zero_grads();
      MPI_Barrier(MPI_COMM_WORLD);
      t0 = Clock::now();
      reducer.begin_step();
      backward();
      reducer.finish_step();
      const double step = seconds_since(t0);

      MPI_Barrier(MPI_COMM_WORLD);
      t0 = Clock::now();
      MPI_Allreduce(MPI_IN_PLACE, raw.data_ptr(), static_cast<int>(numel), MPI_FLOAT, MPI_SUM,
                    MPI_COMM_WORLD);
      const double raw_s = seconds_since(t0);

      double nb = 0;
      if (nonblocking_raw) {
        MPI_Barrier(MPI_COMM_WORLD);
        t0 = Clock::now();
        MPI_Request req;
        MPI_Iallreduce(MPI_IN_PLACE, raw.data_ptr(), static_cast<int>(numel), MPI_FLOAT, MPI_SUM,
                       MPI_COMM_WORLD, &req);
        MPI_Wait(&req, MPI_STATUS_IGNORE);
        nb = seconds_since(t0);
      }
      double buckets = 0, copies = 0;
      if (breakdown) {
        MPI_Barrier(MPI_COMM_WORLD);
        t0 = Clock::now();
        std::vector<std::unique_ptr<nsl::CollectiveWork>> works;
        int64_t offset = 0;
        for (int64_t n : bucket_numel) {
          works.push_back(
              comm.all_reduce_async(raw.slice(0, offset, offset + n), nsl::ReduceOp::kSum));
          offset += n;
        }
        for (auto& w : works) w->wait();
        buckets = seconds_since(t0);

        MPI_Barrier(MPI_COMM_WORLD);
        t0 = Clock::now();
        bucket_like.copy_(grad_like);
        out_like.copy_(bucket_like);
        copies = seconds_since(t0);
      }
      if (timed) {
        t_bwd.push_back(bwd);
        t_step.push_back(step);
        t_raw.push_back(raw_s);
        t_nb.push_back(nb);
        t_buckets.push_back(buckets);
        t_copies.push_back(copies);
      }
    }
    // Sanity: every rank's gradient is c, so each sum is 1 + 2 + ... + ranks.
    const float expected = static_cast<float>(ranks * (ranks + 1) / 2);
    bool ok = true;
    for (const auto& p : params) ok = ok && torch::equal(p.grad(), torch::full_like(p, expected));

    const auto bwd = slowest(t_bwd), step = slowest(t_step), rawt = slowest(t_raw),
               nbt = slowest(t_nb), bucketst = slowest(t_buckets), copiest = slowest(t_copies);
    if (rank == 0) {
      const double b = static_cast<double>(bytes);
      const double bwd_s = median(bwd), step_s = median(step), raw_s = median(rawt);
      const double proj_s = std::max(step_s - bwd_s, 1e-9);
      const double proj_alg = b / proj_s / 1e9, raw_alg = b / raw_s / 1e9;
      std::printf("%-8s %5d %10.1f %10.1f %10.1f %10.3f %9.3f %9.1f %10.3f %9.3f %9.2f",
                  size_text(bytes).c_str(), reps, bwd_s * 1e6, step_s * 1e6, proj_s * 1e6, proj_alg,
                  proj_alg * bus_factor, raw_s * 1e6, raw_alg, raw_alg * bus_factor,
                  proj_alg / raw_alg);
      if (nonblocking_raw) {
        const double nb_s = median(nbt);
        std::printf(" %10.1f %9.3f", nb_s * 1e6, b / nb_s / 1e9 * bus_factor);
      }
      if (breakdown) std::printf(" %10.1f %10.1f", median(bucketst) * 1e6, median(copiest) * 1e6);
      std::printf("%s\n", ok ? "" : "  (WRONG SUMS)");
      std::fflush(stdout);
    }
  }
  return 0;
}
