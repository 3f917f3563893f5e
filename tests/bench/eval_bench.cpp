// The evaluator at the SOP test size: Recall@K (K = 1, 10, 100, 1000; MAP@R and R-Precision come
// with it) over N x d random unit embeddings, next to the time of the same matrix products measured
// alone (every query chunk times the gallery), once as one multi-threaded library product per chunk
// (what the evaluator computed before issue 17) and once in the evaluator's fixed single-threaded
// tiles (common/fixed_split.h: the same bits for any thread count), and the peak resident memory of
// the evaluation. Then the evaluation's embedding pass: --embed-images images of the Omniglot
// configs' small CNN, as whole batches through the multi-threaded network (before) and as
// embed_images' fixed pieces (now). Prints tables; asserts nothing.
//   build/eval_bench [--n 60502] [--d 512] [--classes 11316] [--rounds 2] [--threads cores]
//                    [--embed-images 4096] [--embed-batch 256] [--image-size 32]
//
// The two are measured alternately in each round and each reports its fastest round, so a burst of
// load on this shared machine spoils one round rather than the ratio. Peak memory: VmHWM of
// /proc/self/status, reset (clear_refs 5) just before the evaluation.
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "common/fixed_split.h"
#include "config/config.h"
#include "eval/embed.h"
#include "eval/evaluator.h"
#include "model/embedding_net.h"

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// A line "Key:   123 kB" of /proc/self/status, in MiB.
double status_mib(const char* key) {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(key, 0) == 0) return std::stod(line.substr(std::strlen(key))) / 1024.0;
  }
  return -1.0;
}

void reset_peak_rss() { std::ofstream("/proc/self/clear_refs") << "5"; }

int64_t arg(int argc, char** argv, const char* name, int64_t fallback) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], name) == 0) return std::stoll(argv[i + 1]);
  }
  return fallback;
}

// The embedding pass of an evaluation: the Omniglot configs' small CNN (channels 32, 64, 128,
// d = 64, 1 channel), eval.batch_size batches, as before (one multi-threaded forward per batch) and
// now (embed_images: pieces of kEmbedPieceImages images, each single-threaded).
void embed_table(int argc, char** argv, int64_t rounds) {
  const int64_t images = arg(argc, argv, "--embed-images", 4096);
  const int64_t batch = arg(argc, argv, "--embed-batch", 256);
  const int64_t size = arg(argc, argv, "--image-size", 32);
  if (images <= 0) return;
  nsl::ModelConfig mc;
  mc.channels = {32, 64, 128};
  mc.norm_groups = 8;
  mc.embedding_dim = 64;
  nsl::EmbeddingNet net(mc, 1);
  net->eval();
  const torch::Tensor x = torch::randn({images, 1, size, size});
  double best_old = std::numeric_limits<double>::infinity();
  double best_new = std::numeric_limits<double>::infinity();
  double diff = 0.0;
  for (int64_t r = 0; r < rounds; ++r) {
    torch::NoGradGuard no_grad;
    std::vector<torch::Tensor> a, b;
    auto t = Clock::now();
    for (int64_t i = 0; i < images; i += batch)
      a.push_back(net->forward(x.slice(0, i, std::min(images, i + batch))).unit);
    best_old = std::min(best_old, seconds_since(t));
    t = Clock::now();
    for (int64_t i = 0; i < images; i += batch)
      b.push_back(nsl::embed_images(net, x.slice(0, i, std::min(images, i + batch))));
    best_new = std::min(best_new, seconds_since(t));
    diff = (torch::cat(a) - torch::cat(b)).abs().max().item<double>();
  }
  std::printf(
      "\nEmbedding pass: %lld images %lldx%lld, batches of %lld, small CNN (32, 64, 128), d 64\n",
      static_cast<long long>(images), static_cast<long long>(size), static_cast<long long>(size),
      static_cast<long long>(batch));
  std::printf("\n| what | time (s) | images/s | vs before |\n|---|---|---|---|\n");
  std::printf("| whole batches, library threads (before) | %.2f | %.0f | 1.00x |\n", best_old,
              static_cast<double>(images) / best_old);
  std::printf("| fixed pieces of %lld, single-threaded (now) | %.2f | %.0f | %.2fx |\n",
              static_cast<long long>(nsl::kEmbedPieceImages), best_new,
              static_cast<double>(images) / best_new, best_new / best_old);
  std::printf("\nmax |difference| of the embeddings: %.3g (rounding)\n", diff);
}

}  // namespace

int main(int argc, char** argv) {
  const int64_t n = arg(argc, argv, "--n", 60502);
  const int64_t d = arg(argc, argv, "--d", 512);
  const int64_t classes = arg(argc, argv, "--classes", 11316);
  const int64_t rounds = arg(argc, argv, "--rounds", 2);
  const int64_t threads =
      arg(argc, argv, "--threads", static_cast<int64_t>(std::thread::hardware_concurrency()));
  torch::set_num_threads(static_cast<int>(std::max<int64_t>(1, threads)));

  torch::manual_seed(1);
  torch::Tensor x = torch::randn({n, d});
  x = x / x.norm(2, 1, true);
  // SOP-like: `classes` classes of about n / classes images, in shuffled order.
  const torch::Tensor labels = (torch::arange(n, torch::kInt64) % classes)
                                   .index_select(0, torch::randperm(n, torch::kInt64));
  nsl::EvalOptions options;
  options.recall_k = {1, 10, 100, 1000};
  options.nmi = false;
  const int64_t chunk = std::max<int64_t>(1, options.max_chunk_elements / n);

  std::printf(
      "eval_bench: N = %lld, d = %lld, %lld classes, %d threads, chunk %lld rows "
      "(%.0f MiB of similarities)\n",
      static_cast<long long>(n), static_cast<long long>(d), static_cast<long long>(classes),
      torch::get_num_threads(), static_cast<long long>(chunk), chunk * n * 4.0 / (1 << 20));
  std::fflush(stdout);
  const double base_mib = status_mib("VmRSS:");
  double best_mm = std::numeric_limits<double>::infinity();
  double best_fixed = std::numeric_limits<double>::infinity();
  double best_eval = std::numeric_limits<double>::infinity();
  double peak_mib = 0.0;
  nsl::RetrievalMetrics m;
  for (int64_t r = 0; r < rounds; ++r) {
    auto t = Clock::now();
    double checksum = 0.0;
    for (int64_t b = 0; b < n; b += chunk) {
      const torch::Tensor s = torch::mm(x.slice(0, b, std::min(n, b + chunk)), x.t());
      checksum += s[0][0].item<double>();
    }
    best_mm = std::min(best_mm, seconds_since(t));
    t = Clock::now();
    for (int64_t b = 0; b < n; b += chunk) {
      const torch::Tensor s = nsl::matmul_nt_fixed(x.slice(0, b, std::min(n, b + chunk)), x);
      checksum += s[0][0].item<double>();
    }
    best_fixed = std::min(best_fixed, seconds_since(t));
    reset_peak_rss();
    t = Clock::now();
    m = nsl::evaluate_retrieval({x, labels}, nullptr, options);
    best_eval = std::min(best_eval, seconds_since(t));
    peak_mib = std::max(peak_mib, status_mib("VmHWM:"));
    std::printf(
        "round %lld (best so far): products %.2f s, fixed-tile products %.2f s, evaluation %.2f s "
        "(checksum %.3f)\n",
        static_cast<long long>(r), best_mm, best_fixed, best_eval, checksum);
    std::fflush(stdout);
  }
  const double flops =
      2.0 * static_cast<double>(n) * static_cast<double>(n) * static_cast<double>(d);
  std::printf("\n| what | time (s) | vs products | peak RSS (MiB) |\n|---|---|---|---|\n");
  std::printf("| matrix products alone, library threads (%.0f GFLOP/s) | %.2f | 1.00x | |\n",
              flops / best_mm / 1e9, best_mm);
  std::printf(
      "| matrix products alone, fixed single-threaded tiles (%.0f GFLOP/s) | %.2f | %.2fx | |\n",
      flops / best_fixed / 1e9, best_fixed, best_fixed / best_mm);
  std::printf(
      "| Recall@1/10/100/1000 + MAP@R + R-Precision | %.2f | %.2fx | %.0f (%.0f before) |\n",
      best_eval, best_eval / best_mm, peak_mib, base_mib);
  std::printf(
      "\nR@1 %.4f  R@10 %.4f  R@100 %.4f  R@1000 %.4f  MAP@R %.5f  (%lld queries, %lld "
      "lone; random embeddings: chance level)\n",
      m.recall[0], m.recall[1], m.recall[2], m.recall[3], m.map_at_r,
      static_cast<long long>(m.queries), static_cast<long long>(m.lone_queries));
  embed_table(argc, argv, rounds);
  return 0;
}
