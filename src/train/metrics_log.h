#pragma once
// DIR/metrics.jsonl: one JSON object per line, flushed at once so a crash loses nothing written.
#include <nlohmann/json.hpp>

#include <fstream>
#include <string>

namespace nsl {

class MetricsLog {
 public:
  explicit MetricsLog(const std::string& path, bool append = false);
  void write(const nlohmann::json& record);

 private:
  std::string path_;
  std::ofstream out_;
};

}  // namespace nsl
