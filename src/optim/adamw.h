#pragma once
// AdamW (decoupled weight decay) with parameter groups, written out so that its state is plain
// named tensors: easy to checkpoint, to reset row by row, and identical on every rank.
#include <torch/torch.h>

#include <string>
#include <vector>

namespace nsl {

struct AdamWOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
};

class AdamW {
 public:
  // Each group has its own learning-rate multiplier and weight decay; returns the group's id.
  int add_group(std::vector<torch::Tensor> params, double lr_mult, double weight_decay);
  // A frozen group is skipped by step(): no update, no weight decay, moments kept.
  void set_frozen(int group, bool frozen);
  void set_options(const AdamWOptions& options) { options_ = options; }
  const AdamWOptions& options() const { return options_; }

  void zero_grad();
  void step();
  // Zeroes the moments of the selected rows of `param` (after epoch Gram-Schmidt).
  void reset_rows(const torch::Tensor& param, const torch::Tensor& rows_mask);

  int64_t steps() const { return steps_; }
  // State as name -> tensor ("p<i>.exp_avg", "p<i>.exp_avg_sq", "steps"), for checkpoints.
  std::vector<std::pair<std::string, torch::Tensor>> state() const;
  void load_state(const std::vector<std::pair<std::string, torch::Tensor>>& state);

 private:
  struct Slot {
    torch::Tensor param, exp_avg, exp_avg_sq;
    double lr_mult, weight_decay;
    int group;
  };
  Slot* find(const torch::Tensor& param);

  AdamWOptions options_;
  std::vector<Slot> slots_;
  std::vector<bool> frozen_;
  int64_t steps_ = 0;
};

}  // namespace nsl
