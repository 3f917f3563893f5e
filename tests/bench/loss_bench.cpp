// Forward + backward time of every loss per step, next to a plain B x d x C matrix product
// (forward + backward) measured in the same run. Prints a table; asserts nothing.
//   build/loss_bench [--reps N]
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "config/config.h"
#include "loss/decorrelation.h"
#include "loss/embedding_loss.h"
#include "model/ns_layer.h"

namespace {

using Clock = std::chrono::steady_clock;

template <typename F>
double median_ms(F&& f, int reps) {
  f();  // warm-up
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    const auto start = Clock::now();
    f();
    t.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  int reps = 5;
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], "--reps") == 0) reps = std::atoi(argv[i + 1]);
  torch::manual_seed(0);
  const int64_t d = 512;
  const std::vector<std::string> names = {"dgcrl",       "normalized_softmax", "triplet",
                                          "contrastive", "multi_similarity",   "proxy_nca",
                                          "proxy_anchor"};
  std::printf("threads %d, median of %d steps, milliseconds\n", torch::get_num_threads(), reps);
  std::printf("%-5s %-6s %-22s %10s %10s %7s\n", "B", "C", "loss", "loss ms", "matmul ms", "ratio");
  for (int64_t b : {64, 256}) {
    for (int64_t c : {100, 1000, 11318}) {
      auto x = torch::randn({b, d}).requires_grad_(true);
      auto w = torch::randn({c, d}).requires_grad_(true);
      const double matmul = median_ms(
          [&] {
            auto y = torch::matmul(x, w.t()).sum();
            y.backward();
          },
          reps);
      const auto labels = torch::randint(0, std::min<int64_t>(c, b / 4), {b}, torch::kInt64);
      for (const auto& name : names) {
        nsl::LossConfig cfg;
        cfg.name = name;
        nsl::EmbeddingLoss loss(cfg, c, d);
        loss->start_epoch(1, 1);
        const auto scale = torch::full({}, 32.0f);
        const double ms = median_ms(
            [&] {
              const auto u = nsl::NSLayerImpl::unit(x);
              loss->forward(u, labels, scale, b, 1).objective.backward();
            },
            reps);
        std::printf("%-5lld %-6lld %-22s %10.2f %10.2f %7.2f\n", static_cast<long long>(b),
                    static_cast<long long>(c), name.c_str(), ms, matmul, ms / matmul);
      }
      if (c <= d) continue;
      // epoch_gs itself runs once per epoch on rank 0: its cost, for reference.
      const double gs = median_ms([&] { nsl::epoch_gram_schmidt(w.detach(), 1.0, 1, 1, true); }, 1);
      std::printf("%-5lld %-6lld %-22s %10.2f %10s\n", static_cast<long long>(b),
                  static_cast<long long>(c), "epoch_gs (per epoch)", gs, "-");
    }
  }
  return 0;
}
