#pragma once
// nsl_dist report: a training run's metrics.jsonl, read back for the report's tables and curves.
#include <nlohmann/json.hpp>

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
};

// Reads RUN/metrics.jsonl. Blank lines are skipped; a later line for the same epoch replaces an
// earlier one. Throws DataError naming the folder or file:line when the folder or the file is
// missing, a line is not a JSON object with an integer "epoch", or no epoch was recorded.
RunMetrics read_run_metrics(const std::filesystem::path& run_dir);

// The number stored under `key`, or nothing when the key is absent or not a number (a metric the
// run did not record, or a NaN written as null).
std::optional<double> metric(const nlohmann::json& epoch, const std::string& key);

// Whether any epoch holds a number under `key`.
bool any_epoch_has(const RunMetrics& m, const std::string& key);

}  // namespace nsl::report
