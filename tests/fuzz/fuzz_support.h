#pragma once
// Helpers shared by the libFuzzer targets: a scratch folder per process (in memory when /dev/shm
// exists, removed at exit) and whole-file writes.
#include <stdlib.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace nsl::fuzz {

namespace detail {
inline std::string& scratch_root() {
  static std::string root;
  return root;
}
inline void remove_scratch() {
  std::error_code ec;
  if (!scratch_root().empty()) std::filesystem::remove_all(scratch_root(), ec);
}
}  // namespace detail

// "/dev/shm/nsl_fuzz_<name>_XXXXXX" (or under /tmp), made once per process.
inline const std::filesystem::path& scratch_dir(const char* name) {
  static const std::filesystem::path dir = [name] {
    std::error_code ec;
    const std::string base = std::filesystem::is_directory("/dev/shm", ec) ? "/dev/shm" : "/tmp";
    std::string pattern = base + "/nsl_fuzz_" + name + "_XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) {
      std::perror(("fuzz: mkdtemp " + pattern).c_str());
      std::abort();
    }
    detail::scratch_root() = pattern;
    std::atexit(detail::remove_scratch);
    return std::filesystem::path(pattern);
  }();
  return dir;
}

inline void write_file(const std::filesystem::path& path, const char* data, size_t size) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data, static_cast<std::streamsize>(size));
  out.close();
  if (!out) {
    std::fprintf(stderr, "fuzz: cannot write '%s'\n", path.c_str());
    std::abort();
  }
}

inline void write_file(const std::filesystem::path& path, const std::string& text) {
  write_file(path, text.data(), text.size());
}

// NSL_FUZZ_VERBOSE=1: the targets print what each input gave (an error message or a summary), to
// check seeds by hand: NSL_FUZZ_VERBOSE=1 ./fuzz_config corpus/fuzz_config/*
inline bool verbose() {
  static const bool on = std::getenv("NSL_FUZZ_VERBOSE") != nullptr;
  return on;
}

// Splits `text` on every `sep` byte (n separators give n + 1 parts).
inline std::vector<std::string> split_on(const std::string& text, char sep) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (;;) {
    const size_t at = text.find(sep, start);
    parts.push_back(text.substr(start, at == std::string::npos ? at : at - start));
    if (at == std::string::npos) return parts;
    start = at + 1;
  }
}

}  // namespace nsl::fuzz
