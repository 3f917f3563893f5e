#include "dist/mpi_communicator.h"

#include <mpi.h>

#include <vector>

#include "common/error.h"

namespace nsl {
namespace {

void check(int rc, const char* op) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, text, &len);
  throw DistributedError(std::string("MPI ") + op + " failed: " + std::string(text, len));
}

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

void require_cpu_contiguous(const torch::Tensor& t, const char* op) {
  if (!t.device().is_cpu() || !t.is_contiguous()) {
    throw DistributedError(std::string("MPI ") + op + ": tensor must be contiguous and on the CPU");
  }
}

}  // namespace

MpiSession::MpiSession() {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) {
    int provided = 0;
    check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "Init_thread");
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
  check(MPI_Comm_dup(MPI_COMM_WORLD, &handles_->world), "Comm_dup");
  MPI_Comm_set_errhandler(handles_->world, MPI_ERRORS_RETURN);
  MPI_Comm_rank(handles_->world, &rank_);
  MPI_Comm_size(handles_->world, &size_);
  check(MPI_Comm_split_type(handles_->world, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL,
                            &handles_->node),
        "Comm_split_type");
  MPI_Comm_rank(handles_->node, &local_rank_);
  MPI_Comm_size(handles_->node, &local_size_);
}

MpiCommunicator::~MpiCommunicator() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (finalized) return;
  if (handles_->node != MPI_COMM_NULL) MPI_Comm_free(&handles_->node);
  if (handles_->world != MPI_COMM_NULL) MPI_Comm_free(&handles_->world);
}

void MpiCommunicator::all_reduce(torch::Tensor& tensor, ReduceOp op) {
  require_cpu_contiguous(tensor, "all_reduce");
  check(MPI_Allreduce(MPI_IN_PLACE, tensor.data_ptr(), static_cast<int>(tensor.numel()),
                      mpi_type(tensor), mpi_op(op), handles_->world),
        "Allreduce");
}

void MpiCommunicator::broadcast(torch::Tensor& tensor, int root) {
  require_cpu_contiguous(tensor, "broadcast");
  check(MPI_Bcast(tensor.data_ptr(), static_cast<int>(tensor.numel()), mpi_type(tensor), root,
                  handles_->world),
        "Bcast");
}

torch::Tensor MpiCommunicator::all_gather_rows(const torch::Tensor& tensor) {
  const torch::Tensor local = tensor.contiguous();
  require_cpu_contiguous(local, "all_gather_rows");
  int64_t row_shape_elems = 1;
  for (int64_t d = 1; d < local.dim(); ++d) row_shape_elems *= local.size(d);
  const int my_rows = static_cast<int>(local.size(0));
  std::vector<int> rows(static_cast<size_t>(size_));
  check(MPI_Allgather(&my_rows, 1, MPI_INT, rows.data(), 1, MPI_INT, handles_->world), "Allgather");
  std::vector<int> counts(static_cast<size_t>(size_)), displs(static_cast<size_t>(size_));
  int64_t total_rows = 0;
  for (int r = 0; r < size_; ++r) {
    counts[static_cast<size_t>(r)] =
        static_cast<int>(rows[static_cast<size_t>(r)] * row_shape_elems);
    displs[static_cast<size_t>(r)] = static_cast<int>(total_rows * row_shape_elems);
    total_rows += rows[static_cast<size_t>(r)];
  }
  std::vector<int64_t> shape = local.sizes().vec();
  shape[0] = total_rows;
  torch::Tensor out = torch::empty(shape, local.options());
  check(MPI_Allgatherv(local.data_ptr(), static_cast<int>(local.numel()), mpi_type(local),
                       out.data_ptr(), counts.data(), displs.data(), mpi_type(local),
                       handles_->world),
        "Allgatherv");
  return out;
}

void MpiCommunicator::barrier() { check(MPI_Barrier(handles_->world), "Barrier"); }

void MpiCommunicator::abort(int exit_code) {
  MPI_Abort(MPI_COMM_WORLD, exit_code);
  std::_Exit(exit_code);
}

}  // namespace nsl
