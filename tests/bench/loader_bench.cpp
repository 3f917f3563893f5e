// Images per second of one rank's training loader (PrefetchLoader through ShardTrainSource) next to
// images per second of a training step of the demo model (configs/demo.yaml's small CNN, DGCRL,
// batch 64, forward + backward + AdamW step) measured in the same run. Prints a table; asserts
// nothing.
//   build/loader_bench [--epochs N] [--steps N] [--rounds N] [--threads N] [--dir DIR]
//                      [--data DATASET_DIR ...]
//
// Datasets: each --data folder (a prepared dataset, e.g. the demo's runs/data/synth or
// runs/data/omniglot, used as is); without --data, nsl::write_synthetic at 64 px and 32 px (gray,
// 8 shards) written to --dir (default /tmp/nsl_loader_bench, removed afterwards). A loader row
// drains --epochs epochs of global batch 64 in a 1-rank job (start_epoch included, so the pipeline
// fills from empty each epoch). The train row times --steps steps on one fixed batch of the data
// with --threads LibTorch threads (default: every core, as nsl_dist gives a single rank); the last
// row per size trains on the loader's batches (workers 1, augment on), loader and training sharing
// the cores as in a real run. Every row is the fastest of --rounds rounds, each round running every
// row of a size in turn, so a burst of load on a shared machine spoils one round of one row, not
// the comparison.
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "common/allocator.h"
#include "config/config.h"
#include "data/manifest.h"
#include "data/prefetch_loader.h"
#include "data/shard_batch_source.h"
#include "data/synthetic.h"
#include "loss/embedding_loss.h"
#include "model/embedding_net.h"
#include "optim/adamw.h"

namespace {

using Clock = std::chrono::steady_clock;
constexpr int64_t kBatch = 64;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// The demo's model and loss (configs/demo.yaml), one optimiser step per call.
struct DemoStep {
  nsl::EmbeddingNet net{nullptr};
  nsl::EmbeddingLoss loss{nullptr};
  nsl::AdamW opt;
  explicit DemoStep(int64_t num_classes) {
    nsl::ModelConfig m;
    m.channels = {32, 64, 128};
    m.norm_groups = 8;
    m.embedding_dim = 64;
    m.scale = 16;
    net = nsl::EmbeddingNet(m, 1);
    nsl::LossConfig l;  // dgcrl, softmax ranking, margin 0.1
    loss = nsl::EmbeddingLoss(l, num_classes, m.embedding_dim);
    loss->start_epoch(1, 1);
    nsl::AdamWOptions o;
    o.lr = 3e-4;
    opt.set_options(o);
    opt.add_group(net->parameters(), 1.0, 1e-4);
    opt.add_group(loss->parameters(), 10.0, 0.0);
  }
  void operator()(const nsl::Batch& b) {
    opt.zero_grad();
    const torch::Tensor unit = net->forward(b.images).unit;
    loss->forward(unit, b.labels, net->ns()->scale(), b.images.size(0), 1).objective.backward();
    opt.step();
  }
};

double loader_images_per_s(const std::string& dir, int64_t workers, bool augment, int epochs) {
  nsl::LoaderOptions o;
  o.workers = workers;
  o.augment.enabled = augment;
  nsl::ShardTrainSource src(dir, nsl::read_manifest(dir), "train", 0, 1, kBatch, 1, o);
  int64_t images = 0;
  const auto t0 = Clock::now();
  for (int e = 0; e < epochs; ++e) {
    src.start_epoch(e);
    for (int64_t t = 0; t < src.steps_per_epoch(); ++t) images += src.next_batch().images.size(0);
  }
  return static_cast<double>(images) / seconds_since(t0);
}

// A fixed batch of the dataset's images (the loader's first, not augmented), so the fixed and
// the loader-fed rows train on the same kind of pixels.
double train_images_per_s(const std::string& dir, int64_t classes, int steps) {
  DemoStep step(classes);
  nsl::ShardTrainSource src(dir, nsl::read_manifest(dir), "train", 0, 1, kBatch, 1);
  src.start_epoch(0);
  const nsl::Batch b = src.next_batch();
  for (int i = 0; i < 3; ++i) step(b);  // warm-up
  const auto t0 = Clock::now();
  for (int i = 0; i < steps; ++i) step(b);
  return static_cast<double>(steps * kBatch) / seconds_since(t0);
}

double fed_train_images_per_s(const std::string& dir, int64_t classes, int steps) {
  DemoStep step(classes);
  nsl::LoaderOptions o;
  o.workers = 1;
  o.augment.enabled = true;
  nsl::ShardTrainSource src(dir, nsl::read_manifest(dir), "train", 0, 1, kBatch, 1, o);
  int64_t epoch = 0, t = 0;
  src.start_epoch(epoch);
  const auto next = [&] {
    if (t == src.steps_per_epoch()) {
      src.start_epoch(++epoch);
      t = 0;
    }
    ++t;
    return src.next_batch();
  };
  for (int i = 0; i < 3; ++i) step(next());
  const auto t0 = Clock::now();
  for (int i = 0; i < steps; ++i) step(next());
  return static_cast<double>(steps * kBatch) / seconds_since(t0);
}

}  // namespace

int main(int argc, char** argv) {
  int epochs = 3, steps = 10, rounds = 5;
  int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  std::string root = "/tmp/nsl_loader_bench";
  std::vector<std::string> prepared;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--epochs") == 0) epochs = std::atoi(argv[i + 1]);
    if (std::strcmp(argv[i], "--steps") == 0) steps = std::atoi(argv[i + 1]);
    if (std::strcmp(argv[i], "--rounds") == 0) rounds = std::atoi(argv[i + 1]);
    if (std::strcmp(argv[i], "--threads") == 0) threads = std::atoi(argv[i + 1]);
    if (std::strcmp(argv[i], "--dir") == 0) root = argv[i + 1];
    if (std::strcmp(argv[i], "--data") == 0) prepared.push_back(argv[i + 1]);
  }
  torch::set_num_threads(threads);
  nsl::keep_freed_memory();
  torch::manual_seed(0);
  std::printf(
      "torch threads %d, global batch %lld, 1 rank; loader: %d epochs, train: %d steps; fastest "
      "of %d interleaved rounds\n",
      torch::get_num_threads(), static_cast<long long>(kBatch), epochs, steps, rounds);
  std::printf("%-5s %-24s %-8s %-8s %10s\n", "px", "what", "workers", "augment", "images/s");
  struct Dataset {
    std::string dir;
    int64_t size = 0, classes = 0;
    bool generated = false;
  };
  std::vector<Dataset> datasets;
  for (const std::string& dir : prepared) {
    const nsl::Manifest m = nsl::read_manifest(dir);
    datasets.push_back({dir, m.height, nsl::manifest_split(m, "train", dir).num_classes, false});
  }
  if (prepared.empty()) {
    for (int64_t size : {64, 32}) {
      nsl::SyntheticSpec spec;
      spec.classes = 200;  // 100 train classes x 16 = 1,600 train images: 25 steps per epoch
      spec.images_per_class = 16;
      spec.image_size = size;
      spec.shards = 8;
      const std::string dir = root + "/synth" + std::to_string(size);
      const auto t0 = Clock::now();
      nsl::write_synthetic(spec, dir);
      std::printf("# %s: written in %.1f s\n", dir.c_str(), seconds_since(t0));
      datasets.push_back({dir, size, spec.classes / 2, true});
    }
  }
  for (const Dataset& ds : datasets) {
    const std::string dir = ds.dir;
    const int64_t size = ds.size, classes = ds.classes;
    std::printf("# %s: %lld px, %lld train classes\n", dir.c_str(), static_cast<long long>(size),
                static_cast<long long>(classes));
    struct Row {
      std::string what, workers, augment;
      std::function<double()> images_per_s;
      double best = 0;
    };
    std::vector<Row> rows;
    for (int64_t workers : {1, 2})
      for (bool augment : {false, true})
        rows.push_back({"loader", std::to_string(workers), augment ? "on" : "off",
                        [=] { return loader_images_per_s(dir, workers, augment, epochs); }});
    rows.push_back({"train step (fixed batch)", "-", "-",
                    [=] { return train_images_per_s(dir, classes, steps); }});
    rows.push_back({"train step (loader-fed)", "1", "on",
                    [=] { return fed_train_images_per_s(dir, classes, steps); }});
    for (int r = 0; r < rounds; ++r)
      for (Row& row : rows) row.best = std::max(row.best, row.images_per_s());
    for (const Row& row : rows)
      std::printf("%-5lld %-24s %-8s %-8s %10.0f\n", static_cast<long long>(size), row.what.c_str(),
                  row.workers.c_str(), row.augment.c_str(), row.best);
    std::fflush(stdout);
    if (ds.generated) std::filesystem::remove_all(dir);
  }
  if (prepared.empty()) std::filesystem::remove_all(root);
  return 0;
}
