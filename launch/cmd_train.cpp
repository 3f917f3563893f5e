// nsl_dist train: validate config and data, start the communicator, train, print the Recall table.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "common/error.h"
#include "config/config.h"
#include "data/dataset_checks.h"
#include "data/eval_sources.h"
#include "data/manifest.h"
#include "data/shard_batch_source.h"
#include "data/train_source.h"
#include "launch/commands.h"
#include "launch/job_context.h"
#include "launch/metrics_table.h"
#include "launch/preemption.h"
#include "launch/threads.h"
#include "train/trainer.h"

namespace nsl {
namespace {

struct DatasetSummary {
  Manifest manifest;
  int64_t channels = 1;
  std::vector<std::string> warnings;
};

DatasetSummary check_dataset(const Config& config) {
  if (!std::filesystem::is_directory(config.data.path)) {
    throw DataError("dataset folder '" + config.data.path +
                    "' (config key data.path) does not exist: create it with `nsl_dist synth "
                    "--out " +
                    config.data.path + "` or point data.path at a prepared dataset");
  }
  DatasetSummary s;
  s.manifest = read_manifest(config.data.path);
  manifest_split(s.manifest, config.data.train_split, config.data.path);
  manifest_split(s.manifest, config.data.test_split, config.data.path);
  if (!config.data.gallery_split.empty()) {
    manifest_split(s.manifest, config.data.gallery_split, config.data.path);
  }
  verify_dataset(config.data.path, s.manifest);
  s.warnings = check_training_data(config.data.path, s.manifest, config.data.train_split,
                                   config.data.test_split);
  s.channels = s.manifest.channels;
  return s;
}

void print_dataset(const DatasetSummary& s, const Config& c) {
  for (const std::string& split : {c.data.train_split, c.data.test_split}) {
    const auto& sp = manifest_split(s.manifest, split, c.data.path);
    std::printf("# data %-5s %lld classes, %lld images, %zu shards, %lldx%lldx%lld\n",
                split.c_str(), static_cast<long long>(sp.num_classes),
                static_cast<long long>(sp.num_images), sp.shards.size(),
                static_cast<long long>(s.manifest.height), static_cast<long long>(s.manifest.width),
                static_cast<long long>(s.manifest.channels));
  }
  for (const std::string& w : s.warnings) std::printf("# warning: %s\n", w.c_str());
}

void print_results(const std::vector<EpochMetrics>& history) {
  const EpochMetrics& first = history.front();
  const EpochMetrics& last = history.back();
  print_retrieval_table(
      {{first.epoch == 0 ? "untrained" : "epoch " + std::to_string(first.epoch), first.retrieval},
       {"epoch " + std::to_string(last.epoch), last.retrieval}});
  const double r0 = first.retrieval.recall.front();
  const double r1 = last.retrieval.recall.front();
  if (r0 > 0) {
    std::printf("Recall@%lld: %.2f%% untrained -> %.2f%% trained (%.1fx)\n",
                static_cast<long long>(last.retrieval.ks.front()), 100 * r0, 100 * r1, r1 / r0);
  }
  std::fflush(stdout);
}

}  // namespace

void add_train_command(CLI::App& app, TrainArgs& args) {
  CLI::App* cmd = app.add_subcommand("train", "train a model (run under mpirun for several ranks)");
  cmd->add_option("--config", args.config, "YAML config file")->required();
  cmd->add_option("--set", args.overrides, "override a config key: --set train.lr=0.01")
      ->allow_extra_args(false);
  cmd->add_option("--out", args.out, "run folder: metrics.jsonl, checkpoints/")
      ->capture_default_str();
  cmd->add_flag("--dry-run", args.dry_run,
                "validate the config and the data it names, print the resolved config, exit");
  cmd->add_flag("--quiet", args.quiet, "no progress line");
  cmd->add_option("--resume", args.resume,
                  "none | auto (the newest valid checkpoint under OUT/checkpoints, falling back "
                  "to older ones; a fresh start when there is none) | a checkpoint folder")
      ->capture_default_str();
}

int run_train(const TrainArgs& args, JobContext& job) {
  Config config = load_config(args.config, args.overrides);
  const DatasetSummary data = check_dataset(config);
  config.eval.recall_k = resolve_recall_k(config, data.manifest);
  if (args.dry_run) {
    std::cout << "# resolved config (hash " << config_hash(config) << ")\n" << to_yaml(config);
    print_dataset(data, config);
    if (!config.model.pretrained.empty()) {
      EmbeddingNet net(config.model, data.channels);
      const LoadReport r = net->load_backbone_weights(config.model.pretrained);
      std::cout << "# pretrained: " << r.loaded << " tensors fit the model (" << r.ignored.size()
                << " classifier tensors ignored)\n";
    }
    std::cout << "# dry run: config and data are valid; nothing was trained\n";
    return kExitOk;
  }

  Communicator& comm = job.start_communicator(config.dist.backend);
  comm.set_timeout(config.dist.timeout_s);
  const std::atomic<int>& stop_signal = install_preemption_handlers();
  const int64_t threads = threads_per_rank(config.train.threads_per_rank, comm.local_size());
  apply_thread_settings(threads);
  if (comm.is_root()) {
    std::printf("# nsl_dist train: %d rank(s) over %s, %lld thread(s) per rank, config hash %s\n",
                comm.size(), comm.backend().c_str(), static_cast<long long>(threads),
                config_hash(config).c_str());
    print_dataset(data, config);
    std::fflush(stdout);
  }

  const std::unique_ptr<TrainBatchSource> train =
      make_train_source(config, data.manifest, comm.rank(), comm.size());
  const EvalSplits eval = open_eval_splits(config, data.manifest, comm.rank(), comm.size());

  TrainerOptions options;
  options.out_dir = args.out;
  options.show_progress = !args.quiet;
  options.resume = args.resume;
  options.stop_signal = &stop_signal;
  options.gallery = eval.gallery.get();
  options.open_train_samples = [&config, &comm, &data]() -> std::unique_ptr<EvalSource> {
    return std::make_unique<ShardEvalSource>(config.data.path, data.manifest,
                                             config.data.train_split, comm.rank(), comm.size(),
                                             eval_transform(config));
  };
  options.on_note = [](const std::string& text) {
    std::printf("# %s\n", text.c_str());
    std::fflush(stdout);
  };
  options.on_epoch = [&comm](const EpochMetrics& m) {
    if (!comm.is_root()) return;
    char centers[64] = "";
    if (!std::isnan(m.center_cos_mean)) {
      std::snprintf(centers, sizeof(centers), "  centers |cos| %.3f (max %.3f)", m.center_cos_mean,
                    m.center_cos_max);
    }
    std::printf("epoch %3lld  loss %.4f  R@1 %.2f%%  MAP@R %.2f%%  %.1f img/s  %.1f s%s%s\n",
                static_cast<long long>(m.epoch), m.loss, 100.0 * m.retrieval.recall.front(),
                100.0 * m.retrieval.map_at_r, m.images_per_s, m.seconds, centers,
                m.epoch == 0 ? "  (untrained)" : "");
    std::fflush(stdout);
  };
  Trainer trainer(config, comm, *train, *eval.test, data.channels, options);
  if (comm.is_root() && !config.model.pretrained.empty()) {
    std::printf("# pretrained: %lld tensors from %s (%zu classifier tensors ignored)\n",
                static_cast<long long>(trainer.pretrained().loaded),
                config.model.pretrained.c_str(), trainer.pretrained().ignored.size());
  }
  if (comm.is_root() && trainer.loss()->uses_epoch_gs() &&
      train->num_classes() > config.model.embedding_dim) {
    std::printf("# epoch_gs: %lld classes > d = %lld: block-wise Gram-Schmidt in seeded groups\n",
                static_cast<long long>(train->num_classes()),
                static_cast<long long>(config.model.embedding_dim));
  }
  const std::vector<EpochMetrics> history = trainer.run();
  if (comm.is_root()) {
    if (history.size() >= 2) print_results(history);
    std::printf(
        "metrics: %s/metrics.jsonl  checkpoint: %s\n", args.out.c_str(),
        trainer.last_checkpoint().empty() ? "(none written)" : trainer.last_checkpoint().c_str());
  }
  return kExitOk;
}

}  // namespace nsl
