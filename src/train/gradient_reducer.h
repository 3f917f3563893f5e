#pragma once
// Sums gradients over the ranks while backward is still running. Parameters are packed into
// buckets of about `bucket_bytes` in reverse registration order (the order backward produces
// their gradients). Each parameter's .grad is a view into its bucket, so autograd accumulates
// straight into the bucket (no copies); a post-hook on the parameter's gradient accumulator marks
// it ready, and the moment a bucket is complete its all-reduce is started, so communication
// overlaps the rest of backward. The all-reduce works in place: when finish_step() returns, .grad
// holds the sums. Buckets start strictly in index order, which is the same on every rank, so the
// collectives match. Dedicated parameters (the class centers) get a bucket of their own, first.
//
//   reducer.begin_step(); loss.backward(); reducer.finish_step();  // .grad now holds the sums
//
// Zero the gradients before backward as usual (the optimizer's zero_grad() zeroes the views);
// nothing may replace a parameter's .grad (the next backward reports it).
#include <torch/torch.h>

#include <cstdint>
#include <exception>
#include <memory>
#include <vector>

#include "interfaces/communicator.h"

namespace nsl {

class GradientReducer {
 public:
  static constexpr int64_t kDefaultBucketBytes = 25LL << 20;

  GradientReducer(Communicator& comm, const std::vector<torch::Tensor>& params,
                  const std::vector<torch::Tensor>& dedicated,
                  int64_t bucket_bytes = kDefaultBucketBytes);
  ~GradientReducer();
  GradientReducer(const GradientReducer&) = delete;
  GradientReducer& operator=(const GradientReducer&) = delete;

  // Before backward (after zeroing the gradients): forget the previous step's readiness.
  void begin_step();
  // After backward: starts the buckets whose gradients never arrived (their missing parts are
  // zeros: a parameter unused on this rank, or a rank without samples), waits for every bucket
  // and writes the summed gradients into the parameters' .grad. Re-throws a failure of a hook.
  void finish_step();

  // Parameters per bucket, in launch order (for tests and the benchmark).
  std::vector<int64_t> bucket_sizes() const;
  // Buckets whose all-reduce was started from a hook, i.e. during backward, in the last step.
  int64_t launched_during_backward() const { return launched_in_hooks_; }

 private:
  struct Member {
    torch::Tensor param;
    size_t bucket = 0;
    int64_t offset = 0;
    bool ready = false;
  };
  struct Bucket {
    torch::Tensor flat;
    std::vector<size_t> members;
    size_t pending = 0;
    std::unique_ptr<CollectiveWork> work;
  };

  void add_bucket(const std::vector<torch::Tensor>& params);
  void on_gradient(size_t member);
  torch::Tensor grad_view(const Member& m) const;
  void launch_ready_buckets();
  void launch(Bucket& bucket);

  Communicator& comm_;
  std::vector<Member> members_;
  std::vector<Bucket> buckets_;
  // The accumulators carry hooks into this object: kept alive here, and the hooks check `alive_`
  // because LibTorch cannot remove a post-hook (they outlive a destroyed reducer as no-ops).
  std::vector<std::shared_ptr<torch::autograd::Node>> accumulators_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  size_t next_launch_ = 0;
  bool in_backward_ = false;
  int64_t launched_in_hooks_ = 0;
  std::exception_ptr hook_error_;
};

}  // namespace nsl
