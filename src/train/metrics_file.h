#pragma once
// RUN/metrics.jsonl, the one place that knows its format: one JSON object per evaluated epoch
// (EpochMetrics as to_json writes it), appended by MetricsLog (train/metrics_log.h) as training
// goes. Read by the trainer when it resumes, by `nsl_dist report` and by the benchmark tables, all
// through read_metrics_file: tolerant of what a crash can leave (a cut last line), strict about
// nothing else.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "eval/evaluator.h"

namespace nsl {

struct EpochMetrics {
  int64_t epoch = 0;           // 0: the untrained network
  double loss = 0.0;           // mean loss over the epoch's steps (epoch 0: forward only)
  RetrievalMetrics retrieval;  // on the test split (against the gallery split when there is one)
  double images_per_s = 0.0;   // global training (epoch 0: forward-only) throughput
  double seconds = 0.0;        // wall time of the epoch, evaluation included
  int64_t steps = 0;
  int64_t gs_groups = 0;  // Gram-Schmidt groups at this epoch's end (0: none)
  // Mean and max |cos| between distinct class centers after the epoch (and its decorrelation);
  // NaN for losses without centers.
  double center_cos_mean = std::numeric_limits<double>::quiet_NaN();
  double center_cos_max = std::numeric_limits<double>::quiet_NaN();
  int64_t idle_batches = 0;  // (rank, step) batches whose loss found no pair or triplet to use
};

nlohmann::json to_json(const EpochMetrics& m);
// Inverse of to_json; throws std::exception (nlohmann or std::invalid_argument) on a line that is
// not one.
EpochMetrics epoch_metrics_from_json(const nlohmann::json& j);

struct MetricsLines {
  std::vector<nlohmann::json> epochs;  // by increasing "epoch"; a later line of an epoch wins
  std::vector<std::string> skipped;    // "FILE:LINE: why" of each line left out
};

// Every line of `file` that is a JSON object with an integer "epoch" (blank lines ignored, others
// listed in `skipped`: a line cut short by a crash, say). A missing file gives no lines.
MetricsLines read_metrics_file(const std::filesystem::path& file);

// The K of every "recall@K" key (K a positive integer) of the objects, increasing, once each.
std::vector<int64_t> recall_ks(const std::vector<nlohmann::json>& epochs);

// The number under `key`, or nothing when it is absent or not a number (NaN is written as null).
std::optional<double> metric(const nlohmann::json& epoch, const std::string& key);

// Replaces `file` atomically with the given lines (the trainer keeps the epochs before the one
// it resumes at).
void rewrite_metrics_file(const std::filesystem::path& file,
                          const std::vector<nlohmann::json>& epochs);

}  // namespace nsl
