// nsl_dist embed: one split of a dataset through a checkpoint's network into an embeddings file
// (data/embedding_file.h). Under mpirun each rank embeds its shards, the rows are gathered in
// global index order and rank 0 writes the file (temporary file + rename).
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

#include "common/error.h"
#include "data/embedding_file.h"
#include "data/eval_sources.h"
#include "data/manifest.h"
#include "data/prefetch_loader.h"
#include "data/shard_batch_source.h"
#include "data/shard_checks.h"
#include "data/shard_reader.h"
#include "eval/embed.h"
#include "launch/checkpoint_model.h"
#include "launch/commands.h"
#include "launch/job_context.h"
#include "launch/threads.h"

namespace nsl {

namespace {

namespace fs = std::filesystem;

std::string absolute(const std::string& path) {
  return fs::absolute(path).lexically_normal().string();
}

// The split's sample paths in global index order (shard by shard), read by rank 0 only.
std::vector<std::string> split_paths(const std::string& dir, const Manifest& m,
                                     const std::string& split) {
  std::vector<std::string> paths;
  const auto& sp = manifest_split(m, split, dir);
  for (size_t s = 0; s < sp.shards.size(); ++s) {
    ShardFile file = open_checked_shard(dir, m, split, static_cast<int64_t>(s));
    const std::vector<std::string> p = file.read_paths();
    paths.insert(paths.end(), p.begin(), p.end());
  }
  return paths;
}

}  // namespace

void add_embed_command(CLI::App& app, EmbedArgs& args) {
  CLI::App* cmd = app.add_subcommand(
      "embed",
      "embed a dataset split with a checkpoint into an HDF5 file (run under mpirun for "
      "several ranks)");
  cmd->add_option("--checkpoint", args.checkpoint, kCheckpointOptionHelp)->required();
  cmd->add_option("--data", args.data,
                  "dataset folder holding manifest.json (default: the checkpoint config's "
                  "data.path)");
  cmd->add_option("--split", args.split,
                  "split to embed, any split of the manifest (default: the config's "
                  "data.test_split)");
  cmd->add_option("--out", args.out, "embeddings file to write (.h5)")->required();
  cmd->add_option("--set", args.overrides, "override a key of the checkpoint's config")
      ->allow_extra_args(false);
  cmd->add_option("--batch-size", args.batch_size,
                  "images per forward pass (default: the config's eval.batch_size)");
}

int run_embed(const EmbedArgs& args, JobContext& job) {
  const auto start = std::chrono::steady_clock::now();
  if (args.batch_size < 0)
    throw ConfigError("--batch-size must be positive, got " + std::to_string(args.batch_size));
  std::vector<std::string> notes;
  CheckpointModel m = load_checkpoint_model(args.checkpoint, args.overrides, torch::kCPU, &notes);
  const std::string data = args.data.empty() ? m.config.data.path : args.data;
  const std::string split = args.split.empty() ? m.config.data.test_split : args.split;
  const int64_t batch_size = args.batch_size > 0 ? args.batch_size : m.config.eval.batch_size;
  if (data.empty() || !fs::is_directory(data))
    throw DataError("dataset folder '" + data + "'" +
                    (args.data.empty() ? " (data.path of the checkpoint's config)" : "") +
                    " does not exist: pass --data DIR (a folder holding manifest.json)");
  const Manifest manifest = read_manifest(data);
  const Manifest::Split& sp = manifest_split(manifest, split, data);
  if (manifest.channels != m.in_channels)
    throw DataError("dataset '" + data + "' holds " + std::to_string(manifest.channels) +
                    "-channel images but the checkpoint '" + m.dir.string() + "' was trained on " +
                    std::to_string(m.in_channels) +
                    "-channel images: embed a dataset prepared with --channels " +
                    std::to_string(m.in_channels));

  Communicator& comm = job.start_communicator(m.config.dist.backend);
  comm.set_timeout(m.config.dist.timeout_s);
  apply_thread_settings(threads_per_rank(m.config.train.threads_per_rank, comm.local_size()));
  m.net->to(comm.device());
  if (comm.is_root()) {
    for (const std::string& note : notes) std::printf("# %s\n", note.c_str());
    std::printf(
        "# nsl_dist embed: checkpoint %s (epoch %lld step %lld, global step %lld, config hash "
        "%s), %d rank(s) over %s\n",
        m.dir.string().c_str(), static_cast<long long>(m.info.value("epoch", int64_t{0})),
        static_cast<long long>(m.info.value("step", int64_t{0})),
        static_cast<long long>(m.info.value("global_step", int64_t{0})),
        m.info.value("config_hash", std::string()).c_str(), comm.size(), comm.backend().c_str());
    std::printf("# data %s split %s: %lld images, %lld classes, %lldx%lldx%lld\n", data.c_str(),
                split.c_str(), static_cast<long long>(sp.num_images),
                static_cast<long long>(sp.num_classes), static_cast<long long>(manifest.height),
                static_cast<long long>(manifest.width), static_cast<long long>(manifest.channels));
    std::fflush(stdout);
  }

  ShardEvalSource source(data, manifest, split, comm.rank(), comm.size(), eval_transform(m.config));
  const SplitEmbeddings local = embed_local(m.net, source, batch_size);
  const SplitEmbeddings all = gather_embeddings(comm, local);
  if (comm.is_root()) {
    EmbeddingFile f;
    f.embeddings = all.unit.to(torch::kFloat32).contiguous();
    f.labels = all.labels;
    f.indices = all.indices;
    f.paths = split_paths(data, manifest, split);
    f.class_names = sp.class_names;
    f.split = split;
    f.dataset = manifest.name;
    f.dataset_path = absolute(data);
    f.source_root = manifest.source.value("root", std::string());
    f.checkpoint = absolute(m.dir.string());
    f.epoch = m.info.value("epoch", int64_t{0});
    f.step = m.info.value("step", int64_t{0});
    f.global_step = m.info.value("global_step", int64_t{0});
    f.config_hash = m.info.value("config_hash", std::string());
    f.weights_fnv1a64 = m.info.value("weights_fnv1a64", std::string());
    f.image_size = manifest.height;
    f.channels = manifest.channels;
    f.bbox_crop = manifest.source.value("bbox_crop", false);
    if (f.size() != static_cast<int64_t>(f.paths.size()))
      throw DataError("dataset '" + data + "' split '" + split + "': " + std::to_string(f.size()) +
                      " images embedded but " + std::to_string(f.paths.size()) +
                      " paths in its shards; re-run the converter (nsl_dist prep)");
    write_embedding_file(args.out, f);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf(
        "wrote %s: %lld x %lld float32 embeddings of split %s (%zu classes), fingerprint "
        "%s, in %.1f s\n",
        args.out.c_str(), static_cast<long long>(f.size()), static_cast<long long>(f.dim()),
        split.c_str(), f.class_names.size(), f.fingerprint.c_str(), seconds);
    std::fflush(stdout);
  }
  // Every rank leaves together: a failed write on rank 0 ends the job through main()'s handler.
  comm.barrier();
  return kExitOk;
}

}  // namespace nsl
