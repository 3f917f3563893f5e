// nsl_dist eval: a checkpoint's retrieval metrics on its dataset's test split, with any number of
// ranks (the evaluation code the trainer runs after every epoch).
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "common/atomic_file.h"
#include "common/error.h"
#include "data/eval_sources.h"
#include "data/manifest.h"
#include "eval/evaluate_model.h"
#include "launch/checkpoint_model.h"
#include "launch/commands.h"
#include "launch/job_context.h"
#include "launch/metrics_table.h"
#include "launch/threads.h"

namespace nsl {
namespace {

nlohmann::json metrics_json(const RetrievalMetrics& m, const CheckpointModel& model) {
  nlohmann::json j;
  j["checkpoint"] = model.dir.string();
  j["epoch"] = model.info.value("epoch", int64_t{0});
  j["step"] = model.info.value("step", int64_t{0});
  j["config_hash"] = model.info.value("config_hash", "");
  add_retrieval_fields(j, m);
  return j;
}

void write_json(const std::string& path, const nlohmann::json& j) {
  write_text_atomically(path, j.dump(2) + "\n");
}

}  // namespace

void add_eval_command(CLI::App& app, EvalArgs& args) {
  CLI::App* cmd = app.add_subcommand(
      "eval",
      "Recall@K, MAP@R, R-Precision and NMI of a checkpoint (run under mpirun to split it)");
  cmd->add_option("--checkpoint", args.checkpoint, kCheckpointOptionHelp)->required();
  cmd->add_option("--data", args.data, "dataset folder (default: the checkpoint's data.path)");
  cmd->add_option("--set", args.overrides,
                  "override a key of the stored config: --set eval.nmi=false")
      ->allow_extra_args(false);
  cmd->add_option("--json", args.json, "also write the metrics as JSON to this file (rank 0)");
}

int run_eval(const EvalArgs& args, JobContext& job) {
  std::vector<std::string> overrides = args.overrides;
  if (!args.data.empty()) overrides.push_back("data.path=" + args.data);
  std::vector<std::string> notes;
  CheckpointModel model = load_checkpoint_model(args.checkpoint, overrides, torch::kCPU, &notes);
  Config& config = model.config;
  const Manifest manifest = read_manifest(config.data.path);
  config.eval.recall_k = resolve_recall_k(config, manifest);
  Communicator& comm = job.start_communicator(config.dist.backend);
  comm.set_timeout(config.dist.timeout_s);
  apply_thread_settings(threads_per_rank(config.train.threads_per_rank, comm.local_size()));
  model.net->to(comm.device());
  // A checkpoint {epoch e, step 0} was taken at the end of epoch e - 1 (epoch 0: untrained).
  const int64_t epoch = model.info.value("epoch", int64_t{0});
  const int64_t step = model.info.value("step", int64_t{0});
  const std::string label =
      step > 0 ? "epoch " + std::to_string(epoch) + "." + std::to_string(step)
               : (epoch <= 1 ? std::string("untrained") : "epoch " + std::to_string(epoch - 1));
  if (comm.is_root()) {
    for (const std::string& n : notes) std::printf("# %s\n", n.c_str());
    std::printf("# nsl_dist eval: %s (%s, config %s) on %s split '%s', %d rank(s)\n",
                model.dir.string().c_str(), label.c_str(),
                model.info.value("config_hash", "?").c_str(), config.data.path.c_str(),
                config.data.test_split.c_str(), comm.size());
    std::fflush(stdout);
  }
  const auto start = std::chrono::steady_clock::now();
  const EvalSplits eval = open_eval_splits(config, manifest, comm.rank(), comm.size());
  const RetrievalMetrics m =
      evaluate_model(comm, model.net, *eval.test, eval.gallery.get(), config);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (comm.is_root()) {
    print_retrieval_table({{label, m}});
    std::printf("evaluated in %.1f s\n", seconds);
    if (!args.json.empty()) write_json(args.json, metrics_json(m, model));
    std::fflush(stdout);
  }
  return kExitOk;
}

}  // namespace nsl
