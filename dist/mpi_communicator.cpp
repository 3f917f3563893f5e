#include "dist/mpi_communicator.h"

#include <mpi.h>

#include <climits>
#include <cstdlib>
#include <vector>

#include "common/error.h"
#include "dist/dtype_name.h"
#include "dist/mpi_error.h"
#include "dist/watchdog.h"

namespace nsl {
namespace {

using Clock = std::chrono::steady_clock;

MPI_Datatype mpi_type(const torch::Tensor& t) {
  switch (t.scalar_type()) {
    case torch::kFloat32:
      return MPI_FLOAT;
    case torch::kFloat64:
      return MPI_DOUBLE;
    case torch::kInt64:
      return MPI_INT64_T;
    case torch::kInt32:
      return MPI_INT32_T;
    case torch::kUInt8:
      return MPI_UINT8_T;
    default:
      throw DistributedError(std::string("MPI back end: unsupported dtype ") +
                             std::string(c10::toString(t.scalar_type())));
  }
}

MPI_Op mpi_op(ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum:
      return MPI_SUM;
    case ReduceOp::kMax:
      return MPI_MAX;
    case ReduceOp::kMin:
      return MPI_MIN;
  }
  return MPI_SUM;
}

int mpi_count(int64_t n, const char* op) {
  if (n > INT_MAX) {
    throw DistributedError(std::string("MPI ") + op + ": " + std::to_string(n) +
                           " elements exceed MPI's int count; split the tensor");
  }
  return static_cast<int>(n);
}

void require_cpu_contiguous(const torch::Tensor& t, const char* op) {
  if (!t.device().is_cpu() || !t.is_contiguous()) {
    throw DistributedError(std::string("MPI ") + op + ": tensor must be contiguous and on the CPU");
  }
}

// A non-blocking MPI collective under the watchdog. Keeps the tensor alive until it is done.
class MpiWork : public CollectiveWork {
 public:
  MpiWork(Watchdog& watchdog, CollectiveDesc desc, torch::Tensor tensor)
      : watchdog_(watchdog), desc_(std::move(desc)), tensor_(std::move(tensor)) {}
  ~MpiWork() override {
    // After a watchdog failure the job is ending: waiting again would only delay the report.
    if (request_ == MPI_REQUEST_NULL || failed_ || watchdog_.failed()) return;
    try {
      wait();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "nsl_dist: %s\n", e.what());
      MPI_Abort(MPI_COMM_WORLD, kExitDistributed);
    }
  }
  MPI_Request* request() { return &request_; }
  bool test() override {
    if (request_ != MPI_REQUEST_NULL) {
      int done = 0;
      check_mpi(MPI_Test(&request_, &done, MPI_STATUS_IGNORE), "Test");
    }
    watchdog_.poll();
    return request_ == MPI_REQUEST_NULL;
  }
  void wait() override {
    try {
      watchdog_.wait(desc_, started_, [this] {
        if (request_ == MPI_REQUEST_NULL) return true;
        int done = 0;
        check_mpi(MPI_Test(&request_, &done, MPI_STATUS_IGNORE), "Test");
        return done != 0;
      });
    } catch (...) {
      failed_ = true;  // the job is ending: the destructor must not wait a second time
      throw;
    }
  }

 private:
  Watchdog& watchdog_;
  CollectiveDesc desc_;
  torch::Tensor tensor_;
  MPI_Request request_ = MPI_REQUEST_NULL;
  bool failed_ = false;
  Clock::time_point started_ = Clock::now();
};

}  // namespace

MpiSession::MpiSession() {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) {
    // Open MPI 4.1's non-blocking all-reduce picks the binomial tree (reduce to one rank, then
    // broadcast) for in-place calls and for fewer than 4 ranks: about half the bandwidth of the
    // blocking call. The ring is bandwidth-optimal for gradient buckets (tests/bench/comm_bench).
    // A value the user set in the environment wins.
    ::setenv("OMPI_MCA_coll_libnbc_iallreduce_algorithm", "ring", /*overwrite=*/0);
    // SERIALIZED: with CUDA tensors, gradient hooks (and their MPI calls) run on the autograd
    // device thread while the main thread waits in backward(); never two threads at once.
    int provided = 0;
    check_mpi(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided), "Init_thread");
  }
}

MpiSession::~MpiSession() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

std::string MpiSession::library_version() {
  char text[MPI_MAX_LIBRARY_VERSION_STRING];
  int len = 0;
  MPI_Get_library_version(text, &len);
  std::string s(text, static_cast<size_t>(len));
  const auto comma = s.find(',');
  return comma == std::string::npos ? s : s.substr(0, comma);
}

struct MpiCommunicator::Handles {
  MPI_Comm world = MPI_COMM_NULL;
  MPI_Comm node = MPI_COMM_NULL;
};

MpiCommunicator::MpiCommunicator() : handles_(std::make_unique<Handles>()) {
  check_mpi(MPI_Comm_dup(MPI_COMM_WORLD, &handles_->world), "Comm_dup");
  MPI_Comm_set_errhandler(handles_->world, MPI_ERRORS_RETURN);
  MPI_Comm_rank(handles_->world, &rank_);
  MPI_Comm_size(handles_->world, &size_);
  check_mpi(MPI_Comm_split_type(handles_->world, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL,
                                &handles_->node),
            "Comm_split_type");
  MPI_Comm_rank(handles_->node, &local_rank_);
  MPI_Comm_size(handles_->node, &local_size_);
  MPI_Comm notices = MPI_COMM_NULL;
  check_mpi(MPI_Comm_dup(handles_->world, &notices), "Comm_dup");
  watchdog_ = std::make_unique<Watchdog>(notices, rank_, size_);
}

MpiCommunicator::~MpiCommunicator() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (finalized) return;
  watchdog_.reset();
  if (handles_->node != MPI_COMM_NULL) MPI_Comm_free(&handles_->node);
  if (handles_->world != MPI_COMM_NULL) MPI_Comm_free(&handles_->world);
}

void MpiCommunicator::set_timeout(double seconds) { watchdog_->set_timeout(seconds); }
double MpiCommunicator::timeout_s() const { return watchdog_->timeout_s(); }
int64_t MpiCommunicator::next_sequence() const { return watchdog_->next_sequence(); }

std::unique_ptr<CollectiveWork> MpiCommunicator::all_reduce_async(torch::Tensor tensor,
                                                                  ReduceOp op) {
  require_cpu_contiguous(tensor, "all_reduce");
  const int count = mpi_count(tensor.numel(), "all_reduce");
  auto desc = watchdog_->begin(CollectiveOp::kAllReduce, static_cast<int64_t>(tensor.nbytes()),
                               dtype_name(tensor));
  auto work = std::make_unique<MpiWork>(*watchdog_, desc, tensor);
  check_mpi(MPI_Iallreduce(MPI_IN_PLACE, tensor.data_ptr(), count, mpi_type(tensor), mpi_op(op),
                           handles_->world, work->request()),
            "Iallreduce");
  return work;
}

void MpiCommunicator::all_reduce(torch::Tensor& tensor, ReduceOp op) {
  all_reduce_async(tensor, op)->wait();
}

void MpiCommunicator::broadcast(torch::Tensor& tensor, int root) {
  require_cpu_contiguous(tensor, "broadcast");
  const int count = mpi_count(tensor.numel(), "broadcast");
  auto desc = watchdog_->begin(CollectiveOp::kBroadcast, static_cast<int64_t>(tensor.nbytes()),
                               dtype_name(tensor));
  MpiWork work(*watchdog_, desc, tensor);
  check_mpi(
      MPI_Ibcast(tensor.data_ptr(), count, mpi_type(tensor), root, handles_->world, work.request()),
      "Ibcast");
  work.wait();
}

torch::Tensor MpiCommunicator::all_gather_rows(const torch::Tensor& tensor) {
  const torch::Tensor local = tensor.contiguous();
  require_cpu_contiguous(local, "all_gather_rows");
  int64_t row_elems = 1;
  for (int64_t d = 1; d < local.dim(); ++d) row_elems *= local.size(d);

  auto my_rows = torch::tensor({local.size(0)}, torch::kInt64);
  auto rows = torch::empty({size_}, torch::kInt64);
  {
    auto desc = watchdog_->begin(CollectiveOp::kAllGather, 8, "int64");
    MpiWork work(*watchdog_, desc, rows);
    check_mpi(MPI_Iallgather(my_rows.data_ptr(), 1, MPI_INT64_T, rows.data_ptr(), 1, MPI_INT64_T,
                             handles_->world, work.request()),
              "Iallgather");
    work.wait();
  }
  std::vector<int> counts(static_cast<size_t>(size_)), displs(static_cast<size_t>(size_));
  int64_t total_rows = 0;
  for (int r = 0; r < size_; ++r) {
    const int64_t n = rows[r].item<int64_t>();
    counts[static_cast<size_t>(r)] = mpi_count(n * row_elems, "all_gather_rows");
    displs[static_cast<size_t>(r)] = mpi_count(total_rows * row_elems, "all_gather_rows");
    total_rows += n;
  }
  std::vector<int64_t> shape = local.sizes().vec();
  shape[0] = total_rows;
  torch::Tensor out = torch::empty(shape, local.options());
  auto desc = watchdog_->begin(CollectiveOp::kAllGatherV, static_cast<int64_t>(out.nbytes()),
                               dtype_name(local));
  MpiWork work(*watchdog_, desc, out);
  check_mpi(MPI_Iallgatherv(local.data_ptr(), static_cast<int>(local.numel()), mpi_type(local),
                            out.data_ptr(), counts.data(), displs.data(), mpi_type(local),
                            handles_->world, work.request()),
            "Iallgatherv");
  work.wait();
  return out;
}

void MpiCommunicator::barrier() {
  auto desc = watchdog_->begin(CollectiveOp::kBarrier, 0, "");
  MpiWork work(*watchdog_, desc, torch::Tensor());
  check_mpi(MPI_Ibarrier(handles_->world, work.request()), "Ibarrier");
  work.wait();
}

void MpiCommunicator::abort(int exit_code) {
  MPI_Abort(MPI_COMM_WORLD, exit_code);
  std::_Exit(exit_code);
}

}  // namespace nsl
