#include "train/checkpoint_store.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <utility>

#include "common/atomic_file.h"
#include "common/error.h"
#include "common/fnv.h"

namespace nsl {
namespace fs = std::filesystem;
namespace {

constexpr const char* kFormat = "nsl_dist checkpoint 1";
constexpr const char* kManifest = "manifest.json";
constexpr const char* kTmpPrefix = ".tmp-";
constexpr int64_t kMaxStep = 999999999999;  // 12 digits
constexpr size_t kStepDigits = 12;
constexpr size_t kHashBlock = size_t{1} << 20;

std::string quoted(const fs::path& path) { return "'" + path.string() + "'"; }

std::string errno_text(int err) { return err != 0 ? std::string(std::strerror(err)) : "unknown"; }

[[noreturn]] void throw_write_error(const fs::path& path, const std::string& action, int err) {
  throw Error(kExitRuntime, "checkpoint: " + action + " " + quoted(path) + " failed (" +
                                errno_text(err) +
                                "); check free space and write permission there (checkpoints saved "
                                "before are unchanged)");
}

std::string step_name(int64_t global_step) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "step-%012lld", static_cast<long long>(global_step));
  return buffer;
}

// The step of a final checkpoint folder name ("step-" and exactly 12 digits), else nullopt.
std::optional<int64_t> parse_step_name(const std::string& name) {
  const std::string prefix = "step-";
  if (name.size() != prefix.size() + kStepDigits || name.compare(0, prefix.size(), prefix) != 0)
    return std::nullopt;
  int64_t step = 0;
  for (size_t i = prefix.size(); i < name.size(); ++i) {
    if (name[i] < '0' || name[i] > '9') return std::nullopt;
    step = step * 10 + (name[i] - '0');
  }
  return step;
}

struct FileDigest {
  uintmax_t bytes = 0;
  uint64_t hash = 0;
};

// Streams the file through FNV-1a 64; nullopt when it cannot be opened or read to the end.
std::optional<FileDigest> digest_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::vector<char> block(kHashBlock);
  FileDigest digest{0, kFnv1a64Offset};
  while (in) {
    in.read(block.data(), static_cast<std::streamsize>(block.size()));
    const auto got = static_cast<size_t>(in.gcount());
    digest.hash = fnv1a64(block.data(), got, digest.hash);
    digest.bytes += got;
  }
  if (in.bad()) return std::nullopt;
  return digest;
}

// One manifest "files" entry for a file write_files left in `tmp`.
nlohmann::json describe_file(const fs::path& file) {
  const auto digest = digest_file(file);
  if (!digest) throw_write_error(file, "reading back", errno);
  return {{"name", file.filename().string()},
          {"bytes", digest->bytes},
          {"fnv1a64", hex64(digest->hash)}};
}

// The entries of `dir`, with a listing failure reported as an Error naming the folder.
std::vector<fs::directory_entry> entries_of(const fs::path& dir) {
  try {
    return {fs::directory_iterator(dir), fs::directory_iterator()};
  } catch (const fs::filesystem_error& e) {
    throw Error(kExitRuntime, "checkpoint: cannot list " + quoted(dir) + " (" + e.code().message() +
                                  "); check that it is a readable folder");
  }
}

// Every file of the tmp folder by name; checkpoints are flat and manifest.json is ours.
std::vector<fs::path> written_files(const fs::path& tmp) {
  std::vector<fs::path> files;
  for (const auto& entry : entries_of(tmp)) {
    const std::string name = entry.path().filename().string();
    std::error_code ec;
    if (!entry.is_regular_file(ec) || name == kManifest) {
      throw Error(kExitRuntime, "checkpoint: " + quoted(entry.path()) +
                                    " is not allowed in a checkpoint (only plain files, and not " +
                                    kManifest + "); fix the code that writes the checkpoint");
    }
    files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

void write_text(const fs::path& path, const std::string& text) {
  errno = 0;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw_write_error(path, "creating", errno);
  out << text;
  out.flush();
  if (!out) throw_write_error(path, "writing", errno);
  out.close();
  if (!out) throw_write_error(path, "closing", errno);
}

void write_manifest(const fs::path& tmp, int64_t global_step, const nlohmann::json& info) {
  nlohmann::json files = nlohmann::json::array();
  for (const auto& file : written_files(tmp)) files.push_back(describe_file(file));
  const nlohmann::json manifest = {
      {"format", kFormat}, {"global_step", global_step}, {"files", files}, {"info", info}};
  write_text(tmp / kManifest, manifest.dump(2) + "\n");
}

void remove_tree(const fs::path& path) {
  std::error_code ec;
  fs::remove_all(path, ec);
  if (ec) {
    throw Error(kExitRuntime, "checkpoint: cannot remove " + quoted(path) + " (" + ec.message() +
                                  "); remove it by hand and check the folder's permissions");
  }
}

// Leftovers of saves that crashed (".tmp-step-..." folders, and "step-....tmp-..." ones that
// publish_folder moved aside): complete or not, no reader ever looks at them.
void remove_stale_tmp(const fs::path& root) {
  std::vector<fs::path> stale;
  for (const auto& entry : entries_of(root)) {
    if (entry.path().filename().string().find(kTmpPrefix) != std::string::npos)
      stale.push_back(entry.path());
  }
  for (const auto& path : stale) remove_tree(path);
}

[[noreturn]] void invalid(const std::string& reason) { throw DataError(reason); }

nlohmann::json read_manifest(const fs::path& dir) {
  const fs::path path = dir / kManifest;
  std::error_code ec;
  if (!fs::is_regular_file(path, ec))
    invalid(std::string(kManifest) + " is missing (" + quoted(path) + "): the save did not finish");
  std::ifstream in(path, std::ios::binary);
  if (!in) invalid("cannot open " + quoted(path));
  nlohmann::json manifest = nlohmann::json::parse(in, nullptr, false);
  if (manifest.is_discarded() || !manifest.is_object())
    invalid(std::string(kManifest) + " is not a JSON object (" + quoted(path) + ")");
  const auto format = manifest.find("format");
  if (format == manifest.end() || *format != kFormat) {
    invalid(std::string(kManifest) + " has format " +
            (format == manifest.end() ? std::string("(none)") : format->dump()) + ", expected \"" +
            kFormat + "\" (" + quoted(path) + ")");
  }
  return manifest;
}

// A whole number from the manifest, checked before conversion: nlohmann's get<>() of a float out of
// the integer's range is undefined behaviour, and of a negative or huge integer a silent wrap.
uint64_t manifest_integer(const fs::path& dir, const nlohmann::json& j, const char* key,
                          uint64_t max) {
  const nlohmann::json& value = j.at(key);
  const bool whole =
      value.is_number_unsigned() || (value.is_number_integer() && value.get<int64_t>() >= 0);
  if (!whole || value.get<uint64_t>() > max) {
    invalid(std::string(kManifest) + " is malformed (" + quoted(dir / kManifest) + "): '" + key +
            "' is " + value.dump() + ", not an integer in 0.." + std::to_string(max));
  }
  return value.get<uint64_t>();
}

// A manifest entry may only name a plain file inside the checkpoint folder.
bool is_plain_name(const std::string& name) {
  return !name.empty() && name != "." && name != ".." && name != kManifest &&
         name.find('/') == std::string::npos;
}

void check_file(const fs::path& dir, const nlohmann::json& entry) {
  const auto name = entry.at("name").get<std::string>();
  if (!is_plain_name(name))
    invalid(std::string(kManifest) + " lists an invalid file name '" + name + "'");
  const fs::path path = dir / name;
  const uintmax_t bytes = manifest_integer(dir, entry, "bytes", UINTMAX_MAX);
  const auto hash = entry.at("fnv1a64").get<std::string>();
  std::error_code ec;
  if (!fs::is_regular_file(path, ec))
    invalid("file '" + name + "' is missing (" + quoted(path) + ")");
  const uintmax_t size = fs::file_size(path, ec);
  if (ec) invalid("cannot stat file '" + name + "' (" + quoted(path) + "): " + ec.message());
  if (size != bytes) {
    invalid("file '" + name + "' has " + std::to_string(size) + " bytes, the manifest records " +
            std::to_string(bytes) + " (" + quoted(path) + ": truncated or overwritten)");
  }
  const auto digest = digest_file(path);
  if (!digest) invalid("cannot read file '" + name + "' (" + quoted(path) + ")");
  if (hex64(digest->hash) != hash) {
    invalid("file '" + name + "' has FNV-1a 64 hash " + hex64(digest->hash) +
            ", the manifest records " + hash + " (" + quoted(path) + ": corrupted)");
  }
}

// verify() without the folder in the message: throws DataError with only the reason.
CheckpointEntry check_checkpoint(const fs::path& dir) {
  CheckpointEntry entry;
  entry.dir = dir;
  try {
    const nlohmann::json manifest = read_manifest(dir);
    entry.global_step =
        static_cast<int64_t>(manifest_integer(dir, manifest, "global_step", kMaxStep));
    const auto name_step = parse_step_name(dir.filename().string());
    if (name_step && *name_step != entry.global_step) {
      invalid(std::string(kManifest) + " records global step " + std::to_string(entry.global_step) +
              " but the folder is named for step " + std::to_string(*name_step));
    }
    for (const auto& file : manifest.at("files")) check_file(dir, file);
    entry.info = manifest.at("info");
  } catch (const nlohmann::json::exception& e) {
    invalid(std::string(kManifest) + " is malformed (" + quoted(dir / kManifest) +
            "): " + e.what());
  }
  return entry;
}

// Keeps `saved` and the newest keep - 1 other checkpoints. `saved` is exempt even when it is not
// among the newest by step (a run resumed from an older checkpoint): save() must not return a
// folder it has just removed.
void prune(const std::vector<fs::path>& dirs, int keep, const fs::path& saved) {
  std::vector<fs::path> others;
  for (const auto& dir : dirs) {
    if (dir != saved) others.push_back(dir);
  }
  const size_t surplus = others.size() > static_cast<size_t>(keep - 1)
                             ? others.size() - static_cast<size_t>(keep - 1)
                             : 0;
  for (size_t i = 0; i < surplus; ++i) remove_tree(others[i]);
}

}  // namespace

CheckpointStore::CheckpointStore(std::filesystem::path root, int keep)
    : root_(std::move(root)), keep_(keep) {
  if (keep_ < 1) {
    throw ConfigError("checkpoint store " + quoted(root_) + ": keep is " + std::to_string(keep_) +
                      "; it must be at least 1");
  }
}

std::filesystem::path CheckpointStore::save(
    int64_t global_step, const std::function<void(const std::filesystem::path&)>& write_files,
    const nlohmann::json& info) {
  if (global_step < 0 || global_step > kMaxStep) {
    throw Error(kExitRuntime, "checkpoint: global step " + std::to_string(global_step) +
                                  " is outside 0.." + std::to_string(kMaxStep));
  }
  std::error_code ec;
  fs::create_directories(root_, ec);
  if (ec) throw_write_error(root_, "creating the checkpoint folder", ec.value());
  remove_stale_tmp(root_);

  const std::string name = step_name(global_step);
  const fs::path tmp = root_ / (kTmpPrefix + name + "-" + std::to_string(::getpid()));
  const fs::path final_dir = root_ / name;
  fs::create_directory(tmp, ec);
  if (ec) throw_write_error(tmp, "creating", ec.value());
  try {
    write_files(tmp);
    write_manifest(tmp, global_step, info);
    publish_folder(tmp, final_dir);
  } catch (...) {
    fs::remove_all(tmp, ec);  // best effort; the next save() removes it otherwise
    throw;
  }
  prune(list(), keep_, final_dir);
  return final_dir;
}

std::vector<std::filesystem::path> CheckpointStore::list() const {
  std::error_code ec;
  if (!fs::exists(root_, ec)) return {};
  std::vector<std::pair<int64_t, fs::path>> found;
  for (const auto& entry : entries_of(root_)) {
    const auto step = parse_step_name(entry.path().filename().string());
    if (step && entry.is_directory(ec)) found.emplace_back(*step, entry.path());
  }
  std::sort(found.begin(), found.end());
  std::vector<fs::path> dirs;
  for (auto& item : found) dirs.push_back(std::move(item.second));
  return dirs;
}

std::optional<CheckpointEntry> CheckpointStore::latest_valid(
    std::vector<std::string>* skipped) const {
  const auto dirs = list();
  for (auto it = dirs.rbegin(); it != dirs.rend(); ++it) {
    try {
      return check_checkpoint(*it);
    } catch (const DataError& e) {
      if (skipped) skipped->push_back("checkpoint " + it->string() + " skipped: " + e.what());
    }
  }
  return std::nullopt;
}

CheckpointEntry CheckpointStore::verify(const std::filesystem::path& dir) {
  try {
    return check_checkpoint(dir);
  } catch (const DataError& e) {
    throw DataError("checkpoint " + quoted(dir) + " is invalid: " + e.what() +
                    "; delete that folder or resume from an older checkpoint");
  }
}

}  // namespace nsl
