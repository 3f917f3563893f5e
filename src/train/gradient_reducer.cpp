#include "train/gradient_reducer.h"

#include <torch/csrc/autograd/utils/lambda_post_hook.h>

#include <stdexcept>

namespace nsl {

GradientReducer::GradientReducer(Communicator& comm, const std::vector<torch::Tensor>& params,
                                 const std::vector<torch::Tensor>& dedicated, int64_t bucket_bytes)
    : comm_(comm) {
  if (bucket_bytes < 1) throw std::invalid_argument("GradientReducer: bucket_bytes must be >= 1");
  for (const auto& p : dedicated) add_bucket({p});
  std::vector<torch::Tensor> pending;
  int64_t pending_bytes = 0;
  for (auto it = params.rbegin(); it != params.rend(); ++it) {
    const torch::Tensor& p = *it;
    const int64_t bytes = p.numel() * static_cast<int64_t>(p.element_size());
    const bool fits = pending.empty() || (pending_bytes + bytes <= bucket_bytes &&
                                          p.scalar_type() == pending.front().scalar_type());
    if (!fits) {
      add_bucket(pending);
      pending.clear();
      pending_bytes = 0;
    }
    pending.push_back(p);
    pending_bytes += bytes;
  }
  if (!pending.empty()) add_bucket(pending);

  using torch::autograd::variable_list;
  for (size_t i = 0; i < members_.size(); ++i) {
    Member& m = members_[i];
    m.param.mutable_grad() = grad_view(m);
    auto accumulator = torch::autograd::impl::grad_accumulator(m.param);
    std::weak_ptr<bool> alive = alive_;
    accumulator->add_post_hook(std::make_unique<torch::autograd::utils::LambdaPostHook>(
        [this, i, alive](const variable_list& outputs, const variable_list&) {
          if (alive.lock()) on_gradient(i);
          return outputs;
        }));
    accumulators_.push_back(std::move(accumulator));
  }
}

GradientReducer::~GradientReducer() { *alive_ = false; }

torch::Tensor GradientReducer::grad_view(const Member& m) const {
  return buckets_[m.bucket].flat.slice(0, m.offset, m.offset + m.param.numel()).view_as(m.param);
}

void GradientReducer::add_bucket(const std::vector<torch::Tensor>& params) {
  Bucket bucket;
  int64_t numel = 0;
  for (const auto& p : params) {
    if (!p.requires_grad())
      throw std::invalid_argument("GradientReducer: a parameter without grad");
    Member m;
    m.param = p;
    m.bucket = buckets_.size();
    m.offset = numel;
    numel += p.numel();
    bucket.members.push_back(members_.size());
    members_.push_back(std::move(m));
  }
  bucket.flat = torch::zeros({numel}, params.front().options().requires_grad(false));
  buckets_.push_back(std::move(bucket));
}

std::vector<int64_t> GradientReducer::bucket_sizes() const {
  std::vector<int64_t> sizes;
  for (const auto& b : buckets_) sizes.push_back(static_cast<int64_t>(b.members.size()));
  return sizes;
}

void GradientReducer::begin_step() {
  for (auto& m : members_) m.ready = false;
  for (auto& b : buckets_) {
    b.pending = b.members.size();
    b.work.reset();
  }
  next_launch_ = 0;
  launched_in_hooks_ = 0;
  hook_error_ = nullptr;
  in_backward_ = true;
}

void GradientReducer::on_gradient(size_t index) {
  if (!in_backward_ || hook_error_) return;
  // An exception must not unwind through the autograd engine: it is kept and re-thrown by
  // finish_step() on the training thread.
  try {
    Member& m = members_[index];
    if (m.ready) throw std::logic_error("GradientReducer: a gradient arrived twice in one step");
    if (!m.param.grad().defined() || m.param.grad().data_ptr() != grad_view(m).data_ptr()) {
      throw std::logic_error(
          "GradientReducer: a parameter's .grad was replaced; it must stay the bucket view");
    }
    Bucket& b = buckets_[m.bucket];
    m.ready = true;
    --b.pending;
    launch_ready_buckets();
    // Let the buckets in flight progress (MPI moves data only inside MPI calls).
    for (size_t i = 0; i < next_launch_; ++i) buckets_[i].work->test();
  } catch (...) {
    hook_error_ = std::current_exception();
  }
}

void GradientReducer::launch(Bucket& bucket) {
  bucket.work = comm_.all_reduce_async(bucket.flat, ReduceOp::kSum);
}

void GradientReducer::launch_ready_buckets() {
  while (next_launch_ < buckets_.size() && buckets_[next_launch_].pending == 0) {
    launch(buckets_[next_launch_]);
    ++next_launch_;
    if (in_backward_) ++launched_in_hooks_;
  }
}

void GradientReducer::finish_step() {
  in_backward_ = false;
  if (hook_error_) std::rethrow_exception(hook_error_);
  // Parameters without a gradient this step keep the zeros of begin_step().
  for (; next_launch_ < buckets_.size(); ++next_launch_) launch(buckets_[next_launch_]);
  for (auto& b : buckets_) b.work->wait();
}

}  // namespace nsl
