// LD_PRELOAD shim for the unreadable-shard fault test: a disk that starts failing mid-run.
// pread()/pread64() on a file whose path ends with $NSL_TEST_EIO_FILE succeed
// $NSL_TEST_EIO_AFTER times, then fail with EIO, as a dying disk or a lost network mount does.
// HDF5's sec2 driver reads shards with pread; the start-up checksum pass uses read() and is not
// affected, so the failure lands in the middle of training. Every other call passes through.
#include <dlfcn.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

using PreadFn = ssize_t (*)(int, void*, size_t, off_t);

std::atomic<long> reads_of_target{0};

bool is_target(int fd) {
  static const char* target = std::getenv("NSL_TEST_EIO_FILE");
  if (target == nullptr || *target == '\0') return false;
  char link[64], path[4096];
  std::snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
  const ssize_t n = ::readlink(link, path, sizeof(path) - 1);
  if (n <= 0) return false;
  path[n] = '\0';
  const size_t len = std::strlen(target);
  return static_cast<size_t>(n) >= len && std::strcmp(path + n - len, target) == 0;
}

bool should_fail(int fd) {
  if (!is_target(fd)) return false;
  static const long after = [] {
    const char* text = std::getenv("NSL_TEST_EIO_AFTER");
    return text != nullptr ? std::atol(text) : 0L;
  }();
  return reads_of_target.fetch_add(1) >= after;
}

ssize_t forward(const char* name, int fd, void* buf, size_t count, off_t offset) {
  auto real = reinterpret_cast<PreadFn>(::dlsym(RTLD_NEXT, name));
  if (real == nullptr) {
    errno = ENOSYS;
    return -1;
  }
  return real(fd, buf, count, offset);
}

}  // namespace

extern "C" ssize_t pread(int fd, void* buf, size_t count, off_t offset) {
  if (should_fail(fd)) {
    errno = EIO;
    return -1;
  }
  return forward("pread", fd, buf, count, offset);
}

extern "C" ssize_t pread64(int fd, void* buf, size_t count, off_t offset) {
  if (should_fail(fd)) {
    errno = EIO;
    return -1;
  }
  return forward("pread64", fd, buf, count, offset);
}
