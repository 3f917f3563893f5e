#include "train/metrics_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/error.h"

namespace nsl {
namespace {

[[noreturn]] void fail(const std::string& action, const std::string& path, int err) {
  throw Error(kExitRuntime, action + " metrics file '" + path + "' failed (" + std::strerror(err) +
                                "); check free space and write permission there");
}

}  // namespace

MetricsLog::MetricsLog(const std::string& path, bool append) : path_(path) {
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC), 0644);
  if (fd_ < 0) fail("opening", path_, errno);
  if (!append && ::fsync(fd_) != 0) fail("syncing", path_, errno);
}

MetricsLog::~MetricsLog() {
  if (fd_ >= 0) ::close(fd_);
}

void MetricsLog::write(const nlohmann::json& record) {
  const std::string line = record.dump() + '\n';
  size_t done = 0;
  while (done < line.size()) {
    const ssize_t n = ::write(fd_, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail("writing", path_, errno);
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd_) != 0) fail("syncing", path_, errno);
}

}  // namespace nsl
