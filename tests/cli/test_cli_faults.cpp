// Faults from outside the program, injected into real `nsl_dist train` jobs under mpirun:
//  - the disk fills up while a checkpoint is written: a small tmpfs in a private mount namespace
//    (unshare, root only) holding the run folder;
//  - a shard's reads start failing with EIO in the middle of an epoch: the nsl_eio_preload shim
//    (tests/cli/eio_preload.cpp) under every rank;
//  - the loss diverges (a learning rate of 1e30).
// Each job must stop, say why, and leave the checkpoints it wrote before valid and resumable.
// (Resuming with another class count is refused: test_cli_resilience.cpp,
// incompatible_checkpoint_is_refused.)
#define BOOST_TEST_MODULE cli_faults
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <torch/torch.h>

#include <filesystem>
#include <string>
#include <vector>

#include "cli/cli_support.h"
#include "cli/train_runs.h"
#include "train/checkpoint_store.h"

using namespace nsl::test;
namespace fs = std::filesystem;

namespace {

uintmax_t folder_bytes(const fs::path& dir) {
  uintmax_t total = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) total += e.file_size();
  }
  return total;
}

std::vector<std::string> names_in(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

// Every tensor of every checkpoint's model.pt is finite.
void check_finite_checkpoints(const std::string& out) {
  for (const auto& dir : checkpoints(out)) {
    torch::serialize::InputArchive archive;
    archive.load_from((dir / "model.pt").string());
    for (const auto& key : archive.keys()) {
      torch::Tensor t;
      archive.read(key, t);
      BOOST_TEST(torch::isfinite(t).all().item<bool>(), dir.string() << " " << key);
    }
  }
}

}  // namespace

// The run folder lives on a tmpfs with room for one checkpoint and a half: epoch 0's checkpoint
// fits, epoch 1's fails with ENOSPC. The job exits 1 naming the file and the cause, no half-written
// checkpoint is left, the earlier one verifies, and a run with enough space resumes from it.
BOOST_AUTO_TEST_CASE(disk_full_while_checkpointing_keeps_the_previous_checkpoint) {
  BOOST_TEST_REQUIRE(::geteuid() == 0, "needs root for unshare --mount and a tmpfs");
  ScratchDir dir("faults_disk_full");
  const std::string data = small_data();
  // The size of epoch 0's checkpoint of this configuration, measured on an ordinary disk.
  const std::string probe = dir / "probe";
  const auto measured = run_command(mpirun(2) + tiny_train(data, probe, "--set train.epochs=1"));
  BOOST_TEST_REQUIRE(measured.exit_code == 0, measured.output);
  BOOST_TEST_REQUIRE(checkpoints(probe).size() == 2u);
  const uintmax_t one = folder_bytes(checkpoints(probe).front());
  const uintmax_t tmpfs_kb = (one + one / 2) / 1024 + 16;
  BOOST_TEST_MESSAGE("one checkpoint: " << one << " bytes; tmpfs: " << tmpfs_kb << " KiB");

  const std::string mount_point = dir / "small_disk";
  const std::string kept = dir / "kept";
  fs::create_directories(mount_point);
  // The run's exit code is the script's; the run folder is copied out before the namespace (and
  // with it the tmpfs) goes away.
  const std::string script = "mount -t tmpfs -o size=" + std::to_string(tmpfs_kb) + "k nsl_test " +
                             mount_point + " || exit 99; " + mpirun(2) +
                             tiny_train(data, mount_point + "/run") + "; rc=$?; df -k " +
                             mount_point + "; cp -a " + mount_point + "/run " + kept + "; exit $rc";
  const auto r = run_command("unshare --mount sh -c '" + script + "'");
  BOOST_TEST_MESSAGE(r.output);
  BOOST_TEST_REQUIRE(r.exit_code != 99, "mounting the tmpfs failed: " << r.output);
  BOOST_TEST(r.exit_code == 1, r.output);
  BOOST_TEST(contains(r.output, "No space left on device"), r.output);
  BOOST_TEST(contains(r.output, "checkpoint: writing '" + mount_point + "/run/checkpoints/.tmp-"),
             r.output);
  BOOST_TEST(contains(r.output, "check free space"), r.output);

  // Only the complete checkpoint of epoch 0 remains (no .tmp- folder), and it verifies.
  BOOST_TEST(names_in(fs::path(kept) / "checkpoints") ==
             std::vector<std::string>{"step-000000000000"});
  const auto entry = nsl::CheckpointStore::verify(fs::path(kept) / "checkpoints/step-000000000000");
  BOOST_TEST(entry.global_step == 0);

  // With room to write, the job resumes from it and finishes all three epochs.
  const auto resumed = run_command(mpirun(2) + tiny_train(data, kept, "--resume auto"));
  BOOST_TEST(resumed.exit_code == 0, resumed.output);
  BOOST_TEST(contains(resumed.output, "step-000000000000"), resumed.output);
  BOOST_TEST(read_metrics(kept).size() == 4u);
}

// After the start-up checksum pass, reads of one training shard fail with EIO (as on a dying
// disk) once 73 reads of it have succeeded: with this dataset, config and HDF5's chunk cache that
// is the read for step 2 of epoch 1 (measured: 71..74 all land there). The job stops on every rank
// with exit 3 and the shard named, after the checkpoint of epoch 1's step 1 and before any other:
// the failure is mid-epoch, and what was written before it verifies.
BOOST_AUTO_TEST_CASE(unreadable_shard_mid_epoch_stops_every_rank_naming_it) {
  ScratchDir dir("faults_eio");
  const std::string data = small_data();
  const std::string out = dir / "run";
  const std::string shard = "train-00001.h5";
  BOOST_TEST_REQUIRE(fs::exists(fs::path(data) / shard));
  const std::string env = std::string("LD_PRELOAD=") + NSL_EIO_PRELOAD + " NSL_TEST_EIO_FILE=/" +
                          shard + " NSL_TEST_EIO_AFTER=73 ";
  const std::string launcher =
      mpirun(2) + "-x LD_PRELOAD -x NSL_TEST_EIO_FILE -x NSL_TEST_EIO_AFTER ";
  const auto r =
      run_command(env + launcher +
                  tiny_train(data, out, "--set checkpoint.every_steps=1 --set checkpoint.keep=20"));
  BOOST_TEST_MESSAGE(r.output);
  BOOST_TEST(r.exit_code == 3, r.output);
  BOOST_TEST(contains(r.output, "data error: HDF5: reading sample"), r.output);
  BOOST_TEST(contains(r.output, (fs::path(data) / shard).string() + "' (Input/output error)"),
             r.output);
  BOOST_TEST(read_metrics(out).size() == 1u, "only epoch 0 finished");
  const auto dirs = checkpoints(out);
  BOOST_TEST_REQUIRE(dirs.size() == 2u);
  BOOST_TEST(dirs.back().filename() == "step-000000000001");
  for (const auto& d : dirs) BOOST_TEST(nsl::CheckpointStore::verify(d).global_step >= 0);
}

// A learning rate of 1e30 blows the weights up: the job stops on every rank with exit 1, naming
// the step, the rank and the last good checkpoint; no checkpoint holds a non-finite weight.
BOOST_AUTO_TEST_CASE(diverging_run_stops_naming_step_rank_and_last_checkpoint) {
  ScratchDir dir("faults_nan");
  const std::string data = small_data();
  const std::string out = dir / "run";
  const auto r = run_command(mpirun(2) + tiny_train(data, out, "--set train.lr=1e30"));
  BOOST_TEST_MESSAGE(r.output);
  BOOST_TEST(r.exit_code == 1, r.output);
  BOOST_TEST(contains(r.output, "training diverged"), r.output);
  BOOST_TEST(contains(r.output, "Last good checkpoint: " + out + "/checkpoints/step-000000000000"),
             r.output);
  BOOST_TEST(contains(r.output, "rank"), r.output);
  BOOST_TEST(contains(r.output, "at epoch 1 step"), r.output);
  BOOST_TEST(!contains(r.output, "MPI_ABORT"), "every rank stopped together: " << r.output);
  check_finite_checkpoints(out);
  BOOST_TEST(checkpoints(out).size() == 1u);
}
