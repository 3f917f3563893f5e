#include "interfaces/collectives.h"

namespace nsl {
namespace {

template <class T>
std::vector<T> all_reduce_values(Communicator& comm, const std::vector<T>& values, ReduceOp op,
                                 torch::ScalarType type) {
  torch::Tensor t = torch::tensor(torch::ArrayRef<T>(values), type).to(comm.device());
  comm.all_reduce(t, op);
  t = t.cpu();
  const T* p = t.data_ptr<T>();
  return std::vector<T>(p, p + values.size());
}

}  // namespace

std::vector<double> all_reduce_scalars(Communicator& comm, const std::vector<double>& values,
                                       ReduceOp op) {
  return all_reduce_values(comm, values, op, torch::kFloat64);
}

std::vector<int64_t> all_reduce_scalars(Communicator& comm, const std::vector<int64_t>& values,
                                        ReduceOp op) {
  return all_reduce_values(comm, values, op, torch::kInt64);
}

int64_t all_reduce_value(Communicator& comm, int64_t value, ReduceOp op) {
  return all_reduce_scalars(comm, std::vector<int64_t>{value}, op)[0];
}

ScalarsInFlight::ScalarsInFlight(Communicator& comm, const std::vector<double>& values, ReduceOp op)
    : tensor_(torch::tensor(torch::ArrayRef<double>(values), torch::kFloat64).to(comm.device())),
      work_(comm.all_reduce_async(tensor_, op)) {}

std::vector<double> ScalarsInFlight::wait() {
  work_->wait();
  const torch::Tensor t = tensor_.cpu();
  const double* p = t.data_ptr<double>();
  return std::vector<double>(p, p + t.numel());
}

void broadcast_bytes(Communicator& comm, void* data, size_t size, int root) {
  torch::Tensor bytes = torch::empty({static_cast<int64_t>(size)}, torch::kUInt8);
  std::memcpy(bytes.data_ptr(), data, size);
  bytes = bytes.to(comm.device());
  comm.broadcast(bytes, root);
  bytes = bytes.cpu();
  std::memcpy(data, bytes.data_ptr(), size);
}

void broadcast_tensor(Communicator& comm, torch::Tensor& tensor, int root) {
  if (tensor.device() == comm.device() && tensor.is_contiguous()) {
    comm.broadcast(tensor, root);
    return;
  }
  torch::Tensor moved = tensor.contiguous().to(comm.device());
  comm.broadcast(moved, root);
  tensor.copy_(moved);
}

torch::Tensor sum_in_rank_order(Communicator* comm, const torch::Tensor& local) {
  if (comm == nullptr || comm->size() == 1) return local;
  torch::Tensor rows =
      torch::zeros({comm->size(), local.numel()}, local.options().device(comm->device()));
  rows[comm->rank()].copy_(local.reshape({-1}));
  comm->all_reduce(rows, ReduceOp::kSum);  // exact: every entry has one non-zero term
  torch::Tensor total = rows[0].clone();
  for (int r = 1; r < comm->size(); ++r) total += rows[r];
  return total.to(local.device());
}

}  // namespace nsl
