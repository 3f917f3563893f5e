#include "common/atomic_file.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>  // renameat2, RENAME_EXCHANGE (glibc 2.28+)
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <utility>
#include <vector>

namespace nsl {
namespace fs = std::filesystem;
namespace {

std::string quoted(const fs::path& path) { return "'" + path.string() + "'"; }

std::string host_name() {
  char buffer[256] = {};
  if (::gethostname(buffer, sizeof(buffer) - 1) != 0 || buffer[0] == '\0') return "host";
  std::string name(buffer);
  for (char& c : name) {
    if (c == '/' || c == '-') c = '_';  // the pid follows the last '-'
  }
  return name;
}

std::string temporary_infix() { return ".tmp-" + host_name() + "-"; }

// `unchanged`: the target the failure left as it was, named in the message (empty: none).
[[noreturn]] void fail(ExitCode code, const std::string& action, const fs::path& path, int err,
                       const fs::path& unchanged) {
  throw Error(code, action + " " + quoted(path) + " failed (" +
                        (err != 0 ? std::string(std::strerror(err)) : std::string("unknown")) +
                        "); check free space and write permission there" +
                        (unchanged.empty() ? "" : " (" + quoted(unchanged) + " is unchanged)"));
}

fs::path parent_of(const fs::path& path) {
  return path.has_parent_path() ? path.parent_path() : fs::path(".");
}

void fsync_tree(const fs::path& dir, ExitCode code) {
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_regular_file(ec) || it->is_directory(ec)) fsync_path(it->path(), code);
  }
  if (ec) fail(code, "listing", dir, ec.value(), {});
  fsync_path(dir, code);
}

bool process_is_gone(long pid) {
  return pid > 0 && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH;
}

}  // namespace

fs::path temporary_sibling(const fs::path& target) {
  return parent_of(target) /
         (target.filename().string() + temporary_infix() + std::to_string(::getpid()));
}

void fsync_path(const fs::path& path, ExitCode code) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(code, "opening to sync", path, errno, {});
  const int rc = ::fsync(fd);
  const int err = errno;
  if (::close(fd) != 0 && rc == 0) fail(code, "closing after the sync of", path, errno, {});
  if (rc != 0) fail(code, "fsync of", path, err, {});
}

void remove_stale_temporaries(const fs::path& target) {
  const std::string prefix = target.filename().string() + temporary_infix();
  std::error_code ec;
  std::vector<fs::path> stale;
  for (fs::directory_iterator it(parent_of(target), ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.rfind(prefix, 0) != 0) continue;
    const std::string rest = name.substr(prefix.size());
    const size_t digits = rest.find_first_not_of("0123456789");
    const std::string pid = rest.substr(0, digits);
    if (!pid.empty() && pid.size() < 10 && process_is_gone(std::stol(pid)))
      stale.push_back(it->path());
  }
  for (const auto& path : stale) fs::remove_all(path, ec);  // best effort
}

void write_file_atomically(const fs::path& target,
                           const std::function<void(const fs::path& tmp)>& write, ExitCode code) {
  const fs::path folder = parent_of(target);
  std::error_code ec;
  fs::create_directories(folder, ec);
  if (ec) fail(code, "creating the folder", folder, ec.value(), target);
  remove_stale_temporaries(target);
  const fs::path tmp = temporary_sibling(target);
  try {
    write(tmp);
    fsync_path(tmp, code);
    fs::rename(tmp, target, ec);
    if (ec) fail(code, "renaming " + quoted(tmp) + " to", target, ec.value(), target);
  } catch (...) {
    fs::remove(tmp, ec);
    throw;
  }
  fsync_path(folder, code);
}

void write_text_atomically(const fs::path& target, const std::string& text, ExitCode code) {
  write_file_atomically(
      target,
      [&](const fs::path& tmp) {
        errno = 0;
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        if (out) out.write(text.data(), static_cast<std::streamsize>(text.size()));
        if (out) out.close();
        if (!out) fail(code, "writing", tmp, errno, target);
      },
      code);
}

void publish_folder(const fs::path& filled, const fs::path& target, ExitCode code) {
  fsync_tree(filled, code);
  std::error_code ec;
  if (fs::exists(target, ec)) {
    // One atomic step where the file system can (ext4, xfs, btrfs, tmpfs): the two folders swap
    // names, and the old one, now under the draft's name, is removed afterwards.
    if (::renameat2(AT_FDCWD, filled.c_str(), AT_FDCWD, target.c_str(), RENAME_EXCHANGE) == 0) {
      fsync_path(parent_of(target), code);
      fs::remove_all(filled, ec);  // best effort: remove_stale_temporaries retries
      return;
    }
    if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP)
      fail(code, "exchanging " + quoted(filled) + " with", target, errno, target);
    // Elsewhere (NFS, say): the old folder is moved aside first; a crash between the two renames
    // leaves no folder under the target's name and the old one under the aside name.
    const fs::path aside = parent_of(target) / (target.filename().string() + temporary_infix() +
                                                std::to_string(::getpid()) + "-replaced");
    fs::remove_all(aside, ec);
    fs::rename(target, aside, ec);
    if (ec) fail(code, "moving aside", target, ec.value(), target);
    fs::rename(filled, target, ec);
    if (ec) {
      const int err = ec.value();
      std::error_code restore;
      fs::rename(aside, target, restore);
      fail(code, "renaming " + quoted(filled) + " to", target, err, target);
    }
    fsync_path(parent_of(target), code);
    fs::remove_all(aside, ec);  // best effort: remove_stale_temporaries retries
    return;
  }
  fs::rename(filled, target, ec);
  if (ec) fail(code, "renaming " + quoted(filled) + " to", target, ec.value(), {});
  fsync_path(parent_of(target), code);
}

FolderDraft::FolderDraft(fs::path target, ExitCode code)
    : target_(std::move(target)), draft_(temporary_sibling(target_)), code_(code) {
  remove_stale_temporaries(target_);
  std::error_code ec;
  fs::remove_all(draft_, ec);  // a leftover of an earlier process with the same pid
  fs::create_directories(draft_, ec);
  if (ec) fail(code_, "creating the folder", draft_, ec.value(), target_);
}

FolderDraft::~FolderDraft() {
  std::error_code ec;
  if (!published_) fs::remove_all(draft_, ec);
}

void FolderDraft::publish() {
  publish_folder(draft_, target_, code_);
  published_ = true;
}

}  // namespace nsl
