#include "launch/report/report_data.h"

#include <algorithm>

#include "common/error.h"
#include "train/metrics_file.h"

namespace nsl::report {
namespace fs = std::filesystem;

RunMetrics read_run_metrics(const fs::path& run_dir) {
  if (!fs::is_directory(run_dir)) {
    throw DataError("run folder '" + run_dir.string() +
                    "' does not exist: give the --out folder of a `nsl_dist train` run");
  }
  RunMetrics m;
  m.file = run_dir / "metrics.jsonl";
  if (!fs::is_regular_file(m.file)) {
    throw DataError("run folder '" + run_dir.string() +
                    "' has no metrics.jsonl: train first (`nsl_dist train --config FILE --out " +
                    run_dir.string() + "`)");
  }
  MetricsLines lines = read_metrics_file(m.file);
  if (lines.epochs.empty()) {
    throw DataError("'" + m.file.string() +
                    "' records no epoch yet: wait for the evaluation of epoch 0, or train first" +
                    (lines.skipped.empty() ? "" : " (" + lines.skipped.front() + ")"));
  }
  m.epochs = std::move(lines.epochs);
  m.skipped = std::move(lines.skipped);
  m.recall_ks = recall_ks(m.epochs);
  return m;
}

bool any_epoch_has(const RunMetrics& m, const std::string& key) {
  return std::any_of(m.epochs.begin(), m.epochs.end(),
                     [&](const nlohmann::json& e) { return metric(e, key).has_value(); });
}

}  // namespace nsl::report
