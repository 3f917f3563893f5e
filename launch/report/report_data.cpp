#include "launch/report/report_data.h"

#include <algorithm>
#include <fstream>
#include <map>

#include "common/error.h"

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
  std::ifstream in(m.file);
  if (!in) throw DataError("cannot read '" + m.file.string() + "': check its permissions");
  std::map<int64_t, nlohmann::json> by_epoch;
  std::string line;
  int64_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = m.file.string() + ":" + std::to_string(number);
    nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object()) {
      throw DataError(where +
                      ": not a JSON object (a line cut off by a crash?): delete the line or "
                      "train again");
    }
    if (!j.contains("epoch") || !j["epoch"].is_number_integer()) {
      throw DataError(where + ": no integer \"epoch\": not a metrics line of nsl_dist train");
    }
    const auto epoch = j["epoch"].get<int64_t>();
    by_epoch[epoch] = std::move(j);
  }
  if (by_epoch.empty()) {
    throw DataError("'" + m.file.string() +
                    "' records no epoch yet: wait for the evaluation of epoch 0, or train first");
  }
  std::vector<int64_t> ks;
  for (auto& [epoch, j] : by_epoch) {
    for (const auto& [key, value] : j.items()) {
      if (key.rfind("recall@", 0) != 0) continue;
      try {
        size_t used = 0;
        const int64_t k = std::stoll(key.substr(7), &used);
        if (used == key.size() - 7 && k > 0) ks.push_back(k);
      } catch (const std::exception&) {
        // Not recall@<integer>: not a column of the report.
      }
    }
    m.epochs.push_back(std::move(j));
  }
  std::sort(ks.begin(), ks.end());
  ks.erase(std::unique(ks.begin(), ks.end()), ks.end());
  m.recall_ks = ks;
  return m;
}

std::optional<double> metric(const nlohmann::json& epoch, const std::string& key) {
  const auto it = epoch.find(key);
  if (it == epoch.end() || !it->is_number()) return std::nullopt;
  return it->get<double>();
}

bool any_epoch_has(const RunMetrics& m, const std::string& key) {
  return std::any_of(m.epochs.begin(), m.epochs.end(),
                     [&](const nlohmann::json& e) { return metric(e, key).has_value(); });
}

}  // namespace nsl::report
