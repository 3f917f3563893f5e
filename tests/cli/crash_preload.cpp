// LD_PRELOAD shim for the crash tests of the writers (test_crash_writes.cpp): the process is killed
// (SIGKILL, as by the OOM killer or a node failure) in the middle of writing a file, or just before
// renaming one into place. Set by the test:
//   NSL_TEST_CRASH_PATH  a part of the path of the file concerned (the temporary a writer uses, or
//                        the final name for a writer that writes in place)
//   NSL_TEST_CRASH_AT    write:<bytes>: once <bytes> bytes have been written to such files, the
//                        write that crosses the mark writes only up to it and the process dies;
//                        rename: the process dies when a file or folder is about to be renamed
//                        (or exchanged) to a path that ends with NSL_TEST_CRASH_PATH.
// write(), writev() and pwrite() (libstdc++ streams, HDF5's sec2 driver), rename() (what
// std::filesystem::rename calls) and renameat2() are intercepted; stdio's fwrite is not (glibc
// calls its own write inside), so writers that use stdio are tested in rename mode. Every other
// call passes through.
#include <dlfcn.h>
#include <signal.h>
#include <sys/uio.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

struct Plan {
  const char* path = nullptr;
  bool on_rename = false;
  long long write_limit = -1;
};

const Plan& plan() {
  static const Plan p = [] {
    Plan q;
    q.path = std::getenv("NSL_TEST_CRASH_PATH");
    if (q.path != nullptr && *q.path == '\0') q.path = nullptr;
    const char* at = std::getenv("NSL_TEST_CRASH_AT");
    if (at != nullptr && std::strcmp(at, "rename") == 0) q.on_rename = true;
    if (at != nullptr && std::strncmp(at, "write:", 6) == 0) q.write_limit = std::atoll(at + 6);
    return q;
  }();
  return p;
}

std::atomic<long long> written{0};

bool fd_matches(int fd) {
  if (plan().path == nullptr || plan().write_limit < 0) return false;
  char link[64], path[4096];
  std::snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
  const ssize_t n = ::readlink(link, path, sizeof(path) - 1);
  if (n <= 0) return false;
  path[n] = '\0';
  return std::strstr(path, plan().path) != nullptr;
}

[[noreturn]] void die() {
  ::raise(SIGKILL);
  std::_Exit(137);
}

template <typename Fn>
Fn real(const char* name) {
  return reinterpret_cast<Fn>(::dlsym(RTLD_NEXT, name));
}

// How many of `count` bytes may still be written before the mark; dies after writing them when
// the mark is crossed (the caller writes `allowed` bytes, then calls die()).
size_t allowed_bytes(size_t count, bool* crash) {
  const long long before = written.fetch_add(static_cast<long long>(count));
  const long long limit = plan().write_limit;
  *crash = before + static_cast<long long>(count) > limit;
  if (!*crash) return count;
  return before >= limit ? 0 : static_cast<size_t>(limit - before);
}

bool renames_onto(const char* to) {
  if (!plan().on_rename || plan().path == nullptr) return false;
  const size_t n = std::strlen(to), m = std::strlen(plan().path);
  return n >= m && std::strcmp(to + n - m, plan().path) == 0;
}

// pwrite and pwrite64 (the same on 64-bit glibc, either may be called): forwarded to `name`.
ssize_t positioned_write(const char* name, int fd, const void* buf, size_t count, off_t offset) {
  using Fn = ssize_t (*)(int, const void*, size_t, off_t);
  const Fn next = real<Fn>(name);
  if (!fd_matches(fd)) return next(fd, buf, count, offset);
  bool crash = false;
  const size_t n = allowed_bytes(count, &crash);
  if (!crash) return next(fd, buf, count, offset);
  if (n > 0) next(fd, buf, n, offset);
  die();
}

}  // namespace

extern "C" {

ssize_t write(int fd, const void* buf, size_t count) {
  using Fn = ssize_t (*)(int, const void*, size_t);
  static const Fn next = real<Fn>("write");
  if (!fd_matches(fd)) return next(fd, buf, count);
  bool crash = false;
  const size_t n = allowed_bytes(count, &crash);
  if (!crash) return next(fd, buf, count);
  if (n > 0) next(fd, buf, n);
  die();
}

ssize_t pwrite(int fd, const void* buf, size_t count, off_t offset) {
  return positioned_write("pwrite", fd, buf, count, offset);
}

ssize_t pwrite64(int fd, const void* buf, size_t count, off_t offset) {
  return positioned_write("pwrite64", fd, buf, count, offset);
}

ssize_t writev(int fd, const struct iovec* iov, int iovcnt) {
  using Fn = ssize_t (*)(int, const struct iovec*, int);
  static const Fn next = real<Fn>("writev");
  if (!fd_matches(fd)) return next(fd, iov, iovcnt);
  size_t count = 0;
  for (int i = 0; i < iovcnt; ++i) count += iov[i].iov_len;
  bool crash = false;
  size_t n = allowed_bytes(count, &crash);
  if (!crash) return next(fd, iov, iovcnt);
  static const auto plain = real<ssize_t (*)(int, const void*, size_t)>("write");
  for (int i = 0; i < iovcnt && n > 0; ++i) {
    const size_t part = iov[i].iov_len < n ? iov[i].iov_len : n;
    plain(fd, iov[i].iov_base, part);
    n -= part;
  }
  die();
}

int rename(const char* from, const char* to) {
  using Fn = int (*)(const char*, const char*);
  static const Fn next = real<Fn>("rename");
  if (renames_onto(to)) die();
  return next(from, to);
}

int renameat2(int from_dir, const char* from, int to_dir, const char* to, unsigned int flags) {
  using Fn = int (*)(int, const char*, int, const char*, unsigned int);
  static const Fn next = real<Fn>("renameat2");
  if (renames_onto(to)) die();
  return next(from_dir, from, to_dir, to, flags);
}

}  // extern "C"
