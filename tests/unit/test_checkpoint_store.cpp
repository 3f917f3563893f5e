// CheckpointStore against values computed here independently: sizes from the filesystem, hashes
// from a naive byte loop; damaged checkpoints (flipped byte, truncation, no manifest), leftovers of
// crashed saves, a throwing writer and a real write failure (RLIMIT_FSIZE in a child process).
#define BOOST_TEST_DYN_LINK
#define BOOST_TEST_MODULE checkpoint_store
#include <boost/test/unit_test.hpp>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <map>
#include <random>
#include <sstream>

#include "common/error.h"
#include "support/run_command.h"
#include "train/checkpoint_store.h"

namespace fs = std::filesystem;

namespace {

// FNV-1a 64 written out from its definition (offset basis and prime as decimal literals).
std::string naive_fnv1a64_hex(const std::string& bytes) {
  uint64_t hash = 14695981039346656037ULL;
  for (const char c : bytes) {
    hash ^= static_cast<uint64_t>(static_cast<unsigned char>(c));
    hash *= 1099511628211ULL;
  }
  std::ostringstream out;
  out << std::hex << std::setw(16) << std::setfill('0') << hash;
  return out.str();
}

std::string random_bytes(size_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(gen() & 0xff);
  return s;
}

void write_file(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out << bytes;
  out.close();
  if (!out) throw nsl::Error(nsl::kExitRuntime, "test: writing " + path.string() + " failed");
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

nlohmann::json read_json(const fs::path& path) { return nlohmann::json::parse(read_file(path)); }

// A writer of two files whose content depends on the step.
std::function<void(const fs::path&)> writer_for(int64_t step) {
  return [step](const fs::path& dir) {
    write_file(dir / "model.bin",
               random_bytes(5000 + static_cast<size_t>(step % 1000), static_cast<unsigned>(step)));
    write_file(dir / "meta.txt", "step " + std::to_string(step) + "\n");
  };
}

fs::path save_step(nsl::CheckpointStore& store, int64_t step) {
  return store.save(step, writer_for(step), {{"step", step}});
}

std::vector<std::string> names_in(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir))
    names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

bool has_tmp_folder(const fs::path& root) {
  for (const auto& name : names_in(root)) {
    if (name.rfind(".tmp-", 0) == 0) return true;
  }
  return false;
}

// Expects latest_valid() to fall back from the newest checkpoint to `expected_step` with one skip
// line naming the newest folder and containing every part of `reason_parts`.
void check_falls_back(const nsl::CheckpointStore& store, int64_t expected_step,
                      const std::vector<std::string>& reason_parts) {
  const fs::path newest = store.list().back();
  std::vector<std::string> skipped;
  const auto entry = store.latest_valid(&skipped);
  BOOST_REQUIRE(entry.has_value());
  BOOST_TEST(entry->global_step == expected_step);
  BOOST_TEST(entry->info["step"].get<int64_t>() == expected_step);
  BOOST_REQUIRE_EQUAL(skipped.size(), 1u);
  BOOST_TEST_MESSAGE(skipped[0]);
  BOOST_TEST(contains(skipped[0], "checkpoint " + newest.string() + " skipped: "));
  for (const auto& part : reason_parts) BOOST_TEST(contains(skipped[0], part), part);
  BOOST_CHECK_EXCEPTION(
      nsl::CheckpointStore::verify(newest), nsl::DataError, [&](const nsl::DataError& e) {
        BOOST_TEST_MESSAGE(e.what());
        return contains(e.what(), newest.string()) && contains(e.what(), reason_parts.front());
      });
}

// Runs store.save() in a child process whose files may not exceed `limit` bytes; returns the
// child's exit code (0 saved, 1 nsl::Error(kExitRuntime), 2 another exception) and its message.
std::pair<int, std::string> save_in_limited_child(
    nsl::CheckpointStore& store, rlim_t limit, int64_t step,
    const std::function<void(const fs::path&)>& writer, const nlohmann::json& info) {
  int fds[2];
  BOOST_REQUIRE(::pipe(fds) == 0);
  const pid_t pid = ::fork();
  BOOST_REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(fds[0]);
    std::signal(SIGXFSZ, SIG_IGN);  // a write past the limit then fails with EFBIG
    const rlimit lim{limit, limit};
    int code = 2;
    std::string message = "setrlimit failed";
    if (::setrlimit(RLIMIT_FSIZE, &lim) == 0) {
      try {
        store.save(step, writer, info);
        code = 0;
        message = "save() returned";
      } catch (const nsl::Error& e) {
        code = e.code() == nsl::kExitRuntime ? 1 : 2;
        message = e.what();
      } catch (const std::exception& e) {
        message = e.what();
      }
    }
    const ssize_t written = ::write(fds[1], message.data(), message.size());
    ::_exit(written >= 0 ? code : 3);
  }
  ::close(fds[1]);
  std::string message;
  char buffer[512];
  ssize_t n = 0;
  while ((n = ::read(fds[0], buffer, sizeof(buffer))) > 0) message.append(buffer, n);
  ::close(fds[0]);
  int status = 0;
  BOOST_REQUIRE(::waitpid(pid, &status, 0) == pid);
  BOOST_REQUIRE(WIFEXITED(status));
  return {WEXITSTATUS(status), message};
}

}  // namespace

BOOST_AUTO_TEST_CASE(naive_reference_hash_matches_published_vectors) {
  BOOST_TEST(naive_fnv1a64_hex("") == "cbf29ce484222325");
  BOOST_TEST(naive_fnv1a64_hex("a") == "af63dc4c8601ec8c");
  BOOST_TEST(naive_fnv1a64_hex("foobar") == "85944171f73967e8");
}

BOOST_AUTO_TEST_CASE(manifest_records_sizes_and_hashes_of_every_file) {
  nsl::test::ScratchDir scratch("ckpt_manifest");
  const fs::path root = scratch.path() / "run" / "checkpoints";  // created by save()
  nsl::CheckpointStore store(root, 3);
  // Larger than the 1 MiB hashing block and not a multiple of it; plus an empty file.
  const std::map<std::string, std::string> files = {
      {"big.bin", random_bytes(2621440 + 37, 1)}, {"empty.bin", ""}, {"small.txt", "hello\n"}};
  const nlohmann::json info = {{"epoch", 3}, {"config_hash", "abc"}};
  const fs::path dir = store.save(
      42,
      [&](const fs::path& tmp) {
        BOOST_TEST(tmp.parent_path() == root);
        BOOST_TEST(contains(tmp.filename().string(), ".tmp-step-000000000042-"));
        for (const auto& [name, bytes] : files) write_file(tmp / name, bytes);
      },
      info);

  BOOST_TEST(dir == root / "step-000000000042");
  BOOST_TEST(names_in(root) == std::vector<std::string>{"step-000000000042"});
  BOOST_TEST(names_in(dir) ==
             (std::vector<std::string>{"big.bin", "empty.bin", "manifest.json", "small.txt"}));

  const nlohmann::json manifest = read_json(dir / "manifest.json");
  BOOST_TEST(manifest.at("format").get<std::string>() == "nsl_dist checkpoint 1");
  BOOST_TEST(manifest.at("global_step").get<int64_t>() == 42);
  BOOST_TEST(manifest.at("info") == info);
  BOOST_REQUIRE_EQUAL(manifest.at("files").size(), files.size());
  for (const auto& entry : manifest.at("files")) {
    const auto name = entry.at("name").get<std::string>();
    BOOST_REQUIRE(files.count(name) == 1);
    BOOST_TEST(entry.at("bytes").get<uintmax_t>() == fs::file_size(dir / name), name);
    BOOST_TEST(entry.at("bytes").get<uintmax_t>() == files.at(name).size(), name);
    BOOST_TEST(entry.at("fnv1a64").get<std::string>() == naive_fnv1a64_hex(files.at(name)), name);
    BOOST_TEST(read_file(dir / name) == files.at(name), name);
  }

  const nsl::CheckpointEntry verified = nsl::CheckpointStore::verify(dir);
  BOOST_TEST(verified.dir == dir);
  BOOST_TEST(verified.global_step == 42);
  BOOST_TEST(verified.info == info);
}

BOOST_AUTO_TEST_CASE(keep_two_after_four_saves_leaves_the_two_newest) {
  nsl::test::ScratchDir scratch("ckpt_keep");
  nsl::CheckpointStore store(scratch.path(), 2);
  for (int64_t step : {100, 200, 300, 400}) save_step(store, step);
  const std::vector<fs::path> expected = {scratch.path() / "step-000000000300",
                                          scratch.path() / "step-000000000400"};
  BOOST_TEST(store.list() == expected, boost::test_tools::per_element());
  BOOST_TEST(names_in(scratch.path()) ==
             (std::vector<std::string>{"step-000000000300", "step-000000000400"}));
  std::vector<std::string> skipped;
  const auto latest = store.latest_valid(&skipped);
  BOOST_REQUIRE(latest.has_value());
  BOOST_TEST(latest->global_step == 400);
  BOOST_TEST(skipped.empty());
}

BOOST_AUTO_TEST_CASE(list_sorts_by_step_number_and_ignores_other_names) {
  nsl::test::ScratchDir scratch("ckpt_list");
  nsl::CheckpointStore store(scratch.path(), 10);
  BOOST_TEST(store.list().empty());
  BOOST_TEST(!store.latest_valid().has_value());
  for (int64_t step : {int64_t{1000000}, int64_t{9}, int64_t{123456789012}}) save_step(store, step);
  for (const char* name : {"step-12", "step-00000000000x", "step-0000000000001", "other"})
    fs::create_directory(scratch.path() / name);
  write_file(scratch.path() / "step-000000000077", "a file, not a folder");
  const std::vector<fs::path> expected = {scratch.path() / "step-000000000009",
                                          scratch.path() / "step-000001000000",
                                          scratch.path() / "step-123456789012"};
  BOOST_TEST(store.list() == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(flipped_byte_falls_back_to_the_previous_checkpoint) {
  nsl::test::ScratchDir scratch("ckpt_flip");
  nsl::CheckpointStore store(scratch.path(), 3);
  save_step(store, 1);
  const fs::path newest = save_step(store, 2);
  const fs::path file = newest / "model.bin";
  const auto size_before = fs::file_size(file);
  {
    std::fstream io(file, std::ios::in | std::ios::out | std::ios::binary);
    io.seekg(1234);
    const char c = static_cast<char>(io.get());
    io.seekp(1234);
    io.put(static_cast<char>(c ^ 0x01));
  }
  BOOST_REQUIRE_EQUAL(fs::file_size(file), size_before);
  check_falls_back(store, 1, {"model.bin", "hash"});
}

BOOST_AUTO_TEST_CASE(truncated_file_falls_back_to_the_previous_checkpoint) {
  nsl::test::ScratchDir scratch("ckpt_trunc");
  nsl::CheckpointStore store(scratch.path(), 3);
  save_step(store, 10);
  const fs::path newest = save_step(store, 20);
  fs::resize_file(newest / "model.bin", 100);
  check_falls_back(store, 10, {"model.bin", "100 bytes"});
}

BOOST_AUTO_TEST_CASE(missing_file_falls_back_to_the_previous_checkpoint) {
  nsl::test::ScratchDir scratch("ckpt_nofile");
  nsl::CheckpointStore store(scratch.path(), 3);
  save_step(store, 10);
  const fs::path newest = save_step(store, 20);
  fs::remove(newest / "meta.txt");
  check_falls_back(store, 10, {"meta.txt", "missing"});
}

BOOST_AUTO_TEST_CASE(missing_manifest_falls_back_to_the_previous_checkpoint) {
  nsl::test::ScratchDir scratch("ckpt_nomanifest");
  nsl::CheckpointStore store(scratch.path(), 3);
  save_step(store, 5);
  const fs::path newest = save_step(store, 6);
  fs::remove(newest / "manifest.json");
  check_falls_back(store, 5, {"manifest.json", "missing"});
}

BOOST_AUTO_TEST_CASE(unreadable_or_foreign_manifests_fall_back) {
  nsl::test::ScratchDir scratch("ckpt_badmanifest");
  nsl::CheckpointStore store(scratch.path(), 3);
  save_step(store, 5);
  const fs::path newest = save_step(store, 6);
  const fs::path manifest = newest / "manifest.json";
  const nlohmann::json good = read_json(manifest);

  write_file(manifest, "{\"format\": \"nsl_dist checkpoint 1\", ");
  check_falls_back(store, 5, {"manifest.json", "not a JSON object"});

  nlohmann::json other = good;
  other["format"] = "something else 7";
  write_file(manifest, other.dump());
  check_falls_back(store, 5, {"manifest.json", "something else 7"});
  other["format"] = 42;
  write_file(manifest, other.dump());
  check_falls_back(store, 5, {"manifest.json", "has format 42"});
  other.erase("format");
  write_file(manifest, other.dump());
  check_falls_back(store, 5, {"manifest.json", "has format (none)"});

  nlohmann::json escaping = good;
  escaping["files"][0]["name"] = "../step-000000000005/model.bin";
  write_file(manifest, escaping.dump());
  check_falls_back(store, 5, {"manifest.json", "invalid file name"});

  nlohmann::json no_bytes = good;
  no_bytes["files"][0].erase("bytes");
  write_file(manifest, no_bytes.dump());
  check_falls_back(store, 5, {"manifest.json", "malformed"});

  nlohmann::json wrong_step = good;
  wrong_step["global_step"] = 7;
  write_file(manifest, wrong_step.dump());
  check_falls_back(store, 5, {"global step 7"});
}

BOOST_AUTO_TEST_CASE(every_damaged_checkpoint_is_skipped_and_reported) {
  nsl::test::ScratchDir scratch("ckpt_allbad");
  nsl::CheckpointStore store(scratch.path(), 3);
  const fs::path a = save_step(store, 1);
  const fs::path b = save_step(store, 2);
  fs::remove(a / "manifest.json");
  fs::resize_file(b / "meta.txt", 0);
  std::vector<std::string> skipped;
  BOOST_TEST(!store.latest_valid(&skipped).has_value());
  BOOST_REQUIRE_EQUAL(skipped.size(), 2u);
  BOOST_TEST(contains(skipped[0], b.string()));  // newest first
  BOOST_TEST(contains(skipped[0], "meta.txt"));
  BOOST_TEST(contains(skipped[1], a.string()));
  BOOST_TEST(contains(skipped[1], "manifest.json"));
}

BOOST_AUTO_TEST_CASE(leftover_tmp_folder_is_ignored_and_removed_by_the_next_save) {
  nsl::test::ScratchDir scratch("ckpt_tmp");
  nsl::CheckpointStore store(scratch.path(), 3);
  save_step(store, 1);
  // A complete-looking save of a newer step that crashed before its rename.
  const fs::path leftover = scratch.path() / ".tmp-step-000000000002-99999";
  fs::copy(scratch.path() / "step-000000000001", leftover, fs::copy_options::recursive);
  write_file(scratch.path() / ".tmp-stray-file", "x");

  BOOST_TEST(store.list() == std::vector<fs::path>{scratch.path() / "step-000000000001"},
             boost::test_tools::per_element());
  std::vector<std::string> skipped;
  const auto latest = store.latest_valid(&skipped);
  BOOST_REQUIRE(latest.has_value());
  BOOST_TEST(latest->global_step == 1);
  BOOST_TEST(skipped.empty());

  save_step(store, 3);
  BOOST_TEST(!fs::exists(leftover));
  BOOST_TEST(!has_tmp_folder(scratch.path()));
  BOOST_TEST(names_in(scratch.path()) ==
             (std::vector<std::string>{"step-000000000001", "step-000000000003"}));
}

BOOST_AUTO_TEST_CASE(throwing_writer_leaves_no_tmp_folder_and_older_checkpoints_valid) {
  nsl::test::ScratchDir scratch("ckpt_throw");
  nsl::CheckpointStore store(scratch.path(), 1);
  const fs::path old = save_step(store, 1);
  fs::path seen_tmp;
  BOOST_CHECK_EXCEPTION(store.save(2,
                                   [&](const fs::path& tmp) {
                                     seen_tmp = tmp;
                                     write_file(tmp / "model.bin", random_bytes(1000, 3));
                                     throw std::runtime_error("writer failed on purpose");
                                   },
                                   {}),
                        std::runtime_error, [](const std::runtime_error& e) {
                          return std::string(e.what()) == "writer failed on purpose";
                        });
  BOOST_TEST(!seen_tmp.empty());
  BOOST_TEST(!fs::exists(seen_tmp));
  BOOST_TEST(names_in(scratch.path()) == std::vector<std::string>{"step-000000000001"});
  BOOST_TEST(nsl::CheckpointStore::verify(old).global_step == 1);
}

BOOST_AUTO_TEST_CASE(writer_that_creates_a_subfolder_is_rejected) {
  nsl::test::ScratchDir scratch("ckpt_subdir");
  nsl::CheckpointStore store(scratch.path(), 1);
  BOOST_CHECK_EXCEPTION(
      store.save(1, [](const fs::path& tmp) { fs::create_directory(tmp / "nested"); }, {}),
      nsl::Error, [](const nsl::Error& e) {
        return e.code() == nsl::kExitRuntime && contains(e.what(), "nested");
      });
  BOOST_TEST(names_in(scratch.path()).empty());
}

BOOST_AUTO_TEST_CASE(file_size_limit_in_the_writer_keeps_the_previous_checkpoint) {
  nsl::test::ScratchDir scratch("ckpt_efbig_writer");
  nsl::CheckpointStore store(scratch.path(), 1);
  const fs::path old = save_step(store, 1);
  // The writer checks its stream like every checkpoint writer must; save() cleans up and rethrows.
  const auto [code, message] = save_in_limited_child(
      store, 64 * 1024, 2,
      [](const fs::path& tmp) { write_file(tmp / "huge.bin", random_bytes(256 * 1024, 4)); }, {});
  BOOST_TEST_MESSAGE("child: " << message);
  BOOST_TEST(code == 1, message);
  BOOST_TEST(contains(message, "huge.bin"), message);
  BOOST_TEST(names_in(scratch.path()) == std::vector<std::string>{"step-000000000001"});
  BOOST_TEST(nsl::CheckpointStore::verify(old).global_step == 1);
}

BOOST_AUTO_TEST_CASE(file_size_limit_on_the_manifest_is_detected_by_the_store) {
  nsl::test::ScratchDir scratch("ckpt_efbig_manifest");
  nsl::CheckpointStore store(scratch.path(), 1);
  const fs::path old = save_step(store, 1);
  // Data files fit under the limit; only the manifest (carrying a large info) does not.
  const nlohmann::json info = {{"notes", std::string(64 * 1024, 'n')}};
  const auto [code, message] = save_in_limited_child(store, 16 * 1024, 2, writer_for(2), info);
  BOOST_TEST_MESSAGE("child: " << message);
  BOOST_TEST(code == 1, message);
  BOOST_TEST(contains(message, ".tmp-step-000000000002-"), message);
  BOOST_TEST(contains(message, "manifest.json"), message);
  BOOST_TEST(names_in(scratch.path()) == std::vector<std::string>{"step-000000000001"});
  BOOST_TEST(nsl::CheckpointStore::verify(old).global_step == 1);
  BOOST_TEST(nsl::CheckpointStore::verify(old).info["step"].get<int64_t>() == 1);
}

BOOST_AUTO_TEST_CASE(saving_the_same_step_twice_replaces_it) {
  nsl::test::ScratchDir scratch("ckpt_twice");
  nsl::CheckpointStore store(scratch.path(), 2);
  save_step(store, 4);
  const auto write_version = [](const std::string& content) {
    return [content](const fs::path& tmp) { write_file(tmp / "model.bin", content); };
  };
  const fs::path first = store.save(5, write_version("first version"), {{"v", 1}});
  const fs::path second = store.save(5, write_version("second, longer version"), {{"v", 2}});
  BOOST_TEST(first == second);
  BOOST_TEST(names_in(scratch.path()) ==
             (std::vector<std::string>{"step-000000000004", "step-000000000005"}));
  BOOST_TEST(names_in(second) == (std::vector<std::string>{"manifest.json", "model.bin"}));
  BOOST_TEST(read_file(second / "model.bin") == "second, longer version");
  const auto entry = nsl::CheckpointStore::verify(second);
  BOOST_TEST(entry.info["v"].get<int>() == 2);
  const auto latest = store.latest_valid();
  BOOST_REQUIRE(latest.has_value());
  BOOST_TEST(latest->dir == second);
}

BOOST_AUTO_TEST_CASE(a_save_older_than_the_kept_ones_survives_pruning) {
  nsl::test::ScratchDir scratch("ckpt_older");
  nsl::CheckpointStore store(scratch.path(), 2);
  for (int64_t step : {10, 20, 30}) save_step(store, step);
  const fs::path saved = save_step(store, 15);  // e.g. resumed from 10 after 20 and 30 failed
  BOOST_TEST(fs::exists(saved));
  BOOST_TEST(names_in(scratch.path()) ==
             (std::vector<std::string>{"step-000000000015", "step-000000000030"}));
}

BOOST_AUTO_TEST_CASE(bad_arguments_are_rejected) {
  nsl::test::ScratchDir scratch("ckpt_args");
  BOOST_CHECK_THROW(nsl::CheckpointStore(scratch.path(), 0), nsl::ConfigError);
  nsl::CheckpointStore store(scratch.path(), 1);
  BOOST_CHECK_THROW(save_step(store, -1), nsl::Error);
  BOOST_CHECK_THROW(save_step(store, 1000000000000), nsl::Error);
  BOOST_TEST(store.list().empty());
}
