// The NSL_FAULT test hook: its parser, and FaultInjectingCommunicator over a recording stand-in
// for a back end (skip against a hand-worked numbering; hang and kill in a forked child).
#define BOOST_TEST_MODULE fault_injection
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "common/error.h"
#include "dist/fault_injecting_communicator.h"
#include "dist/fault_injection.h"

using nsl::Communicator;
using nsl::FaultAction;
using nsl::FaultPlan;

namespace {

class DoneWork : public nsl::CollectiveWork {
 public:
  bool test() override { return true; }
  void wait() override {}
};

// Stands in for rank `rank` of 2 ranks holding equal tensors: numbers its collectives like the
// real back ends (all_gather_rows takes two numbers, as over MPI and NCCL), writes "#<n> <op>" to
// `log` for each, and an all-reduce doubles its tensor (the sum of the two ranks).
class RecordingCommunicator : public Communicator {
 public:
  RecordingCommunicator(int rank, std::vector<std::string>& log) : rank_(rank), log_(log) {}

  int rank() const override { return rank_; }
  int size() const override { return 2; }
  int local_rank() const override { return rank_; }
  int local_size() const override { return 2; }
  std::string backend() const override { return "recording"; }
  void all_reduce(torch::Tensor& tensor, nsl::ReduceOp) override {
    record("all_reduce");
    tensor.mul_(2);
  }
  std::unique_ptr<nsl::CollectiveWork> all_reduce_async(torch::Tensor tensor,
                                                        nsl::ReduceOp op) override {
    all_reduce(tensor, op);
    return std::make_unique<DoneWork>();
  }
  void broadcast(torch::Tensor&, int) override { record("broadcast"); }
  torch::Tensor all_gather_rows(const torch::Tensor& tensor) override {
    record("all_gather");
    record("all_gather_v");
    return torch::cat({tensor, tensor});
  }
  void barrier() override { record("barrier"); }
  [[noreturn]] void abort(int exit_code) override { std::_Exit(exit_code); }
  void set_timeout(double seconds) override { timeout_s_ = seconds; }
  double timeout_s() const override { return timeout_s_; }
  int64_t next_sequence() const override { return next_seq_; }

 private:
  void record(const std::string& op) {
    log_.push_back("#" + std::to_string(next_seq_++) + " " + op);
  }

  int rank_;
  std::vector<std::string>& log_;
  double timeout_s_ = 600.0;
  int64_t next_seq_ = 1;
};

std::unique_ptr<Communicator> wrapped(int rank, std::vector<std::string>& log,
                                      const std::string& fault) {
  return std::make_unique<nsl::FaultInjectingCommunicator>(
      std::make_unique<RecordingCommunicator>(rank, log), FaultPlan::parse(fault));
}

// The same calls on every rank: a barrier, all-reduces (blocking and not) and a broadcast around
// an all_gather_rows; returns the tensors the all-reduces were given.
std::vector<torch::Tensor> run_calls(Communicator& comm) {
  std::vector<torch::Tensor> reduced;
  auto reduce = [&](bool async) {
    torch::Tensor t = torch::ones({3});
    if (async) {
      auto work = comm.all_reduce_async(t, nsl::ReduceOp::kSum);
      BOOST_TEST(work->test());
      work->wait();
    } else {
      comm.all_reduce(t, nsl::ReduceOp::kSum);
    }
    reduced.push_back(t);
  };
  torch::Tensor b = torch::ones({2});
  comm.barrier();           // #1
  reduce(false);            // #2
  comm.broadcast(b, 0);     // #3
  reduce(true);             // #4
  reduce(false);            // #5
  comm.all_gather_rows(b);  // #6, #7
  reduce(true);             // #8
  return reduced;
}

std::vector<double> firsts(const std::vector<torch::Tensor>& tensors) {
  std::vector<double> out;
  for (const auto& t : tensors) out.push_back(t[0].item<double>());
  return out;
}

// Runs `calls` in a child process that writes a byte to a pipe after each call that returned.
// Returns the child's pid and the pipe's read end.
std::pair<pid_t, int> fork_calls(const std::function<void(const std::function<void()>&)>& calls) {
  int fds[2];
  BOOST_TEST_REQUIRE(::pipe(fds) == 0);
  const pid_t pid = ::fork();
  BOOST_TEST_REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(fds[0]);
    try {
      calls([&] {
        const char byte = 1;
        if (::write(fds[1], &byte, 1) != 1) std::_Exit(98);
      });
    } catch (...) {
      std::_Exit(99);
    }
    std::_Exit(0);
  }
  ::close(fds[1]);
  return {pid, fds[0]};
}

// Bytes read from `fd` until it is closed or `ms` pass without one.
int bytes_within(int fd, int ms) {
  int count = 0;
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, ms) <= 0) return count;
    char byte = 0;
    if (::read(fd, &byte, 1) != 1) return count;
    ++count;
  }
}

}  // namespace

BOOST_AUTO_TEST_CASE(fault_plan_parses_and_rejects) {
  const auto plan = FaultPlan::parse("skip:1:42");
  BOOST_TEST(static_cast<int>(plan.action) == static_cast<int>(FaultAction::kSkip));
  BOOST_TEST(plan.rank == 1);
  BOOST_TEST(plan.seq == 42);
  auto at = [&](const FaultPlan& p, int rank, int64_t seq, bool reduce, bool before) {
    return static_cast<int>(p.at(rank, seq, reduce, before));
  };
  const int skip = static_cast<int>(FaultAction::kSkip);
  const int none = static_cast<int>(FaultAction::kNone);
  BOOST_TEST(at(plan, 1, 42, true, false) == skip);
  BOOST_TEST(at(plan, 0, 42, true, false) == none);   // another rank
  BOOST_TEST(at(plan, 1, 41, true, false) == none);   // too early
  BOOST_TEST(at(plan, 1, 42, false, false) == none);  // not an all-reduce: the next one is
  BOOST_TEST(at(plan, 1, 43, true, false) == skip);
  BOOST_TEST(at(plan, 1, 44, true, true) == none);  // fires once
  const auto hang = FaultPlan::parse("hang:0:7");
  const int hangs = static_cast<int>(FaultAction::kHang);
  BOOST_TEST(at(hang, 0, 6, false, false) == none);
  BOOST_TEST(at(hang, 0, 7, false, false) == hangs);
  BOOST_TEST(at(hang, 0, 8, true, false) == hangs);  // 7 was inside a call that took two numbers
  BOOST_TEST(at(hang, 1, 7, false, false) == none);
  BOOST_TEST(static_cast<int>(FaultPlan::parse("kill:0:1").action) ==
             static_cast<int>(FaultAction::kKill));
  for (const char* bad :
       {"", "skip", "skip:1", "jump:1:2", "skip:x:2", "skip:1:2x", "hang:1:2:3"}) {
    BOOST_CHECK_THROW(FaultPlan::parse(bad), nsl::ConfigError);
  }
}

BOOST_AUTO_TEST_CASE(no_fault_leaves_the_communicator_bare) {
  std::vector<std::string> log;
  auto inner = std::make_unique<RecordingCommunicator>(0, log);
  const Communicator* raw = inner.get();
  BOOST_TEST(nsl::with_faults(std::move(inner), FaultPlan{}).get() == raw);

  auto faulty = nsl::with_faults(std::make_unique<RecordingCommunicator>(1, log),
                                 FaultPlan::parse("skip:0:1"));
  BOOST_TEST(dynamic_cast<nsl::FaultInjectingCommunicator*>(faulty.get()) != nullptr);
  BOOST_TEST(faulty->backend() == "recording");
  BOOST_TEST(faulty->rank() == 1);
  faulty->set_timeout(2.5);
  BOOST_TEST(faulty->timeout_s() == 2.5);
}

// Another rank's fault: every call goes through, numbered as without the wrapper.
BOOST_AUTO_TEST_CASE(a_fault_of_another_rank_changes_nothing) {
  std::vector<std::string> log;
  auto comm = wrapped(0, log, "skip:1:1");
  const auto reduced = run_calls(*comm);
  BOOST_TEST(firsts(reduced) == std::vector<double>({2, 2, 2, 2}),
             boost::test_tools::per_element());
  const std::vector<std::string> want = {"#1 barrier",      "#2 all_reduce", "#3 broadcast",
                                         "#4 all_reduce",   "#5 all_reduce", "#6 all_gather",
                                         "#7 all_gather_v", "#8 all_reduce"};
  BOOST_TEST(log == want, boost::test_tools::per_element());
  BOOST_TEST(comm->next_sequence() == 9);
}

// skip:1:3: #3 is a broadcast, so the next all-reduce (the asynchronous one numbered 4) is
// skipped: its tensor stays as it was and it does not use up number 4, which the following
// all-reduce takes; every later number is one lower than on a rank that skipped nothing.
BOOST_AUTO_TEST_CASE(skip_leaves_the_tensor_and_the_number) {
  std::vector<std::string> log;
  auto comm = wrapped(1, log, "skip:1:3");
  const auto reduced = run_calls(*comm);
  BOOST_TEST(firsts(reduced) == std::vector<double>({2, 1, 2, 2}),
             boost::test_tools::per_element());
  const std::vector<std::string> want = {"#1 barrier",    "#2 all_reduce", "#3 broadcast",
                                         "#4 all_reduce", "#5 all_gather", "#6 all_gather_v",
                                         "#7 all_reduce"};
  BOOST_TEST(log == want, boost::test_tools::per_element());
  BOOST_TEST(comm->next_sequence() == 8);
}

// A blocking all-reduce skipped at its exact number.
BOOST_AUTO_TEST_CASE(skip_of_a_blocking_all_reduce) {
  std::vector<std::string> log;
  auto comm = wrapped(1, log, "skip:1:2");
  const auto reduced = run_calls(*comm);
  BOOST_TEST(firsts(reduced) == std::vector<double>({1, 2, 2, 2}),
             boost::test_tools::per_element());
  BOOST_TEST(log.size() == 7u);
  BOOST_TEST(log.at(1) == "#2 broadcast");
}

// kill:0:3 after two barriers: the third call dies by SIGKILL before reaching the back end.
BOOST_AUTO_TEST_CASE(kill_ends_the_process_at_its_number) {
  const auto [pid, fd] = fork_calls([](const std::function<void()>& returned) {
    std::vector<std::string> log;
    auto comm = wrapped(0, log, "kill:0:3");
    comm->barrier();
    returned();
    comm->barrier();
    returned();
    comm->barrier();
    returned();
  });
  int status = 0;
  BOOST_TEST_REQUIRE(::waitpid(pid, &status, 0) == pid);
  BOOST_TEST(bytes_within(fd, 0) == 2);
  ::close(fd);
  BOOST_TEST(WIFSIGNALED(status));
  BOOST_TEST((WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL));
}

// A kill numbered inside all_gather_rows (#1, #2) fires at the next call.
BOOST_AUTO_TEST_CASE(kill_inside_a_two_number_call_fires_at_the_next) {
  const auto [pid, fd] = fork_calls([](const std::function<void()>& returned) {
    std::vector<std::string> log;
    auto comm = wrapped(0, log, "kill:0:2");
    comm->all_gather_rows(torch::ones({1}));
    returned();
    comm->barrier();
    returned();
  });
  int status = 0;
  BOOST_TEST_REQUIRE(::waitpid(pid, &status, 0) == pid);
  BOOST_TEST(bytes_within(fd, 0) == 1);
  ::close(fd);
  BOOST_TEST((WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL));
}

// hang:0:2: the first barrier returns, the second never does.
BOOST_AUTO_TEST_CASE(hang_never_returns) {
  const auto [pid, fd] = fork_calls([](const std::function<void()>& returned) {
    std::vector<std::string> log;
    auto comm = wrapped(0, log, "hang:0:2");
    comm->barrier();
    returned();
    comm->barrier();
    returned();
  });
  BOOST_TEST(bytes_within(fd, 1000) == 1);  // up to 1 s for each byte
  int status = 0;
  BOOST_TEST(::waitpid(pid, &status, WNOHANG) == 0, "the hanging child ended");
  ::kill(pid, SIGKILL);
  ::waitpid(pid, &status, 0);
  ::close(fd);
}
