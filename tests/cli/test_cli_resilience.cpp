// Fault tolerance of `nsl_dist train` end to end, through the real binary under mpirun:
//  - the collective watchdog against a hung, a diverged and a killed rank (NSL_FAULT test hook,
//    dist/fault_injection.h), each ending the job with our message well within the timeout;
//  - SIGKILL mid-epoch, then --resume auto: bit-identical to an uninterrupted run;
//  - resuming a 2-rank checkpoint with 1 rank; a corrupted newest checkpoint skipped; an
//    incompatible checkpoint refused (exit 3);
//  - a preemption signal (SIGUSR1 / SIGTERM) to one rank: exit 75 after an agreed checkpoint, then
//    --resume auto: bit-identical to an uninterrupted run.
#define BOOST_TEST_MODULE cli_resilience
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include "cli/cli_support.h"
#include "cli/train_runs.h"

using namespace nsl::test;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

// The watchdog timeout of the fault tests, and the slack allowed on top of it for start-up, the
// training up to the fault, the grace period and MPI_Abort. Those took up to 14 s in a slow CI
// run (ASan); a job the watchdog misses runs until ctest's timeout instead.
constexpr int kTimeoutS = 5;
constexpr double kSlackS = 30.0;

// Collective numbers of the tiny config below (np=2, 3 epochs x 6 steps): #43 is a gradient
// all-reduce early in epoch 1; #84 falls in epoch 2 between its periodic checkpoints at steps 4
// and 6 (measured by killing at every number; the test checks the resulting checkpoint anyway).
// #48 is the broadcast of the Gram-Schmidt centers at the end of epoch 1: a synchronous collective
// after which nothing is in flight, so a rank killed there is reported there. (Killed at a
// gradient all-reduce, the survivor may first time out on the step's own asynchronous all-reduce,
// with another message: CI hit that race.)
// Each evaluation takes 6 collectives (3 all_gather_rows of 2 each: embeddings, labels, indices),
// then 3 more (the per-query outcomes' all_gather_rows, the NMI broadcast): a change there moves
// these numbers.
constexpr int kFaultSeq = 43;
constexpr int kKillSeq = 48;
constexpr int kSkipSeq = 48;
constexpr int kMidEpoch2Seq = 84;

std::string with_fault(const std::string& fault, const std::string& launcher) {
  return "NSL_FAULT=" + fault + " " + launcher + "-x NSL_FAULT ";
}

struct TimedResult {
  CommandResult r;
  double seconds = 0.0;
};

TimedResult timed(const std::string& command) {
  const auto start = Clock::now();
  TimedResult t;
  t.r = run_command(command);
  t.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return t;
}

nlohmann::json info_of(const fs::path& checkpoint) {
  return read_json(checkpoint / "manifest.json").at("info");
}

nlohmann::json newest_info(const std::string& out) {
  const auto dirs = checkpoints(out);
  if (dirs.empty()) throw std::runtime_error("no checkpoint under " + out);
  return info_of(dirs.back());
}

// Every epoch 0..last exactly once, in order.
void check_epochs_once(const std::vector<nlohmann::json>& metrics, int64_t last,
                       const std::string& where) {
  BOOST_TEST(metrics.size() == static_cast<size_t>(last + 1), where);
  for (size_t i = 0; i < metrics.size(); ++i) {
    BOOST_TEST(metrics[i].at("epoch").get<int64_t>() == static_cast<int64_t>(i),
               where << ": line " << i << " is " << metrics[i].dump());
  }
}

// Everything but the timings must be equal, doubles bit for bit.
void check_same_history(const std::vector<nlohmann::json>& got,
                        const std::vector<nlohmann::json>& want) {
  BOOST_TEST_REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    for (const auto& [key, value] : want[i].items()) {
      if (key == "images_per_s" || key == "seconds") continue;
      BOOST_TEST(got[i].contains(key), "epoch " << i << " lacks " << key);
      if (!got[i].contains(key)) continue;
      BOOST_TEST(got[i].at(key) == value, "epoch " << i << " " << key << ": " << got[i].at(key)
                                                   << " != reference " << value);
    }
  }
}

// Every tensor of two LibTorch archives (model.pt, optimizer.pt, rng.pt): same names, equal bits.
void check_same_archive(const fs::path& a, const fs::path& b) {
  torch::serialize::InputArchive x, y;
  x.load_from(a.string());
  y.load_from(b.string());
  auto kx = x.keys(), ky = y.keys();
  std::sort(kx.begin(), kx.end());
  std::sort(ky.begin(), ky.end());
  BOOST_TEST_REQUIRE(kx == ky, a << " and " << b << " hold different tensor names");
  BOOST_TEST(!kx.empty(), a);
  for (const auto& key : kx) {
    torch::Tensor tx, ty;
    x.read(key, tx);
    y.read(key, ty);
    BOOST_TEST((tx.dtype() == ty.dtype() && tx.sizes().equals(ty.sizes()) && torch::equal(tx, ty)),
               a.filename() << ": tensor " << key << " differs");
  }
}

void check_same_checkpoint(const fs::path& got, const fs::path& want) {
  BOOST_TEST(info_of(got).at("weights_fnv1a64") == info_of(want).at("weights_fnv1a64"),
             got << " vs reference " << want);
  for (const char* f : {"model.pt", "optimizer.pt", "rng.pt"})
    check_same_archive(got / f, want / f);
}

std::map<int, pid_t> rank_pids(const std::string& out);

// mpirun started in the background, output to a log file. Left running (a failed check), it is
// killed with the rank processes of its --out folder (they are in process groups of their own).
class BackgroundJob {
 public:
  BackgroundJob(const std::string& command, const std::string& log, std::string out)
      : out_(std::move(out)) {
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      const std::string line = "exec " + command + " >" + log + " 2>&1";
      ::execl("/bin/sh", "sh", "-c", line.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
  }
  ~BackgroundJob() { stop(); }
  BackgroundJob(const BackgroundJob&) = delete;
  BackgroundJob& operator=(const BackgroundJob&) = delete;

  bool running() {
    if (done_) return false;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      done_ = true;
      code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    return !done_;
  }
  // The exit code, or -1 when it ran past `seconds` (it is killed then).
  int wait(double seconds) {
    const auto deadline = Clock::now() + std::chrono::duration<double>(seconds);
    while (running()) {
      if (Clock::now() > deadline) {
        stop();
        return -1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return code_;
  }

 private:
  void stop() {
    if (done_) return;
    for (const auto& [rank, pid] : rank_pids(out_)) ::kill(pid, SIGKILL);
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    done_ = true;
  }

  std::string out_;
  pid_t pid_ = -1;
  bool done_ = false;
  int code_ = -1;
};

std::vector<std::string> nul_separated(const fs::path& path) {
  const std::string text = read_text(path);
  std::vector<std::string> parts;
  std::string cur;
  for (char c : text) {
    if (c == '\0') {
      parts.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) parts.push_back(cur);
  return parts;
}

// rank -> pid of the nsl_dist processes whose command line has `--out out` (not mpirun).
std::map<int, pid_t> rank_pids(const std::string& out) {
  std::map<int, pid_t> ranks;
  for (const auto& e : fs::directory_iterator("/proc")) {
    const std::string name = e.path().filename().string();
    if (name.empty() ||
        !std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; }))
      continue;
    try {
      const auto argv = nul_separated(e.path() / "cmdline");
      if (argv.empty() || fs::path(argv[0]).filename().string() != "nsl_dist") continue;
      bool ours = false;
      for (size_t i = 0; i + 1 < argv.size(); ++i)
        ours = ours || (argv[i] == "--out" && argv[i + 1] == out);
      if (!ours) continue;
      for (const auto& var : nul_separated(e.path() / "environ")) {
        const std::string key = "OMPI_COMM_WORLD_RANK=";
        if (var.rfind(key, 0) == 0) ranks[std::stoi(var.substr(key.size()))] = std::stoi(name);
      }
    } catch (const std::exception&) {
      // the process went away while being read
    }
  }
  return ranks;
}

// The preemption scenario's data and config: whole epochs on 600 classes (3600 training images,
// 225 steps of 16: about 0.6 s of steps per epoch on an idle 2-core machine), long enough to
// signal a rank mid-epoch 2.
struct PreemptionSetup {
  ScratchDir dir{"resilience_preempt"};
  std::string data = dir / "data";
  PreemptionSetup() { make_dataset(data, 600, 4); }
  std::string command(const std::string& out) const {
    return mpirun(2) + nsl_dist() + " train --config " + NSL_SOURCE_DIR +
           "/configs/tiny.yaml --set data.path=" + data + " --out " + out +
           " --quiet --set train.threads_per_rank=1 --set train.epochs=3"
           " --set train.max_steps_per_epoch=0 --set dist.timeout_s=60";
  }
};

struct PreemptionReference {
  PreemptionSetup setup;
  std::string out = setup.dir / "reference";
  PreemptionReference() {
    const auto r = run_command(setup.command(out));
    if (r.exit_code != 0) throw std::runtime_error("reference run failed: " + r.output);
  }
};

const PreemptionReference& preemption_reference() {
  static PreemptionReference ref;
  return ref;
}

// Signals one rank mid-epoch 2; the job must checkpoint, exit 75, and resume bit-identically.
void preempt_and_resume(int signo, int rank) {
  const PreemptionReference& ref = preemption_reference();
  const std::string out = ref.setup.dir / ("preempted-" + std::to_string(signo));
  const std::string log = ref.setup.dir / ("preempted-" + std::to_string(signo) + ".log");
  int exit_code = -1;
  {
    BackgroundJob job(ref.setup.command(out), log, out);
    // Wait for epoch 1's line and its epoch-end checkpoint ({epoch 2, step 0}), then 50 ms: the
    // job is then past epoch 1's end-of-epoch preemption check (which follows that save: rank 1
    // enters it before rank 0 writes the line, rank 0 right after the save), so the signal is
    // taken at a step boundary of epoch 2.
    const auto deadline = Clock::now() + std::chrono::seconds(300);
    bool in_epoch2 = false;
    while (!in_epoch2 && job.running() && Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      const auto metrics = read_metrics(out);
      if (metrics.size() < 2) continue;
      for (const auto& c : checkpoints(out)) {
        try {
          const auto info = info_of(c);
          in_epoch2 = in_epoch2 || (info.at("epoch") == 2 && info.at("step") == 0);
        } catch (const std::exception&) {
        }
      }
    }
    BOOST_TEST_REQUIRE(in_epoch2, "the run never reached epoch 2:\n" << read_text(log));
    const auto ranks = rank_pids(out);
    BOOST_TEST_REQUIRE(ranks.size() == 2u, "rank processes found: " << ranks.size());
    BOOST_TEST_REQUIRE(ranks.count(rank) == 1u);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    BOOST_TEST_REQUIRE(::kill(ranks.at(rank), signo) == 0);
    exit_code = job.wait(300);
  }
  const std::string output = read_text(log);
  BOOST_TEST(exit_code == 75, output);
  BOOST_TEST(contains(output, "preempted by a signal: stopped at epoch 2 after step "), output);
  const auto dirs = checkpoints(out);
  BOOST_TEST_REQUIRE(!dirs.empty());
  const auto info = info_of(dirs.back());
  BOOST_TEST(info.at("reason") == "preempted", info.dump());
  BOOST_TEST(info.at("epoch") == 2, info.dump());
  BOOST_TEST(info.at("step").get<int64_t>() > 0, info.dump());
  BOOST_TEST_MESSAGE("signal " << signo << " to rank " << rank << ": stopped at epoch 2 step "
                               << info.at("step") << " of "
                               << read_metrics(ref.out).at(2).at("steps"));
  // Training stopped there: no metrics line of epoch 2 yet.
  check_epochs_once(read_metrics(out), 1, "after the preemption");

  const auto resumed = run_command(ref.setup.command(out) + " --resume auto");
  BOOST_TEST_REQUIRE(resumed.exit_code == 0, resumed.output);
  BOOST_TEST(contains(resumed.output, "resuming from " + dirs.back().string() + " (epoch 2, step " +
                                          std::to_string(info.at("step").get<int64_t>())),
             resumed.output);
  const auto metrics = read_metrics(out);
  check_epochs_once(metrics, 3, out);
  check_same_history(metrics, read_metrics(ref.out));
  check_same_checkpoint(checkpoints(out).back(), checkpoints(ref.out).back());
}

}  // namespace

// A rank hanging in a collective: the other's watchdog names the collective and the missing rank
// and ends the job with exit code 4 shortly after dist.timeout_s.
BOOST_AUTO_TEST_CASE(watchdog_hang) {
  ScratchDir dir("resilience_hang");
  const auto t = timed(
      with_fault("hang:1:" + std::to_string(kFaultSeq), mpirun(2)) +
      tiny_train(small_data(), dir / "run", "--set dist.timeout_s=" + std::to_string(kTimeoutS)));
  BOOST_TEST(t.r.exit_code == 4, t.r.output);
  BOOST_TEST(t.seconds < kTimeoutS + kSlackS, t.seconds << " s\n" << t.r.output);
  BOOST_TEST(contains(t.r.output, "watchdog: collective #" + std::to_string(kFaultSeq) + " "),
             t.r.output);
  BOOST_TEST(contains(t.r.output, "did not complete within 5 s"), t.r.output);
  BOOST_TEST(contains(t.r.output, "ranks that did not arrive: 1"), t.r.output);
}

// A rank skipping a collective (its code path diverged): detected at the collective, exit 4,
// both ranks' calls named.
BOOST_AUTO_TEST_CASE(watchdog_skip) {
  ScratchDir dir("resilience_skip");
  const auto t = timed(
      with_fault("skip:1:" + std::to_string(kSkipSeq), mpirun(2)) +
      tiny_train(small_data(), dir / "run", "--set dist.timeout_s=" + std::to_string(kTimeoutS)));
  BOOST_TEST(t.r.exit_code == 4, t.r.output);
  BOOST_TEST(t.seconds < kTimeoutS + kSlackS, t.seconds << " s\n" << t.r.output);
  BOOST_TEST(contains(t.r.output, "ranks diverged at collective #"), t.r.output);
  BOOST_TEST(contains(t.r.output, "rank 0 called #"), t.r.output);
  BOOST_TEST(contains(t.r.output, "rank 1 called #"), t.r.output);
}

// A rank killed by SIGKILL. (a) mpirun notices and ends the job; (b) when the launcher leaves the
// survivors alone (like srun without --kill-on-bad-exit) our watchdog ends it.
BOOST_AUTO_TEST_CASE(watchdog_killed_rank) {
  ScratchDir dir("resilience_kill");
  const std::string fault = "kill:1:" + std::to_string(kKillSeq);
  const std::string timeout = "--set dist.timeout_s=" + std::to_string(kTimeoutS);
  const auto a = timed(with_fault(fault, mpirun(2)) + tiny_train(small_data(), dir / "a", timeout));
  BOOST_TEST(a.r.exit_code != 0, a.r.output);
  BOOST_TEST(a.seconds < kTimeoutS + kSlackS, a.seconds << " s\n" << a.r.output);
  BOOST_TEST(contains(a.r.output, "rank 1"), a.r.output);
  BOOST_TEST(contains(a.r.output, "signal 9"), a.r.output);

  const auto b = timed(with_fault(fault, mpirun(2) + "--mca orte_abort_on_non_zero_status 0 ") +
                       tiny_train(small_data(), dir / "b", timeout));
  BOOST_TEST(b.r.exit_code != 0, b.r.output);
  BOOST_TEST(b.seconds < kTimeoutS + kSlackS, b.seconds << " s\n" << b.r.output);
  BOOST_TEST(contains(b.r.output, "watchdog: collective #" + std::to_string(kKillSeq) + " "),
             b.r.output);
  BOOST_TEST(contains(b.r.output, "did not complete within 5 s"), b.r.output);
  BOOST_TEST(contains(b.r.output, "ranks that did not arrive: 1"), b.r.output);
}

// SIGKILL of a rank mid-epoch 2; --resume auto from the newest (periodic) checkpoint gives the
// uninterrupted run's weights, optimizer state and metrics bit for bit.
BOOST_AUTO_TEST_CASE(sigkill_mid_epoch_resume_is_bit_identical) {
  ScratchDir dir("resilience_sigkill");
  const std::string data = small_data();
  const std::string extra = "--set checkpoint.every_steps=2 --set dist.timeout_s=30";
  const std::string ref = dir / "reference";
  const auto r = run_command(mpirun(2) + tiny_train(data, ref, extra));
  BOOST_TEST_REQUIRE(r.exit_code == 0, r.output);
  check_epochs_once(read_metrics(ref), 3, ref);
  BOOST_TEST(newest_info(ref).at("epoch") == 4);

  const std::string out = dir / "run";
  const auto crashed =
      run_command(with_fault("kill:1:" + std::to_string(kMidEpoch2Seq), mpirun(2)) +
                  tiny_train(data, out, extra));
  BOOST_TEST_REQUIRE(crashed.exit_code != 0, crashed.output);
  const auto dirs = checkpoints(out);
  BOOST_TEST_REQUIRE(!dirs.empty(), crashed.output);
  const auto info = info_of(dirs.back());
  // Mid-epoch 2 of 6 steps: a periodic checkpoint, not an epoch end.
  BOOST_TEST(info.at("epoch") == 2, info.dump());
  BOOST_TEST(info.at("step").get<int64_t>() > 0, info.dump());
  BOOST_TEST(info.at("step").get<int64_t>() < 6, info.dump());
  BOOST_TEST(info.at("reason") == "periodic", info.dump());
  BOOST_TEST(info.at("world_size") == 2, info.dump());

  const auto resumed = run_command(mpirun(2) + tiny_train(data, out, extra + " --resume auto"));
  BOOST_TEST_REQUIRE(resumed.exit_code == 0, resumed.output);
  BOOST_TEST(contains(resumed.output, "resuming from " + dirs.back().string() + " (epoch 2, step " +
                                          std::to_string(info.at("step").get<int64_t>()) + ","),
             resumed.output);
  const auto metrics = read_metrics(out);
  check_epochs_once(metrics, 3, out);
  check_same_history(metrics, read_metrics(ref));
  BOOST_TEST(info_of(checkpoints(out).back()).at("epoch") == 4);
  check_same_checkpoint(checkpoints(out).back(), checkpoints(ref).back());
}

// A checkpoint written by 2 ranks resumed by a single process (no mpirun).
BOOST_AUTO_TEST_CASE(resume_with_one_rank_from_a_two_rank_checkpoint) {
  ScratchDir dir("resilience_np1");
  const std::string data = small_data();
  const std::string out = dir / "run";
  const auto first = run_command(mpirun(2) + tiny_train(data, out, "--set train.epochs=2"));
  BOOST_TEST_REQUIRE(first.exit_code == 0, first.output);
  BOOST_TEST(newest_info(out).at("world_size") == 2);
  BOOST_TEST(newest_info(out).at("epoch") == 3);
  check_epochs_once(read_metrics(out), 2, out);

  const auto second = run_command(tiny_train(data, out, "--set train.epochs=3 --resume auto"));
  BOOST_TEST_REQUIRE(second.exit_code == 0, second.output);
  BOOST_TEST(contains(second.output, "1 rank(s)"), second.output);
  const std::string from = (fs::path(out) / "checkpoints" / "step-000000000012").string();
  BOOST_TEST(
      contains(second.output, "resuming from " + from + " (epoch 3, step 0, written by 2 rank(s))"),
      second.output);
  const auto metrics = read_metrics(out);
  check_epochs_once(metrics, 3, out);
  BOOST_TEST(std::isfinite(metrics.back().at("loss").get<double>()));
  const auto info = newest_info(out);
  BOOST_TEST(info.at("world_size") == 1, info.dump());
  BOOST_TEST(info.at("epoch") == 4, info.dump());
  BOOST_TEST(info.at("global_step") == 18, info.dump());
}

// One flipped byte in the newest checkpoint's model.pt: --resume auto names the file, skips the
// checkpoint and resumes from the one before.
BOOST_AUTO_TEST_CASE(corrupted_newest_checkpoint_is_skipped) {
  ScratchDir dir("resilience_corrupt");
  const std::string data = small_data();
  const std::string out = dir / "run";
  const std::string extra = "--set checkpoint.every_steps=2 --set checkpoint.keep=3";
  const auto first =
      run_command(mpirun(2) + tiny_train(data, out, extra + " --set train.epochs=2"));
  BOOST_TEST_REQUIRE(first.exit_code == 0, first.output);
  const auto dirs = checkpoints(out);
  BOOST_TEST_REQUIRE(dirs.size() == 3u);  // steps 8, 10, 12
  const fs::path newest = dirs.back(), previous = dirs[dirs.size() - 2];

  const fs::path model = newest / "model.pt";
  const auto size = fs::file_size(model);
  {
    std::fstream f(model, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(static_cast<std::streamoff>(size / 2));
    char byte = 0;
    f.read(&byte, 1);
    byte = static_cast<char>(byte ^ 0x5a);
    f.seekp(static_cast<std::streamoff>(size / 2));
    f.write(&byte, 1);
  }
  BOOST_TEST_REQUIRE(fs::file_size(model) == size);

  const auto second =
      run_command(mpirun(2) + tiny_train(data, out, extra + " --set train.epochs=3 --resume auto"));
  BOOST_TEST_REQUIRE(second.exit_code == 0, second.output);
  BOOST_TEST(contains(second.output, "checkpoint " + newest.string() + " skipped"), second.output);
  BOOST_TEST(contains(second.output, "'model.pt'"), second.output);
  BOOST_TEST(contains(second.output, "corrupted"), second.output);
  BOOST_TEST(contains(second.output, "resuming from " + previous.string() + " "), second.output);
  check_epochs_once(read_metrics(out), 3, out);
  BOOST_TEST(newest_info(out).at("epoch") == 4);
}

// Resuming with another embedding size or another class count is refused with exit 3 before
// anything is written.
BOOST_AUTO_TEST_CASE(incompatible_checkpoint_is_refused) {
  ScratchDir dir("resilience_incompatible");
  const std::string data = small_data();
  const std::string out = dir / "run";
  const auto first = run_command(mpirun(2) + tiny_train(data, out, "--set train.epochs=1"));
  BOOST_TEST_REQUIRE(first.exit_code == 0, first.output);
  const auto before = checkpoints(out);
  const std::string metrics_before = read_text(fs::path(out) / "metrics.jsonl");

  const auto dim =
      run_command(mpirun(2) + tiny_train(data, out, "--set model.embedding_dim=32 --resume auto"));
  BOOST_TEST(dim.exit_code == 3, dim.output);
  BOOST_TEST(contains(dim.output,
                      "trained with 16 embedding dimensions (model.embedding_dim) but "
                      "this run has 32"),
             dim.output);

  const std::string other = dir / "other_data";
  make_dataset(other, 20);  // 10 training classes instead of 12
  const auto classes =
      run_command(tiny_train(data, out, "--set data.path=" + other + " --resume auto"));
  BOOST_TEST(classes.exit_code == 3, classes.output);
  BOOST_TEST(contains(classes.output, "trained with 12 training classes but this run has 10"),
             classes.output);

  BOOST_TEST((checkpoints(out) == before));
  BOOST_TEST(read_text(fs::path(out) / "metrics.jsonl") == metrics_before);
}

// SIGUSR1 to rank 1 only: every rank stops at the same step, rank 0 checkpoints, exit 75; the
// resumed run equals an uninterrupted one bit for bit.
BOOST_AUTO_TEST_CASE(sigusr1_preemption_then_resume) { preempt_and_resume(SIGUSR1, 1); }

// The same with SIGTERM to rank 0.
BOOST_AUTO_TEST_CASE(sigterm_preemption_then_resume) { preempt_and_resume(SIGTERM, 0); }
