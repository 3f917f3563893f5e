#pragma once
// DIR/metrics.jsonl: one JSON object per line, appended with one write() and fsynced, so a crash
// loses no line written before it; a crash in the middle of a write leaves at most a cut last line,
// which the readers drop (the trainer rewrites the file without it on resume).
#include <nlohmann/json.hpp>

#include <string>

namespace nsl {

class MetricsLog {
 public:
  explicit MetricsLog(const std::string& path, bool append = false);
  ~MetricsLog();
  MetricsLog(const MetricsLog&) = delete;
  MetricsLog& operator=(const MetricsLog&) = delete;
  void write(const nlohmann::json& record);

 private:
  std::string path_;
  int fd_ = -1;
};

}  // namespace nsl
