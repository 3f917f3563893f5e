// loss.centers: sharded under mpirun -np 2, against the replicated centers and against one process
// (the single-process references run inside each rank with the size-1 back end): the same losses,
// weights and centers for the same batches, the same sampled classes, the same epoch-end
// Gram-Schmidt, and checkpoints that resume at the same world size bit for bit and at another one
// (2 -> 1 -> 2) within 1e-5.
#define BOOST_TEST_MODULE mpi_sharded
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <filesystem>

#include "data/eval_sources.h"
#include "data/manifest.h"
#include "data/shard_batch_source.h"
#include "data/synthetic.h"
#include "data/train_source.h"
#include "dist/local_communicator.h"
#include "mpi/mpi_fixture.h"
#include "train/trainer.h"

using nsl::test::MpiFixture;
using nsl::test::world;
BOOST_GLOBAL_FIXTURE(MpiFixture);

namespace fs = std::filesystem;

namespace {

// 40 training classes in 5 blocks of 8 (embedding_dim): rank 0 owns 16 classes, rank 1 owns 24.
std::string shared_dataset() {
  const std::string dir =
      (fs::temp_directory_path() / ("nsl_mpi_sharded_" + std::to_string(world().size()))).string();
  if (world().rank() == 0) {
    nsl::SyntheticSpec spec;
    spec.classes = 80;
    spec.images_per_class = 6;
    spec.image_size = 16;
    spec.shards = 4;
    spec.seed = 5;
    nsl::write_synthetic(spec, dir);
  }
  world().barrier();
  return dir;
}

nsl::Manifest manifest_of(const nsl::Config& cfg) { return nsl::read_manifest(cfg.data.path); }

nsl::Config config_for(const std::string& data, std::vector<std::string> overrides) {
  overrides.push_back("loss.center_init=class_mean");
  nsl::Config cfg =
      nsl::parse_config("data: {path: " + data +
                            "}\n"
                            "model: {channels: [8, 16], norm_groups: 4, embedding_dim: 8}\n"
                            "train: {epochs: 1, batch_size: 24, lr: 0.005}\n"
                            "dist: {timeout_s: 120}\n",
                        overrides);
  cfg.eval.recall_k = nsl::resolve_recall_k(cfg, manifest_of(cfg));
  return cfg;
}

nsl::TrainerOptions options_for(const nsl::Config& cfg, nsl::Communicator& comm) {
  nsl::TrainerOptions opts;
  opts.show_progress = false;
  opts.open_train_samples = [path = cfg.data.path, manifest = manifest_of(cfg), &comm] {
    return std::make_unique<nsl::ShardEvalSource>(path, manifest, "train", comm.rank(),
                                                  comm.size());
  };
  return opts;
}

torch::Tensor whole(nsl::Communicator& comm, nsl::EmbeddingLoss& loss, const torch::Tensor& rows) {
  return loss->sharded() && comm.size() > 1 ? comm.all_gather_rows(rows.contiguous()) : rows;
}

struct Steps {
  std::vector<double> losses;
  torch::Tensor weights;  // every network parameter, flattened
  torch::Tensor centers;  // all C rows
  torch::Tensor used;     // the last step's rows to update, all C (sharded with sampling)
};

Steps train_steps(nsl::Communicator& comm, const nsl::Config& cfg, int steps, bool decorrelate) {
  const auto source = nsl::make_train_source(cfg, manifest_of(cfg), comm.rank(), comm.size());
  nsl::ShardEvalSource test(cfg.data.path, manifest_of(cfg), "test", comm.rank(), comm.size());
  nsl::Trainer trainer(cfg, comm, *source, test, 1, options_for(cfg, comm));
  trainer.imprint_centers();
  trainer.begin_epoch(1);
  Steps out;
  for (int i = 0; i < steps; ++i) out.losses.push_back(trainer.train_step());
  if (decorrelate) trainer.decorrelate(1);
  std::vector<torch::Tensor> flat;
  for (const auto& p : trainer.net()->parameters()) flat.push_back(p.detach().flatten());
  out.weights = torch::cat(flat);
  nsl::EmbeddingLoss& loss = trainer.loss();
  out.centers = whole(comm, loss, loss->centers().detach());
  if (loss->sharded()) {
    const torch::Tensor used = loss->rows_to_update(false);
    if (used.defined()) out.used = whole(comm, loss, used.to(torch::kInt64));
  }
  return out;
}

void check_same(const Steps& got, const Steps& want, double tol) {
  BOOST_TEST_REQUIRE(got.losses.size() == want.losses.size());
  for (size_t i = 0; i < got.losses.size(); ++i) {
    BOOST_TEST_INFO("step " << i + 1 << " rank " << world().rank());
    BOOST_TEST(got.losses[i] == want.losses[i], boost::test_tools::tolerance(tol));
  }
  BOOST_TEST((got.weights - want.weights).abs().max().item<double>() < tol);
  BOOST_TEST_REQUIRE(got.centers.sizes().equals(want.centers.sizes()));
  BOOST_TEST((got.centers - want.centers).abs().max().item<double>() < tol);
}

void cleanup(const std::string& dir) {
  world().barrier();
  if (world().rank() == 0) fs::remove_all(dir);
}

}  // namespace

// Every loss with a sharded form: three steps sharded = three steps replicated (1 and 2 ranks).
BOOST_AUTO_TEST_CASE(sharded_equals_replicated_for_every_sharded_loss) {
  const std::string data = shared_dataset();
  for (const std::vector<std::string>& loss :
       {std::vector<std::string>{"loss.decorrelation.mode=none"},
        std::vector<std::string>{"loss.decorrelation.mode=none", "loss.ranking=hinge"},
        std::vector<std::string>{"loss.name=normalized_softmax"}}) {
    BOOST_TEST_CONTEXT(loss.back()) {
      std::vector<std::string> sharded = loss;
      sharded.push_back("loss.centers=sharded");
      const nsl::Config replicated_cfg = config_for(data, loss);
      const nsl::Config sharded_cfg = config_for(data, sharded);
      nsl::LocalCommunicator single;
      check_same(train_steps(single, sharded_cfg, 3, false),
                 train_steps(single, replicated_cfg, 3, false), 1e-5);
      check_same(train_steps(world(), sharded_cfg, 3, false),
                 train_steps(world(), replicated_cfg, 3, false), 1e-5);
    }
  }
  cleanup(data);
}

// Negative sampling: the same classes drawn for one and two ranks, the same results.
BOOST_AUTO_TEST_CASE(sampled_classes_do_not_depend_on_the_world_size) {
  const std::string data = shared_dataset();
  const nsl::Config cfg = config_for(
      data, {"loss.centers=sharded", "loss.sample_rate=0.3", "loss.decorrelation.mode=none"});
  nsl::LocalCommunicator single;
  const Steps one = train_steps(single, cfg, 3, false);
  const Steps two = train_steps(world(), cfg, 3, false);
  BOOST_TEST_REQUIRE(one.used.defined());
  BOOST_TEST_REQUIRE(two.used.defined());
  BOOST_TEST(torch::equal(one.used, two.used));
  BOOST_TEST(one.used.sum().item<int64_t>() < one.used.numel());
  check_same(two, one, 1e-5);
  cleanup(data);
}

// The epoch-end Gram-Schmidt of sharded centers: each rank its own blocks, the same result as one
// process.
BOOST_AUTO_TEST_CASE(sharded_epoch_gs_does_not_depend_on_the_world_size) {
  const std::string data = shared_dataset();
  const nsl::Config cfg =
      config_for(data, {"loss.centers=sharded", "loss.decorrelation.mode=epoch_gs"});
  nsl::LocalCommunicator single;
  check_same(train_steps(world(), cfg, 2, true), train_steps(single, cfg, 2, true), 1e-5);
  cleanup(data);
}

namespace {

std::vector<nsl::EpochMetrics> run_epochs(nsl::Communicator& comm, const nsl::Config& base,
                                          int epochs, const std::string& out, bool resume) {
  nsl::Config cfg = base;
  cfg.train.epochs = epochs;
  const auto source = nsl::make_train_source(cfg, manifest_of(cfg), comm.rank(), comm.size());
  nsl::ShardEvalSource test(cfg.data.path, manifest_of(cfg), "test", comm.rank(), comm.size());
  nsl::TrainerOptions opts = options_for(cfg, comm);
  opts.out_dir = out;
  opts.resume = resume ? "auto" : "";
  nsl::Trainer trainer(cfg, comm, *source, test, 1, opts);
  return trainer.run();
}

}  // namespace

// Checkpoints of sharded centers hold them whole: 2 ranks -> 2 ranks resumes bit for bit; 2 -> 1 ->
// 2 continues within 1e-5 of the run that never stopped.
BOOST_AUTO_TEST_CASE(sharded_checkpoints_resume_at_any_world_size) {
  const std::string data = shared_dataset();
  const fs::path dir =
      fs::path(data).parent_path() / ("nsl_mpi_sharded_runs_" + std::to_string(world().size()));
  if (world().rank() == 0) fs::remove_all(dir);
  world().barrier();
  const nsl::Config cfg = config_for(data, {"loss.centers=sharded", "train.max_steps_per_epoch=3"});
  const auto reference = run_epochs(world(), cfg, 4, (dir / "reference").string(), false);
  BOOST_TEST(reference.size() == 5u);

  run_epochs(world(), cfg, 2, (dir / "same").string(), false);
  const auto same = run_epochs(world(), cfg, 4, (dir / "same").string(), true);
  // Rank 0 also returns the epochs before the resume (from metrics.jsonl); every rank the others.
  BOOST_TEST(same.back().epoch == 4);
  for (const auto& m : same) {
    BOOST_TEST_INFO("epoch " << m.epoch << " rank " << world().rank());
    BOOST_TEST(m.loss == reference.at(static_cast<size_t>(m.epoch)).loss);
    BOOST_TEST(m.center_cos_mean == reference.at(static_cast<size_t>(m.epoch)).center_cos_mean);
  }

  run_epochs(world(), cfg, 2, (dir / "other").string(), false);
  if (world().rank() == 0) {
    nsl::LocalCommunicator single;
    const auto middle = run_epochs(single, cfg, 3, (dir / "other").string(), true);
    BOOST_TEST(middle.back().epoch == 3);
    BOOST_TEST(middle.back().loss == reference.at(3).loss, boost::test_tools::tolerance(1e-5));
  }
  world().barrier();
  const auto other = run_epochs(world(), cfg, 4, (dir / "other").string(), true);
  BOOST_TEST(other.back().epoch == 4);
  for (const auto& m : other) {
    BOOST_TEST_INFO("epoch " << m.epoch << " rank " << world().rank());
    BOOST_TEST(m.loss == reference.at(static_cast<size_t>(m.epoch)).loss,
               boost::test_tools::tolerance(1e-5));
  }
  world().barrier();
  if (world().rank() == 0) fs::remove_all(dir);
  cleanup(data);
}
