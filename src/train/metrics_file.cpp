#include "train/metrics_file.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <stdexcept>

#include "common/atomic_file.h"

namespace nsl {
namespace {

constexpr const char* kRecallPrefix = "recall@";

// K of a "recall@K" key, or nothing for any other key.
std::optional<int64_t> recall_k_of(const std::string& key) {
  const size_t prefix = std::char_traits<char>::length(kRecallPrefix);
  if (key.rfind(kRecallPrefix, 0) != 0 || key.size() == prefix) return std::nullopt;
  if (key.find_first_not_of("0123456789", prefix) != std::string::npos) return std::nullopt;
  if (key.size() - prefix > 15) return std::nullopt;
  const int64_t k = std::stoll(key.substr(prefix));
  return k > 0 ? std::optional<int64_t>(k) : std::nullopt;
}

}  // namespace

nlohmann::json to_json(const EpochMetrics& m) {
  nlohmann::json j;
  j["epoch"] = m.epoch;
  j["loss"] = m.loss;
  add_retrieval_fields(j, m.retrieval);
  j["images_per_s"] = m.images_per_s;
  j["seconds"] = m.seconds;
  j["steps"] = m.steps;
  j["gs_groups"] = m.gs_groups;
  j["idle_batches"] = m.idle_batches;
  if (!std::isnan(m.center_cos_mean)) {
    j["center_cos_mean"] = m.center_cos_mean;
    j["center_cos_max"] = m.center_cos_max;
  }
  return j;
}

EpochMetrics epoch_metrics_from_json(const nlohmann::json& j) {
  EpochMetrics m;
  // A float would be cast to an integer unchecked (undefined out of range); callers catch this.
  if (!j.at("epoch").is_number_integer()) throw std::invalid_argument("epoch is not an integer");
  m.epoch = j.at("epoch").get<int64_t>();
  m.loss = j.at("loss").get<double>();
  m.images_per_s = j.value("images_per_s", 0.0);
  m.seconds = j.value("seconds", 0.0);
  m.steps = j.value("steps", int64_t{0});
  RetrievalMetrics& r = m.retrieval;
  r.queries = j.value("queries", int64_t{0});
  r.lone_queries = j.value("lone_queries", int64_t{0});
  r.gallery = j.value("gallery", int64_t{0});
  r.map_at_r = j.value("map@r", 0.0);
  r.r_precision = j.value("r_precision", 0.0);
  r.nmi = metric(j, "nmi").value_or(std::numeric_limits<double>::quiet_NaN());
  m.gs_groups = j.value("gs_groups", int64_t{0});
  m.idle_batches = j.value("idle_batches", int64_t{0});
  m.center_cos_mean =
      metric(j, "center_cos_mean").value_or(std::numeric_limits<double>::quiet_NaN());
  m.center_cos_max = metric(j, "center_cos_max").value_or(std::numeric_limits<double>::quiet_NaN());
  r.ks = recall_ks({j});
  for (int64_t k : r.ks) r.recall.push_back(j.at(kRecallPrefix + std::to_string(k)).get<double>());
  return m;
}

MetricsLines read_metrics_file(const std::filesystem::path& file) {
  MetricsLines out;
  std::ifstream in(file);
  if (!in) return out;
  std::map<int64_t, nlohmann::json> by_epoch;
  std::string line;
  int64_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = file.string() + ":" + std::to_string(number);
    nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object()) {
      out.skipped.push_back(where + ": not a JSON object (a line cut short by a crash?)");
    } else if (!j.contains("epoch") || !j["epoch"].is_number_integer()) {
      out.skipped.push_back(where + ": no integer \"epoch\"");
    } else {
      const auto epoch = j["epoch"].get<int64_t>();
      by_epoch[epoch] = std::move(j);
    }
  }
  for (auto& [epoch, j] : by_epoch) out.epochs.push_back(std::move(j));
  return out;
}

std::vector<int64_t> recall_ks(const std::vector<nlohmann::json>& epochs) {
  std::vector<int64_t> ks;
  for (const auto& j : epochs) {
    for (const auto& [key, value] : j.items()) {
      if (const auto k = recall_k_of(key)) ks.push_back(*k);
    }
  }
  std::sort(ks.begin(), ks.end());
  ks.erase(std::unique(ks.begin(), ks.end()), ks.end());
  return ks;
}

std::optional<double> metric(const nlohmann::json& epoch, const std::string& key) {
  const auto it = epoch.find(key);
  if (it == epoch.end() || !it->is_number()) return std::nullopt;
  return it->get<double>();
}

void rewrite_metrics_file(const std::filesystem::path& file,
                          const std::vector<nlohmann::json>& epochs) {
  std::string text;
  for (const auto& j : epochs) text += j.dump() + '\n';
  write_text_atomically(file, text);
}

}  // namespace nsl
