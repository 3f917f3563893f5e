// Forward + backward time of every loss per step, next to a plain B x d x C matrix product
// (forward + backward) measured in the same run. Prints a table; asserts nothing.
//   build/loss_bench [--rounds N] [--min-ms T]
//
// Timing: every case is a closure; each round times every closure of a (B, C) cell in turn (the
// matrix product first, then the losses), running each long enough (--min-ms) for the clock and
// averaging over the inner loop. A cell reports each closure's fastest round, so a burst of load on
// this shared machine spoils one round, not the ratio.
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "common/allocator.h"
#include "config/config.h"
#include "loss/decorrelation.h"
#include "loss/embedding_loss.h"
#include "model/ns_layer.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Case {
  std::string name;
  std::function<void()> step;
  int inner = 1;
  double best_ms = std::numeric_limits<double>::infinity();
};

double time_ms(const std::function<void()>& f, int inner) {
  const auto start = Clock::now();
  for (int i = 0; i < inner; ++i) f();
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count() / inner;
}

// Times every case `rounds` times, interleaved, keeping each case's fastest round.
void run_interleaved(std::vector<Case>& cases, int rounds, double min_ms) {
  for (auto& c : cases) {
    const double once = time_ms(c.step, 1);  // warm-up, and the inner loop length
    c.inner = std::max(1, static_cast<int>(min_ms / std::max(once, 1e-3)));
  }
  for (int r = 0; r < rounds; ++r)
    for (auto& c : cases) c.best_ms = std::min(c.best_ms, time_ms(c.step, c.inner));
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = 7;
  double min_ms = 20.0;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--rounds") == 0) rounds = std::atoi(argv[i + 1]);
    if (std::strcmp(argv[i], "--min-ms") == 0) min_ms = std::atof(argv[i + 1]);
  }
  nsl::keep_freed_memory();
  torch::manual_seed(0);
  const int64_t d = 512;
  const std::vector<std::string> names = {"dgcrl",       "normalized_softmax", "triplet",
                                          "contrastive", "multi_similarity",   "proxy_nca",
                                          "proxy_anchor"};
  std::printf(
      "threads %d, d %lld, fastest of %d interleaved rounds (each >= %.0f ms), ms per step\n",
      torch::get_num_threads(), static_cast<long long>(d), rounds, min_ms);
  std::printf("%-5s %-6s %-22s %10s %10s %7s\n", "B", "C", "loss", "loss ms", "matmul ms", "ratio");
  for (int64_t b : {64, 256}) {
    for (int64_t c : {100, 1000, 11318}) {
      // The losses take unit embeddings (the N-S layer's output): a unit-norm leaf here, so each
      // row times the loss alone, centers' normalisation included.
      auto x = torch::randn({b, d}).requires_grad_(true);
      auto unit = nsl::NSLayerImpl::unit(torch::randn({b, d})).requires_grad_(true);
      auto w = torch::randn({c, d}).requires_grad_(true);
      const auto labels = torch::randint(0, std::min<int64_t>(c, b / 4), {b}, torch::kInt64);
      const auto scale = torch::full({}, 32.0f);

      std::vector<Case> cases;
      cases.push_back({"matmul", [&] {
                         x.mutable_grad() = torch::Tensor();
                         w.mutable_grad() = torch::Tensor();
                         torch::matmul(x, w.t()).sum().backward();
                       }});
      std::vector<nsl::EmbeddingLoss> losses;
      for (const auto& name : names) {
        nsl::LossConfig cfg;
        cfg.name = name;
        losses.emplace_back(cfg, c, d);
        losses.back()->start_epoch(1, 1);
      }
      for (size_t i = 0; i < names.size(); ++i) {
        cases.push_back({names[i], [&, i] {
                           unit.mutable_grad() = torch::Tensor();
                           for (auto& p : losses[i]->parameters())
                             p.mutable_grad() = torch::Tensor();
                           losses[i]->forward(unit, labels, scale, b, 1).objective.backward();
                         }});
      }
      run_interleaved(cases, rounds, min_ms);
      const double matmul = cases[0].best_ms;
      for (size_t i = 1; i < cases.size(); ++i)
        std::printf("%-5lld %-6lld %-22s %10.3f %10.3f %7.2f\n", static_cast<long long>(b),
                    static_cast<long long>(c), cases[i].name.c_str(), cases[i].best_ms, matmul,
                    cases[i].best_ms / matmul);
      std::fflush(stdout);
      if (c <= d) continue;
      // epoch_gs itself runs once per epoch on rank 0: its cost, for reference.
      const double gs = time_ms([&] { nsl::epoch_gram_schmidt(w.detach(), 1.0, 1, 1, true); }, 1);
      std::printf("%-5lld %-6lld %-22s %10.1f %10s\n", static_cast<long long>(b),
                  static_cast<long long>(c), "epoch_gs (per epoch)", gs, "-");
    }
  }
  return 0;
}
