#include "train/metrics_log.h"

#include "common/error.h"

namespace nsl {

MetricsLog::MetricsLog(const std::string& path, bool append)
    : path_(path), out_(path, append ? std::ios::app : std::ios::trunc) {
  if (!out_) throw Error(kExitRuntime, "cannot write metrics file '" + path + "'");
}

void MetricsLog::write(const nlohmann::json& record) {
  out_ << record.dump() << '\n';
  out_.flush();
  if (!out_) throw Error(kExitRuntime, "writing metrics file '" + path_ + "' failed (disk full?)");
}

}  // namespace nsl
