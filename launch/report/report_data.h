#pragma once
// nsl_dist report: a training run's metrics.jsonl, read back for the report's tables and curves.
#include <nlohmann/json.hpp>

#include "train/metrics_file.h"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace nsl::report {

struct RunMetrics {
  std::filesystem::path file;          // RUN/metrics.jsonl
  std::vector<nlohmann::json> epochs;  // one object per epoch, by increasing "epoch"
  std::vector<int64_t> recall_ks;      // the K of every "recall@K" key present, increasing
  std::vector<std::string> skipped;    // "FILE:LINE: why" of lines left out (cut by a crash)
};

// Reads RUN/metrics.jsonl with read_metrics_file (train/metrics_file.h): a line that is not a
// metrics line (cut short by a crash) is left out and listed in `skipped`. Throws DataError naming
// the folder or file when the folder or the file is missing or no epoch was recorded.
RunMetrics read_run_metrics(const std::filesystem::path& run_dir);

using nsl::metric;  // the number under a key of an epoch's object (train/metrics_file.h)

// Whether any epoch holds a number under `key`.
bool any_epoch_has(const RunMetrics& m, const std::string& key);

}  // namespace nsl::report
