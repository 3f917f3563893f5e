// nsl_dist report: RUN/report/index.html with the results table, the training curves (gnuplot) and
// a retrieval gallery of the run's newest checkpoint on the test split.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "common/atomic_file.h"
#include "common/error.h"
#include "config/config.h"
#include "data/eval_sources.h"
#include "data/manifest.h"
#include "data/shard_batch_source.h"
#include "eval/embed.h"
#include "launch/checkpoint_model.h"
#include "launch/commands.h"
#include "launch/report/gallery.h"
#include "launch/report/html.h"
#include "launch/report/plots.h"
#include "launch/report/report_data.h"
#include "launch/threads.h"

namespace nsl {
namespace fs = std::filesystem;

void add_report_command(CLI::App& app, ReportArgs& args) {
  CLI::App* cmd = app.add_subcommand(
      "report",
      "write RUN/report/index.html: results table, training curves (gnuplot) and a retrieval "
      "gallery of the newest checkpoint");
  cmd->add_option("--run", args.run, "run folder (the --out of nsl_dist train)")->required();
  cmd->add_option("--data", args.data, "dataset folder (default: data.path of the run's config)");
  cmd->add_option("--queries", args.queries, "gallery queries sampled from the test split")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{500}));
  cmd->add_option("--k", args.k, "neighbours shown per query")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{64}));
  cmd->add_option("--seed", args.seed, "seed of the query sampling")->capture_default_str();
  cmd->add_option("--set", args.overrides,
                  "override a key of the run's config: --set eval.batch_size=64");
}

int run_report(const ReportArgs& args) {
  const auto start = std::chrono::steady_clock::now();
  const fs::path run(args.run);
  report::ReportPage page;
  page.run_dir = args.run;
  page.metrics = report::read_run_metrics(run);
  for (const std::string& line : page.metrics.skipped) page.notes.push_back("left out " + line);
  const fs::path gnuplot = report::find_gnuplot();

  std::vector<std::string> overrides = args.overrides;
  if (!args.data.empty()) overrides.push_back("data.path=" + args.data);
  CheckpointModel model = load_checkpoint_model(args.run, overrides, torch::kCPU, &page.notes);
  const Config& config = model.config;
  page.checkpoint = model.dir.string();
  page.checkpoint_epoch = model.info.value("epoch", int64_t{-1});
  page.checkpoint_step = model.info.value("step", int64_t{0});
  page.config_hash = model.info.value("config_hash", std::string("?"));
  page.config_text = to_yaml(config);
  page.dataset_dir = config.data.path;
  for (const std::string& note : page.notes) std::printf("# %s\n", note.c_str());

  if (!fs::is_directory(config.data.path)) {
    throw DataError("dataset folder '" + config.data.path + "' (" +
                    (args.data.empty() ? "data.path of the run's config" : "--data") +
                    ") does not exist" +
                    (fs::path(config.data.path).is_relative()
                         ? " (relative to " + fs::current_path().string() + ")"
                         : std::string()) +
                    ": pass the dataset the run was trained on with --data DIR");
  }
  const Manifest manifest = read_manifest(config.data.path);
  if (manifest.channels != model.in_channels) {
    throw DataError("dataset '" + config.data.path + "' has " + std::to_string(manifest.channels) +
                    "-channel images, the checkpoint's network takes " +
                    std::to_string(model.in_channels) +
                    ": pass the dataset the run was trained on with --data DIR");
  }
  apply_thread_settings(threads_per_rank(config.train.threads_per_rank, 1));

  const fs::path target = run / "report";
  FolderDraft scratch(target, kExitData);
  page.plots = report::write_plots(page.metrics, scratch.path(), gnuplot);

  ShardEvalSource test(config.data.path, manifest, config.data.test_split, 0, 1,
                       eval_transform(config));
  SplitEmbeddings e = embed_local(model.net, test, config.eval.batch_size);
  const torch::Tensor order = e.indices.argsort();
  const torch::Tensor unit = e.unit.index_select(0, order).contiguous();
  const torch::Tensor labels = e.labels.index_select(0, order).contiguous();
  report::GalleryOptions gallery;
  gallery.queries = args.queries;
  gallery.k = args.k;
  gallery.seed = args.seed;
  page.gallery = report::build_gallery(unit, labels, config.data.path, manifest,
                                       config.data.test_split, gallery, scratch.path());

  const fs::path html = scratch.path() / "index.html";
  {
    std::ofstream out(html);
    out << report::render_html(page);
    out.flush();
    if (!out) {
      throw DataError("cannot write '" + html.string() +
                      "': check the free space and permissions of the run folder");
    }
  }
  scratch.publish();

  int64_t top1 = 0;
  for (const auto& row : page.gallery.rows) top1 += row.neighbours.front().correct;
  const nlohmann::json& last = page.metrics.epochs.back();
  const auto r1 = report::metric(last, "recall@1");
  char r1_text[32] = "n/a";
  if (r1) std::snprintf(r1_text, sizeof r1_text, "%.2f%%", 100.0 * *r1);
  std::printf("epoch %lld: R@1 %s; gallery: %zu queries x %lld neighbours, %lld correct first\n",
              static_cast<long long>(last["epoch"].get<int64_t>()), r1_text,
              page.gallery.rows.size(), static_cast<long long>(page.gallery.k),
              static_cast<long long>(top1));
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("wrote %s in %.1f s\n", (target / "index.html").string().c_str(), s);
  return 0;
}

}  // namespace nsl
