#include "dist/nccl_communicator.h"

#include <cuda_runtime_api.h>
#include <nccl.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <utility>
#include <vector>

#include "common/error.h"
#include "dist/dtype_name.h"
#include "dist/watchdog.h"

namespace nsl {
namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* kNcclHint = "; NCCL_DEBUG=WARN prints NCCL's own report";

std::string cuda_text(cudaError_t rc) {
  return std::string(cudaGetErrorName(rc)) + ": " + cudaGetErrorString(rc);
}

void check_cuda(cudaError_t rc, const std::string& what) {
  if (rc == cudaSuccess) return;
  throw DistributedError("CUDA " + what + " failed (" + cuda_text(rc) + ")");
}

std::string nccl_text(ncclResult_t rc, ncclComm_t comm) {
  std::string text = ncclGetErrorString(rc);
  if (comm != nullptr) {
    const char* last = ncclGetLastError(comm);
    if (last != nullptr && *last != '\0') text += std::string(" (") + last + ")";
  }
  return text;
}

void check_nccl(ncclResult_t rc, const std::string& what, ncclComm_t comm) {
  if (rc == ncclSuccess) return;
  throw DistributedError("NCCL " + what + " failed: " + nccl_text(rc, comm) + kNcclHint);
}

ncclRedOp_t nccl_op(ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum:
      return ncclSum;
    case ReduceOp::kMax:
      return ncclMax;
    case ReduceOp::kMin:
      return ncclMin;
  }
  return ncclSum;
}

// Makes `gpu` the calling thread's current device for a scope (collectives may come from the
// autograd device thread) and restores the previous one.
class DeviceGuard {
 public:
  explicit DeviceGuard(int gpu) : gpu_(gpu) {
    if (cudaGetDevice(&previous_) != cudaSuccess) previous_ = -1;
    if (previous_ != gpu_) {
      check_cuda(cudaSetDevice(gpu_), "cudaSetDevice(" + std::to_string(gpu_) + ")");
    }
  }
  ~DeviceGuard() {
    if (previous_ >= 0 && previous_ != gpu_) cudaSetDevice(previous_);
  }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int gpu_;
  int previous_ = -1;
};

class CudaEvent {
 public:
  CudaEvent() = default;
  // An event without timing (the cheapest kind), on the current device.
  static CudaEvent create(const std::string& what) {
    cudaEvent_t raw = nullptr;
    check_cuda(cudaEventCreateWithFlags(&raw, cudaEventDisableTiming),
               "cudaEventCreateWithFlags (" + what + ")");
    CudaEvent event;
    event.event_ = raw;
    return event;
  }
  CudaEvent(CudaEvent&& other) noexcept : event_(std::exchange(other.event_, nullptr)) {}
  CudaEvent& operator=(CudaEvent&& other) noexcept {
    if (this != &other) {
      reset();
      event_ = std::exchange(other.event_, nullptr);
    }
    return *this;
  }
  CudaEvent(const CudaEvent&) = delete;
  CudaEvent& operator=(const CudaEvent&) = delete;
  ~CudaEvent() { reset(); }
  cudaEvent_t get() const { return event_; }

 private:
  void reset() noexcept {
    if (event_ != nullptr) cudaEventDestroy(event_);
    event_ = nullptr;
  }
  cudaEvent_t event_ = nullptr;
};

class CudaStream {
 public:
  CudaStream() = default;
  // A stream that does not synchronise implicitly with the legacy default stream.
  static CudaStream non_blocking(const std::string& what) {
    cudaStream_t raw = nullptr;
    check_cuda(cudaStreamCreateWithFlags(&raw, cudaStreamNonBlocking),
               "cudaStreamCreateWithFlags (" + what + ")");
    CudaStream stream;
    stream.stream_ = raw;
    return stream;
  }
  CudaStream(CudaStream&& other) noexcept : stream_(std::exchange(other.stream_, nullptr)) {}
  CudaStream& operator=(CudaStream&& other) noexcept {
    if (this != &other) {
      reset();
      stream_ = std::exchange(other.stream_, nullptr);
    }
    return *this;
  }
  CudaStream(const CudaStream&) = delete;
  CudaStream& operator=(const CudaStream&) = delete;
  ~CudaStream() { reset(); }
  cudaStream_t get() const { return stream_; }

 private:
  void reset() noexcept {
    if (stream_ != nullptr) cudaStreamDestroy(stream_);  // queued work still completes
    stream_ = nullptr;
  }
  cudaStream_t stream_ = nullptr;
};

// Owns an NCCL communicator. The destructor aborts (never blocks on peers); the healthy shutdown
// path calls destroy() explicitly once the queued work has drained.
class NcclComm {
 public:
  NcclComm() = default;
  explicit NcclComm(ncclComm_t comm) : comm_(comm) {}
  NcclComm(NcclComm&& other) noexcept : comm_(std::exchange(other.comm_, nullptr)) {}
  NcclComm& operator=(NcclComm&& other) noexcept {
    if (this != &other) {
      abort();
      comm_ = std::exchange(other.comm_, nullptr);
    }
    return *this;
  }
  NcclComm(const NcclComm&) = delete;
  NcclComm& operator=(const NcclComm&) = delete;
  ~NcclComm() { abort(); }

  ncclComm_t get() const { return comm_; }
  explicit operator bool() const { return comm_ != nullptr; }
  // Ends the kernels still running on this communicator and frees it.
  void abort() noexcept {
    if (comm_ != nullptr) ncclCommAbort(comm_);
    comm_ = nullptr;
  }
  ncclResult_t destroy() noexcept {
    if (comm_ == nullptr) return ncclSuccess;
    const ncclResult_t rc = ncclCommDestroy(comm_);
    comm_ = nullptr;
    return rc;
  }

 private:
  ncclComm_t comm_ = nullptr;
};

}  // namespace

// Everything CUDA/NCCL of a communicator: its GPU, stream, events and NCCL communicator, and
// whether a failure has aborted it.
struct NcclState {
  NcclState(MpiCommunicator& control_in, int gpu_in) : control(control_in), gpu(gpu_in) {
    // Left current on the constructing thread: LibTorch's kCUDA without index means this GPU.
    check_cuda(cudaSetDevice(gpu),
               "cudaSetDevice(" + std::to_string(gpu) + ") for dist.backend nccl");
    stream = CudaStream::non_blocking("NCCL communication stream");
    ready = CudaEvent::create("NCCL ready event");
  }

  ~NcclState() {
    cudaSetDevice(gpu);
    if (comm && failure.empty()) {
      if (drained()) {
        const ncclResult_t rc = comm.destroy();
        if (rc != ncclSuccess) {
          std::fprintf(stderr, "nsl_dist: warning: ncclCommDestroy failed: %s\n",
                       ncclGetErrorString(rc));
        }
      } else {
        std::fprintf(stderr,
                     "nsl_dist: warning: NCCL work did not finish at shutdown (an error, or "
                     "still running after %.0f s); aborting the NCCL communicator\n",
                     control.timeout_s());
      }
    }
    comm.abort();  // no-op after destroy(); ends whatever is left otherwise
  }
  NcclState(const NcclState&) = delete;
  NcclState& operator=(const NcclState&) = delete;

  void init(const ncclUniqueId& id, int nranks, int rank, int local_ranks, int devices) {
    DeviceGuard guard(gpu);
    ncclComm_t raw = nullptr;
    const ncclResult_t rc = ncclCommInitRank(&raw, nranks, id, rank);
    if (rc != ncclSuccess) {
      std::string hint;
      if (local_ranks > devices) {
        hint = "; " + std::to_string(local_ranks) + " ranks on this node share " +
               std::to_string(devices) + " visible GPU(s), and NCCL needs one GPU per rank";
      }
      throw DistributedError("NCCL ncclCommInitRank (rank " + std::to_string(rank) + " of " +
                             std::to_string(nranks) + ", GPU " + std::to_string(gpu) +
                             ") failed: " + nccl_text(rc, nullptr) + hint + kNcclHint);
    }
    comm = NcclComm(raw);
  }

  // Throws when an earlier failure (or abort) has ended the NCCL communicator.
  void require_usable(const std::string& op) const {
    if (comm && failure.empty()) return;
    throw DistributedError("NCCL " + op + ": the NCCL communicator was aborted after an earlier " +
                           "failure (" + (failure.empty() ? "unknown" : failure) + ")");
  }

  // Aborts the NCCL communicator so no kernel of it keeps spinning; remembers the first reason.
  void fail(const std::string& why) noexcept {
    try {
      if (failure.empty()) failure = why.empty() ? "unknown failure" : why;
    } catch (...) {
    }
    cudaSetDevice(gpu);
    comm.abort();
  }

  // Orders the communication stream after the work queued so far on the legacy default stream,
  // enqueues call(comm, stream) and records `done` behind it.
  template <class Call>
  void enqueue(const CollectiveDesc& desc, const char* nccl_fn, CudaEvent& done, Call&& call) {
    try {
      DeviceGuard guard(gpu);
      const std::string where = std::string(" for ") + nccl_fn + " of " + desc.describe();
      done = CudaEvent::create("completion event" + where);
      check_cuda(cudaEventRecord(ready.get(), cudaStreamLegacy),
                 "cudaEventRecord (default stream)" + where);
      check_cuda(cudaStreamWaitEvent(stream.get(), ready.get(), 0), "cudaStreamWaitEvent" + where);
      check_nccl(call(comm.get(), stream.get()), std::string(nccl_fn) + " of " + desc.describe(),
                 comm.get());
      check_cuda(cudaEventRecord(done.get(), stream.get()), "cudaEventRecord (completion)" + where);
    } catch (const std::exception& e) {
      fail(e.what());
      throw;
    }
  }

  // True once `done` has completed. Throws on an asynchronous NCCL error (a peer died, the
  // network failed) or a CUDA error.
  bool finished(const CollectiveDesc& desc, const CudaEvent& done) {
    require_usable(desc.describe());
    ncclResult_t async = ncclSuccess;
    const ncclResult_t rc = ncclCommGetAsyncError(comm.get(), &async);
    if (rc != ncclSuccess) {
      throw DistributedError("NCCL ncclCommGetAsyncError during " + desc.describe() +
                             " failed: " + nccl_text(rc, comm.get()) + kNcclHint);
    }
    if (async != ncclSuccess && async != ncclInProgress) {
      throw DistributedError("NCCL " + desc.describe() +
                             " failed asynchronously: " + nccl_text(async, comm.get()) +
                             " (a peer process died or the network failed)" + kNcclHint);
    }
    const cudaError_t state = cudaEventQuery(done.get());
    if (state == cudaSuccess) return true;
    if (state == cudaErrorNotReady) {
      (void)cudaGetLastError();  // "not ready" must not linger for LibTorch's launch checks
      return false;
    }
    throw DistributedError("CUDA error while waiting for NCCL " + desc.describe() + ": " +
                           cuda_text(state) + "; the GPU context is unusable");
  }

  // Waits (at most the watchdog timeout) for the communication stream to run dry.
  bool drained() noexcept {
    const Clock::time_point start = Clock::now();
    for (;;) {
      const cudaError_t rc = cudaStreamQuery(stream.get());
      if (rc == cudaSuccess) return true;
      if (rc != cudaErrorNotReady) return false;
      (void)cudaGetLastError();
      ncclResult_t async = ncclSuccess;
      if (ncclCommGetAsyncError(comm.get(), &async) != ncclSuccess ||
          (async != ncclSuccess && async != ncclInProgress)) {
        return false;
      }
      if (std::chrono::duration<double>(Clock::now() - start).count() > control.timeout_s()) {
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }

  MpiCommunicator& control;
  int gpu;
  CudaStream stream;
  CudaEvent ready;  // reused: a wait takes the event's state at the time of the call
  NcclComm comm;    // declared after the stream and events: aborted/destroyed before them
  std::string failure;
};

namespace {

// One NCCL collective under the watchdog. Keeps its tensors alive until it has completed and the
// default stream has been ordered after it.
class NcclWork : public CollectiveWork {
 public:
  NcclWork(NcclState& state, Watchdog& watchdog, CollectiveDesc desc,
           std::vector<torch::Tensor> keep)
      : state_(state), watchdog_(watchdog), desc_(std::move(desc)), keep_(std::move(keep)) {}
  ~NcclWork() override {
    // After a failure anywhere the NCCL communicator is aborted: nothing is left to wait for, and
    // the first error is already on its way to the caller.
    if (!enqueued_ || completed_ || failed_ || !state_.failure.empty() || watchdog_.failed()) {
      return;
    }
    try {
      wait();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "nsl_dist: %s\n", e.what());
      state_.control.abort(kExitDistributed);
    }
  }
  NcclWork(const NcclWork&) = delete;
  NcclWork& operator=(const NcclWork&) = delete;

  template <class Call>
  void launch(const char* nccl_fn, Call&& call) {
    state_.enqueue(desc_, nccl_fn, done_, std::forward<Call>(call));
    enqueued_ = true;
  }

  bool test() override {
    try {
      const bool done = completed_ || !enqueued_ || state_.finished(desc_, done_);
      watchdog_.poll();
      if (done) complete();
      return done;
    } catch (const std::exception& e) {
      fail(e.what());
      throw;
    }
  }

  void wait() override {
    if (completed_) return;
    try {
      watchdog_.wait(desc_, started_,
                     [this] { return !enqueued_ || state_.finished(desc_, done_); });
      complete();
    } catch (const std::exception& e) {
      fail(e.what());
      throw;
    }
  }

 private:
  // Later kernels on the default stream (LibTorch's) run after the collective; the tensors may go.
  void complete() {
    if (completed_) return;
    if (enqueued_) {
      DeviceGuard guard(state_.gpu);
      check_cuda(cudaStreamWaitEvent(cudaStreamLegacy, done_.get(), 0),
                 "cudaStreamWaitEvent (default stream after " + desc_.describe() + ")");
    }
    completed_ = true;
    keep_.clear();
  }
  void fail(const std::string& why) {
    failed_ = true;  // the job is ending: the destructor must not wait a second time
    state_.fail(why);
  }

  NcclState& state_;
  Watchdog& watchdog_;
  CollectiveDesc desc_;
  std::vector<torch::Tensor> keep_;
  CudaEvent done_;
  bool enqueued_ = false, completed_ = false, failed_ = false;
  Clock::time_point started_ = Clock::now();
};

int env_int(const char* name) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') return -1;
  char* end = nullptr;
  const long value = std::strtol(text, &end, 10);
  if (*end != '\0' || value < 0 || value > 1 << 20) return -1;
  return static_cast<int>(value);
}

std::string join_ranks(const std::vector<int>& ranks) {
  std::string out;
  for (const int r : ranks) out += (out.empty() ? "" : ", ") + std::to_string(r);
  return out;
}

}  // namespace

int visible_cuda_devices(std::string* why) {
  int count = 0;
  const cudaError_t rc = cudaGetDeviceCount(&count);
  if (rc != cudaSuccess) {
    (void)cudaGetLastError();
    if (why != nullptr) *why = cuda_text(rc);
    return 0;
  }
  if (count <= 0 && why != nullptr) *why = "no CUDA device";
  return std::max(count, 0);
}

int nccl_data_type(torch::ScalarType type) {
  switch (type) {
    case torch::kFloat32:
      return ncclFloat32;
    case torch::kFloat64:
      return ncclFloat64;
    case torch::kFloat16:
      return ncclFloat16;
    case torch::kBFloat16:
      return ncclBfloat16;
    case torch::kInt64:
      return ncclInt64;
    case torch::kInt32:
      return ncclInt32;
    case torch::kInt8:
      return ncclInt8;
    case torch::kUInt8:
      return ncclUint8;
    default:
      throw DistributedError(std::string("NCCL back end: cannot reduce dtype ") +
                             c10::toString(type) +
                             " (supported: float32, float64, float16, bfloat16, int64, int32, "
                             "int8, uint8)");
  }
}

int select_gpu(int fallback_local_rank, int device_count) {
  int local = -1;
  for (const char* var : {"OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID"}) {
    local = env_int(var);
    if (local >= 0) break;
  }
  if (local < 0) local = std::max(fallback_local_rank, 0);
  return device_count > 0 ? local % device_count : 0;
}

NcclCommunicator::NcclCommunicator() {
  // Every rank must have a GPU. The counts are exchanged first so that all ranks fail together
  // instead of some waiting for the others in the bootstrap.
  std::string why;
  const int devices = visible_cuda_devices(&why);
  const torch::Tensor counts =
      control_.all_gather_rows(torch::full({1}, static_cast<int64_t>(devices), torch::kInt64));
  std::vector<int> without;
  for (int r = 0; r < control_.size(); ++r) {
    if (counts[r].item<int64_t>() <= 0) without.push_back(r);
  }
  if (devices <= 0) {
    throw DistributedError(
        "dist.backend nccl needs a CUDA GPU; none is visible (cudaGetDeviceCount: " + why +
        "). Run on a GPU node (check CUDA_VISIBLE_DEVICES and the driver), or set "
        "dist.backend: mpi");
  }
  if (!without.empty()) {
    throw DistributedError("dist.backend nccl needs a CUDA GPU on every rank; rank(s) " +
                           join_ranks(without) + " see none (this rank sees " +
                           std::to_string(devices) + "). Set dist.backend: mpi or fix the nodes");
  }
  gpu_ = select_gpu(control_.local_rank(), devices);
  state_ = std::make_unique<NcclState>(control_, gpu_);

  // Rank 0's unique id, behind a status byte so that a failure there ends every rank.
  torch::Tensor id_bytes = torch::zeros({1 + NCCL_UNIQUE_ID_BYTES}, torch::kUInt8);
  std::string id_error;
  if (control_.rank() == 0) {
    ncclUniqueId id;
    const ncclResult_t rc = ncclGetUniqueId(&id);
    if (rc == ncclSuccess) {
      uint8_t* bytes = id_bytes.data_ptr<uint8_t>();
      bytes[0] = 1;
      std::memcpy(bytes + 1, id.internal, NCCL_UNIQUE_ID_BYTES);
    } else {
      id_error = ": " + nccl_text(rc, nullptr);
    }
  }
  control_.broadcast(id_bytes, 0);
  const uint8_t* bytes = id_bytes.data_ptr<uint8_t>();
  if (bytes[0] != 1) {
    throw DistributedError("NCCL ncclGetUniqueId failed on rank 0" + id_error +
                           " (it needs a usable network interface; NCCL_SOCKET_IFNAME selects "
                           "one)" +
                           kNcclHint);
  }
  ncclUniqueId id;
  std::memcpy(id.internal, bytes + 1, NCCL_UNIQUE_ID_BYTES);
  state_->init(id, control_.size(), control_.rank(), control_.local_size(), devices);
}

NcclCommunicator::~NcclCommunicator() = default;

torch::Device NcclCommunicator::device() const {
  return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(gpu_));
}

void NcclCommunicator::check_tensor(const torch::Tensor& tensor, const char* op) const {
  if (!tensor.defined()) {
    throw DistributedError(std::string("NCCL ") + op + ": the tensor is undefined");
  }
  if (!tensor.is_cuda() || tensor.device().index() != gpu_) {
    throw DistributedError(std::string("NCCL ") + op + ": the tensor is on " +
                           tensor.device().str() + ", but dist.backend nccl needs it on " +
                           device().str() + " (move it with .to(comm.device()))");
  }
  if (!tensor.is_contiguous()) {
    throw DistributedError(std::string("NCCL ") + op +
                           ": the tensor must be contiguous (call .contiguous() first)");
  }
}

std::unique_ptr<CollectiveWork> NcclCommunicator::all_reduce_async(torch::Tensor tensor,
                                                                   ReduceOp op) {
  check_tensor(tensor, "all_reduce");
  const auto type = static_cast<ncclDataType_t>(nccl_data_type(tensor.scalar_type()));
  state_->require_usable("all_reduce");
  Watchdog& watchdog = control_.watchdog();
  auto desc = watchdog.begin(CollectiveOp::kAllReduce, static_cast<int64_t>(tensor.nbytes()),
                             dtype_name(tensor));
  auto work =
      std::make_unique<NcclWork>(*state_, watchdog, desc, std::vector<torch::Tensor>{tensor});
  if (tensor.numel() > 0) {
    void* data = tensor.data_ptr();
    const auto count = static_cast<size_t>(tensor.numel());
    const ncclRedOp_t red = nccl_op(op);
    work->launch("ncclAllReduce", [&](ncclComm_t comm, cudaStream_t stream) {
      return ncclAllReduce(data, data, count, type, red, comm, stream);
    });
  }
  return work;
}

void NcclCommunicator::all_reduce(torch::Tensor& tensor, ReduceOp op) {
  all_reduce_async(tensor, op)->wait();
}

void NcclCommunicator::broadcast(torch::Tensor& tensor, int root) {
  check_tensor(tensor, "broadcast");
  if (root < 0 || root >= control_.size()) {
    throw DistributedError("NCCL broadcast: root " + std::to_string(root) + " is not a rank (" +
                           std::to_string(control_.size()) + " ranks)");
  }
  state_->require_usable("broadcast");
  Watchdog& watchdog = control_.watchdog();
  const auto bytes = static_cast<size_t>(tensor.nbytes());
  auto desc =
      watchdog.begin(CollectiveOp::kBroadcast, static_cast<int64_t>(bytes), dtype_name(tensor));
  NcclWork work(*state_, watchdog, desc, {tensor});
  if (bytes > 0) {
    void* data = tensor.data_ptr();
    work.launch("ncclBroadcast", [&](ncclComm_t comm, cudaStream_t stream) {
      return ncclBroadcast(data, data, bytes, ncclUint8, root, comm, stream);
    });
  }
  work.wait();
}

torch::Tensor NcclCommunicator::all_gather_rows(const torch::Tensor& tensor) {
  if (!tensor.defined() || tensor.dim() == 0) {
    throw DistributedError(
        "NCCL all_gather_rows: needs a tensor with at least one dimension (rows along dim 0)");
  }
  const torch::Tensor local = tensor.contiguous();
  check_tensor(local, "all_gather_rows");
  state_->require_usable("all_gather_rows");
  Watchdog& watchdog = control_.watchdog();
  const int world = control_.size();
  const int64_t rows_here = local.size(0);
  int64_t row_bytes = static_cast<int64_t>(local.element_size());
  for (int64_t d = 1; d < local.dim(); ++d) row_bytes *= local.size(d);

  // 1. Every rank's (rows, bytes per row).
  const auto int64_on_gpu = torch::TensorOptions().dtype(torch::kInt64).device(device());
  const torch::Tensor mine = torch::tensor({rows_here, row_bytes}, torch::kInt64).to(device());
  torch::Tensor shapes = torch::zeros({world, 2}, int64_on_gpu);
  {
    auto desc = watchdog.begin(CollectiveOp::kAllGather, 16, "int64");
    NcclWork work(*state_, watchdog, desc, {mine, shapes});
    work.launch("ncclAllGather", [&](ncclComm_t comm, cudaStream_t stream) {
      return ncclAllGather(mine.data_ptr(), shapes.data_ptr(), 2, ncclInt64, comm, stream);
    });
    work.wait();
  }
  const torch::Tensor shapes_cpu = shapes.to(torch::kCPU);
  const int64_t* s = shapes_cpu.data_ptr<int64_t>();
  std::vector<int64_t> rows(static_cast<size_t>(world));
  int64_t max_rows = 0, total_rows = 0;
  std::string mismatch;
  for (int r = 0; r < world; ++r) {
    rows[static_cast<size_t>(r)] = s[2 * r];
    max_rows = std::max(max_rows, s[2 * r]);
    total_rows += s[2 * r];
    if (s[2 * r + 1] != s[1]) {
      mismatch += "; rank " + std::to_string(r) + ": " + std::to_string(s[2 * r + 1]) + " bytes";
    }
  }
  if (!mismatch.empty()) {
    throw DistributedError("NCCL all_gather_rows: ranks disagree on the size of a row (rank 0: " +
                           std::to_string(s[1]) + " bytes" + mismatch +
                           "); every rank must pass the same dtype and sizes beyond dim 0");
  }

  // 2. Every rank's part padded to max_rows, gathered in rank order.
  std::vector<int64_t> shape = local.sizes().vec();
  shape[0] = max_rows;
  torch::Tensor padded = local;
  if (rows_here != max_rows) {
    padded = torch::zeros(shape, local.options());
    if (rows_here > 0) padded.narrow(0, 0, rows_here).copy_(local);
  }
  shape[0] = world * max_rows;
  torch::Tensor gathered = torch::empty(shape, local.options());
  const auto part_bytes = static_cast<size_t>(max_rows * row_bytes);
  {
    auto desc =
        watchdog.begin(CollectiveOp::kAllGatherV, total_rows * row_bytes, dtype_name(local));
    NcclWork work(*state_, watchdog, desc, {padded, gathered});
    if (part_bytes > 0) {
      work.launch("ncclAllGather", [&](ncclComm_t comm, cudaStream_t stream) {
        return ncclAllGather(padded.data_ptr(), gathered.data_ptr(), part_bytes, ncclUint8, comm,
                             stream);
      });
    }
    work.wait();
  }

  // 3. Drop the padding rows.
  if (total_rows == world * max_rows) return gathered;
  std::vector<torch::Tensor> parts;
  parts.reserve(static_cast<size_t>(world));
  for (int r = 0; r < world; ++r) {
    parts.push_back(gathered.narrow(0, r * max_rows, rows[static_cast<size_t>(r)]));
  }
  return torch::cat(parts, 0);
}

void NcclCommunicator::barrier() {
  state_->require_usable("barrier");
  Watchdog& watchdog = control_.watchdog();
  torch::Tensor token =
      torch::zeros({1}, torch::TensorOptions().dtype(torch::kInt32).device(device()));
  auto desc = watchdog.begin(CollectiveOp::kBarrier, 0, "");
  NcclWork work(*state_, watchdog, desc, {token});
  void* data = token.data_ptr();
  work.launch("ncclAllReduce", [&](ncclComm_t comm, cudaStream_t stream) {
    return ncclAllReduce(data, data, 1, ncclInt32, ncclSum, comm, stream);
  });
  work.wait();
}

void NcclCommunicator::abort(int exit_code) {
  if (state_) state_->fail("abort(" + std::to_string(exit_code) + ") called");
  control_.abort(exit_code);
}

}  // namespace nsl
