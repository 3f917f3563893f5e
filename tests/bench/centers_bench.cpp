// Replicated against sharded class centers (loss.centers), for the loss's part of a training step
// as the trainer runs it: DGCRL softmax ranking (margin 0.1) of a global batch of random unit
// embeddings against C centers of d dimensions, backward, the centers' gradient reduction
// (replicated: all-reduced, in a GradientReducer bucket of its own) and the AdamW row update.
//   mpirun --allow-run-as-root --bind-to none -np 2 build/centers_bench
//          [--classes 10000,100000,1000000] [--dim 128] [--batch 256] [--steps 5]
// Every rank takes part, rank 0 prints. Per C and mode:
//  - step ms: median over the steps of the slowest rank's time (after one warm-up step);
//  - loss ms, opt ms, comm ms: the forward + backward (communication inside it excluded), the
//    optimizer step, and the time spent in collectives (all of them, timed by a wrapper);
//  - wire MiB: what one rank sends per step under ring algorithms: all-reduce of S bytes
//    2 (n-1)/n S, all-gather of S bytes in all (n-1)/n S, broadcast S;
//  - center MiB: the centers with their gradient and AdamW state held by one rank.
// Then the same quantities for 8, 64 and 512 ranks from these measurements (see BENCHMARKS.md:
// the compute parts scale with the work per rank, the collectives with the ring formulas at an
// assumed link bandwidth and latency).
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "common/allocator.h"
#include "dist/mpi_communicator.h"
#include "loss/decorrelation.h"
#include "loss/embedding_loss.h"
#include "optim/adamw.h"
#include "train/gradient_reducer.h"

namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

class MeteredWork : public nsl::CollectiveWork {
 public:
  MeteredWork(std::unique_ptr<nsl::CollectiveWork> inner, double& seconds)
      : inner_(std::move(inner)), seconds_(seconds) {}
  bool test() override { return inner_->test(); }
  void wait() override {
    const auto t0 = Clock::now();
    inner_->wait();
    seconds_ += since(t0);
  }

 private:
  std::unique_ptr<nsl::CollectiveWork> inner_;
  double& seconds_;
};

// Forwards to another communicator, timing every collective and adding up its wire bytes.
class MeteredCommunicator : public nsl::Communicator {
 public:
  explicit MeteredCommunicator(nsl::Communicator& inner) : inner_(inner) {}
  int rank() const override { return inner_.rank(); }
  int size() const override { return inner_.size(); }
  int local_rank() const override { return inner_.local_rank(); }
  int local_size() const override { return inner_.local_size(); }
  std::string backend() const override { return inner_.backend(); }

  void all_reduce(torch::Tensor& t, nsl::ReduceOp op) override {
    const auto t0 = Clock::now();
    inner_.all_reduce(t, op);
    seconds += since(t0);
    bytes += ring() * 2.0 * static_cast<double>(t.nbytes());
  }
  // Counts the time spent starting it and waiting for it (what overlap with backward leaves).
  std::unique_ptr<nsl::CollectiveWork> all_reduce_async(torch::Tensor t,
                                                        nsl::ReduceOp op) override {
    const auto t0 = Clock::now();
    auto work = std::make_unique<MeteredWork>(inner_.all_reduce_async(t, op), seconds);
    seconds += since(t0);
    bytes += ring() * 2.0 * static_cast<double>(t.nbytes());
    return work;
  }
  void broadcast(torch::Tensor& t, int root) override {
    const auto t0 = Clock::now();
    inner_.broadcast(t, root);
    seconds += since(t0);
    bytes += static_cast<double>(t.nbytes());
  }
  torch::Tensor all_gather_rows(const torch::Tensor& t) override {
    const auto t0 = Clock::now();
    torch::Tensor all = inner_.all_gather_rows(t);
    seconds += since(t0);
    bytes += ring() * static_cast<double>(all.nbytes());
    return all;
  }
  void barrier() override { inner_.barrier(); }
  [[noreturn]] void abort(int code) override {
    inner_.abort(code);
    std::abort();  // not reached: the inner abort does not return
  }
  void set_timeout(double s) override { inner_.set_timeout(s); }
  double timeout_s() const override { return inner_.timeout_s(); }
  int64_t next_sequence() const override { return inner_.next_sequence(); }

  double seconds = 0.0;
  double bytes = 0.0;

 private:
  double ring() const { return size() > 1 ? (size() - 1.0) / size() : 0.0; }
  nsl::Communicator& inner_;
};

struct Row {
  double step = 0, loss = 0, opt = 0, comm = 0, wire = 0, center = 0;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double slowest(nsl::Communicator& comm, double seconds) {
  torch::Tensor t = torch::tensor({seconds}, torch::kFloat64);
  comm.all_reduce(t, nsl::ReduceOp::kMax);
  return t.item<double>();
}

double state_bytes(nsl::EmbeddingLoss& loss, const nsl::AdamW& optimizer) {
  double total = static_cast<double>(loss->centers().nbytes());
  if (loss->centers().grad().defined())
    total += static_cast<double>(loss->centers().grad().nbytes());
  for (const auto& [name, t] : optimizer.state_of(loss->centers())) {
    total += static_cast<double>(t.nbytes());
  }
  return total;
}

Row measure(nsl::Communicator& world, int64_t classes, int64_t dim, int64_t batch, int steps,
            bool sharded, double sample_rate) {
  MeteredCommunicator comm(world);
  nsl::LossConfig config;
  config.name = "dgcrl";
  config.margin = 0.1;
  config.decorrelation.mode = nsl::DecorrelationMode::kNone;
  std::optional<nsl::CenterSharding> sharding;
  if (sharded) {
    sharding = nsl::CenterSharding{&comm, nsl::shard_range(classes, dim, comm.size(), comm.rank()),
                                   1, sample_rate};
  }
  torch::manual_seed(1);
  nsl::EmbeddingLoss loss(config, classes, dim, sharding);
  nsl::AdamW optimizer;
  optimizer.add_row_group(loss->centers(), 10.0, nsl::RowUpdate{});
  std::unique_ptr<nsl::GradientReducer> reducer;
  if (!sharded && comm.size() > 1) {
    reducer = std::make_unique<nsl::GradientReducer>(comm, std::vector<torch::Tensor>{},
                                                     std::vector<torch::Tensor>{loss->centers()});
  }
  const int64_t rows = batch / comm.size();
  const torch::Tensor scale = torch::tensor(16.0f);
  std::vector<double> step_s, loss_s, opt_s, comm_s, wire;
  for (int s = 0; s <= steps; ++s) {
    torch::manual_seed(100 + s * comm.size() + comm.rank());
    const torch::Tensor unit =
        torch::nn::functional::normalize(torch::randn({rows, dim}),
                                         torch::nn::functional::NormalizeFuncOptions().dim(1))
            .requires_grad_(true);
    const torch::Tensor labels = torch::randint(0, classes, {rows}, torch::kInt64);
    comm.barrier();
    comm.seconds = comm.bytes = 0.0;
    const auto t0 = Clock::now();
    optimizer.zero_grad();
    if (reducer) reducer->begin_step();
    const nsl::LossStep step = loss->forward(unit, labels, scale, batch, comm.size());
    step.objective.backward();
    if (reducer) reducer->finish_step();
    const double before_opt = since(t0);
    if (sharded) optimizer.set_next_rows(loss->rows_to_update(false));
    const auto t1 = Clock::now();
    optimizer.step();
    const double opt = since(t1);
    const double total = since(t0);
    if (s == 0) continue;  // warm-up
    step_s.push_back(slowest(world, total));
    loss_s.push_back(slowest(world, before_opt - comm.seconds));
    opt_s.push_back(slowest(world, opt));
    comm_s.push_back(slowest(world, comm.seconds));
    wire.push_back(comm.bytes);
  }
  Row r;
  r.step = median(step_s) * 1e3;
  r.loss = median(loss_s) * 1e3;
  r.opt = median(opt_s) * 1e3;
  r.comm = median(comm_s) * 1e3;
  r.wire = median(wire) / (1 << 20);
  r.center = state_bytes(loss, optimizer) / (1 << 20);
  return r;
}

std::vector<int64_t> parse_list(const char* text) {
  std::vector<int64_t> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) out.push_back(std::stoll(item));
  return out;
}

// Ring all-reduce / all-gather time of S bytes over n ranks at bandwidth bw (B/s), latency lat.
double all_reduce_s(double bytes, int n, double bw, double lat) {
  return n > 1 ? 2.0 * (n - 1) * lat + 2.0 * (n - 1) / n * bytes / bw : 0.0;
}
double all_gather_s(double bytes, int n, double bw, double lat) {
  return n > 1 ? (n - 1) * lat + static_cast<double>(n - 1) / n * bytes / bw : 0.0;
}

// --gram-schmidt (no mpirun): the epoch-end step on one core, C x d float32 centers, groups of d:
// replicated (seeded random groups, one process) and sharded (each half of the blocks alone, as
// each of 2 ranks runs it in parallel).
int time_gram_schmidt(const std::vector<int64_t>& classes, int64_t dim) {
  std::printf("epoch-end Gram-Schmidt, d = %lld, groups of d, 1 thread (best of 3)\n",
              static_cast<long long>(dim));
  std::printf("%9s %16s %22s\n", "C", "replicated s", "sharded s (per rank)");
  for (int64_t c : classes) {
    torch::manual_seed(3);
    const torch::Tensor centers = torch::randn({c, dim});
    double rep = 1e30, sh = 1e30;
    for (int rep_i = 0; rep_i < 3; ++rep_i) {
      auto t0 = Clock::now();
      nsl::epoch_gram_schmidt(centers, 0.3, 1, 1, true, 0);
      rep = std::min(rep, since(t0));
      double slowest_rank = 0.0;
      for (const auto& r : nsl::shard_ranges(c, dim, 2)) {
        t0 = Clock::now();
        nsl::sharded_epoch_gram_schmidt(centers.slice(0, r.begin, r.end), r.begin, dim, 0.3, 1, 1);
        slowest_rank = std::max(slowest_rank, since(t0));
      }
      sh = std::min(sh, slowest_rank);
    }
    std::printf("%9lld %16.3f %22.3f\n", static_cast<long long>(c), rep, sh);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int64_t> classes = {10000, 100000, 1000000};
  int64_t dim = 128, batch = 256;
  int steps = 5;
  double sample_rate = 1.0;
  bool gs = false;
  for (int i = 1; i < argc; ++i) {
    const bool has = i + 1 < argc;
    if (std::strcmp(argv[i], "--classes") == 0 && has) {
      classes = parse_list(argv[++i]);
    } else if (std::strcmp(argv[i], "--dim") == 0 && has) {
      dim = std::atoll(argv[++i]);
    } else if (std::strcmp(argv[i], "--batch") == 0 && has) {
      batch = std::atoll(argv[++i]);
    } else if (std::strcmp(argv[i], "--steps") == 0 && has) {
      steps = std::atoi(argv[++i]);
    } else if (std::strcmp(argv[i], "--sample-rate") == 0 && has) {
      sample_rate = std::atof(argv[++i]);
    } else if (std::strcmp(argv[i], "--gram-schmidt") == 0) {
      gs = true;
    } else {
      std::fprintf(stderr,
                   "usage: centers_bench [--classes N,N,...] [--dim D] [--batch B] [--steps S] "
                   "[--sample-rate R] [--gram-schmidt]\n");
      return 2;
    }
  }
  nsl::keep_freed_memory();
  torch::set_num_threads(1);
  if (gs) return time_gram_schmidt(classes, dim);
  nsl::MpiSession session;
  nsl::MpiCommunicator world;
  const int n = world.size();
  const bool root = world.rank() == 0;
  if (root) {
    std::printf(
        "centers_bench: %d rank(s), d = %lld, global batch %lld, %d steps (median), sharded "
        "sample rate %g\n",
        n, static_cast<long long>(dim), static_cast<long long>(batch), steps, sample_rate);
    std::printf("%9s  %-10s %9s %8s %8s %8s %9s %10s %8s\n", "C", "mode", "step ms", "loss ms",
                "opt ms", "comm ms", "wire MiB", "center MiB", "speedup");
  }
  struct Measured {
    int64_t classes;
    Row rep, sh;
  };
  std::vector<Measured> all;
  for (int64_t c : classes) {
    const Row rep = measure(world, c, dim, batch, steps, false, 1.0);
    const Row sh = measure(world, c, dim, batch, steps, true, sample_rate);
    all.push_back({c, rep, sh});
    if (!root) continue;
    for (const auto& [mode, r] :
         {std::pair<const char*, Row>{"replicated", rep}, {"sharded", sh}}) {
      std::printf("%9lld  %-10s %9.2f %8.2f %8.2f %8.2f %9.3f %10.1f %8s\n",
                  static_cast<long long>(c), mode, r.step, r.loss, r.opt, r.comm, r.wire, r.center,
                  std::string(mode) == "sharded"
                      ? (std::to_string(rep.step / r.step).substr(0, 5) + "x").c_str()
                      : "");
    }
  }
  if (!root) return 0;
  // The model for n ranks: compute parts scale with the work of one rank; collectives follow the
  // ring formulas at the assumed link speed.
  const double bw = 12.5e9, lat = 5e-6;  // 100 Gb/s, 5 us
  std::printf("\nmodel for more ranks (link %.1f GB/s, latency %.0f us; from the %d-rank row)\n",
              bw / 1e9, lat * 1e6, n);
  std::printf("%9s %6s %14s %14s %9s %14s %14s\n", "C", "ranks", "repl step ms", "shard step ms",
              "speedup", "repl ctr MiB", "shard ctr MiB");
  const double embed_bytes = static_cast<double>(batch * dim * 4);
  for (const Measured& m : all) {
    for (int ranks : {8, 64, 512}) {
      const double share = static_cast<double>(n) / ranks;
      const double center_bytes = static_cast<double>(m.classes * dim * 4);
      const double rep =
          m.rep.loss * 1e-3 * share + m.rep.opt * 1e-3 + all_reduce_s(center_bytes, ranks, bw, lat);
      const double sh = (m.sh.loss + m.sh.opt) * 1e-3 * share +
                        all_gather_s(embed_bytes, ranks, bw, lat) +
                        all_reduce_s(embed_bytes, ranks, bw, lat) +
                        4 * all_reduce_s(static_cast<double>(batch * 8), ranks, bw, lat);
      std::printf("%9lld %6d %14.2f %14.2f %8.1fx %14.1f %14.2f\n",
                  static_cast<long long>(m.classes), ranks, rep * 1e3, sh * 1e3, rep / sh,
                  m.rep.center, m.sh.center * share);
    }
  }
  return 0;
}
