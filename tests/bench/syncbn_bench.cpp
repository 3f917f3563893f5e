// The cost of synchronised BatchNorm per training step of a ResNet-18: for each of its 20 BatchNorm
// layers at the activation shape of a batch of --batch images of --image-size pixels per rank,
// forward + backward of LibTorch's BatchNorm2d (each rank's own statistics: what ran before issue
// 17) and of SyncBatchNorm2d over the job's ranks (global statistics, three small all-reduces per
// layer). Next to them the whole ResNet-18 forward + backward (SyncBatchNorm2d) on the same batch,
// so the difference reads as a share of a step. Run under mpirun (1 or 2 ranks); rank 0 prints a
// table; asserts nothing.
//   mpirun --allow-run-as-root --bind-to none -np 2 build/syncbn_bench [--batch 32]
//       [--image-size 64] [--rounds 5]
#include <torch/torch.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "dist/mpi_communicator.h"
#include "model/resnet.h"
#include "model/sync_batch_norm.h"

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

int64_t arg(int argc, char** argv, const char* name, int64_t fallback) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], name) == 0) return std::stoll(argv[i + 1]);
  }
  return fallback;
}

// (channels, spatial divisor) of ResNet-18's BatchNorm layers, in order.
std::vector<std::array<int64_t, 2>> resnet18_bn_shapes() {
  std::vector<std::array<int64_t, 2>> out = {{64, 2}};
  for (int i = 0; i < 4; ++i) out.push_back({64, 4});
  for (int64_t stage = 1; stage < 4; ++stage) {
    const int64_t c = 64 << stage, div = 4 << stage;
    for (int i = 0; i < 5; ++i) out.push_back({c, div});  // 4 in the blocks + the downsample
  }
  return out;
}

// Fastest of `rounds` (the maximum over ranks of each round, so a collective's wait counts).
template <typename F>
double fastest(nsl::Communicator& comm, int64_t rounds, F&& f) {
  double best = std::numeric_limits<double>::infinity();
  f();  // warm-up
  for (int64_t r = 0; r < rounds; ++r) {
    comm.barrier();
    const auto t = Clock::now();
    f();
    torch::Tensor s = torch::tensor({seconds_since(t)}, torch::kFloat64);
    comm.all_reduce(s, nsl::ReduceOp::kMax);
    best = std::min(best, s.item<double>());
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  nsl::MpiSession session;
  nsl::MpiCommunicator comm;
  const int64_t batch = arg(argc, argv, "--batch", 32);
  const int64_t size = arg(argc, argv, "--image-size", 64);
  const int64_t rounds = arg(argc, argv, "--rounds", 5);
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  torch::set_num_threads(std::max(1, cores / comm.local_size()));
  torch::manual_seed(1 + comm.rank());

  double native = 0.0, synced = 0.0;
  for (const auto& [c, div] : resnet18_bn_shapes()) {
    const int64_t s = std::max<int64_t>(1, size / div);
    const torch::Tensor x = torch::randn({batch, c, s, s});
    const torch::Tensor dy = torch::randn({batch, c, s, s});
    torch::nn::BatchNorm2d theirs(c);
    nsl::SyncBatchNorm2d ours(c);
    ours->set_communicator(&comm);
    native += fastest(comm, rounds, [&] {
      torch::Tensor xin = x.clone().requires_grad_(true);
      theirs->forward(xin).backward(dy);
    });
    synced += fastest(comm, rounds, [&] {
      torch::Tensor xin = x.clone().requires_grad_(true);
      ours->forward(xin).backward(dy);
    });
  }
  nsl::ResNet net(18, 3);
  net->set_batch_norm_communicator(&comm);
  const torch::Tensor images = torch::randn({batch, 3, size, size});
  const double step = fastest(comm, rounds, [&] {
    net->zero_grad();
    net->forward(images).sum().backward();
  });
  if (comm.is_root()) {
    std::printf(
        "syncbn_bench: %d rank(s), %d thread(s) per rank, %lld images of %lldx%lld per rank, "
        "fastest of %lld rounds\n\n",
        comm.size(), torch::get_num_threads(), static_cast<long long>(batch),
        static_cast<long long>(size), static_cast<long long>(size), static_cast<long long>(rounds));
    std::printf("| what (20 BatchNorm layers of ResNet-18, forward + backward) | ms per step |\n");
    std::printf("|---|---|\n");
    std::printf("| torch::nn::BatchNorm2d, each rank's statistics (before) | %.1f |\n",
                native * 1e3);
    std::printf("| SyncBatchNorm2d, global statistics (now) | %.1f |\n", synced * 1e3);
    std::printf("| difference | %+.1f |\n", (synced - native) * 1e3);
    std::printf("| whole ResNet-18 forward + backward with SyncBatchNorm2d | %.1f |\n", step * 1e3);
    std::printf("\nSynchronised BatchNorm adds %.1f%% to the backbone's forward + backward\n",
                100.0 * (synced - native) / std::max(1e-9, step - (synced - native)));
  }
  return 0;
}
