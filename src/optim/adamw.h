#pragma once
// AdamW (decoupled weight decay) with parameter groups, written out so that its state is plain
// named tensors: easy to checkpoint, to reset row by row, and identical on every rank.
//
// A row group holds one matrix whose rows are updated independently (the class centers): each row
// counts its own AdamW steps, so a row whose moments were reset (epoch Gram-Schmidt) starts its
// bias correction again instead of taking steps of up to 3x the learning rate; or it runs SGD with
// momentum. A step may update only some rows (the classes of the batch), and may put the updated
// rows back on the unit sphere.
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

struct RowUpdate {
  bool sgd = false;        // SGD with momentum instead of AdamW
  double momentum = 0.9;   // sgd
  bool reproject = false;  // updated rows back to unit length after each step
};

class AdamW {
 public:
  // Each group has its own learning-rate multiplier and weight decay; returns the group's id.
  int add_group(std::vector<torch::Tensor> params, double lr_mult, double weight_decay);
  // A matrix updated row by row (see above); no weight decay.
  int add_row_group(torch::Tensor param, double lr_mult, const RowUpdate& update);
  // The rows (bool [rows]) of every row group that the next step() updates; the others keep their
  // values, moments and step counts. Undefined: all rows. Applies to one step.
  void set_next_rows(const torch::Tensor& rows_mask) { next_rows_ = rows_mask; }
  // A frozen group is skipped by step(): no update, no weight decay, moments kept.
  void set_frozen(int group, bool frozen);
  void set_options(const AdamWOptions& options) { options_ = options; }
  const AdamWOptions& options() const { return options_; }

  void zero_grad();
  void step();
  // Zeroes the moments (and, in a row group, the step counts) of the selected rows of `param`
  // (after epoch Gram-Schmidt).
  void reset_rows(const torch::Tensor& param, const torch::Tensor& rows_mask);

  int64_t steps() const { return steps_; }
  // State as name -> tensor ("p<i>.exp_avg", "p<i>.exp_avg_sq", "steps", and "p<i>.row_steps" of
  // a row group), for checkpoints. load_state without a row group's "p<i>.row_steps" (a checkpoint
  // written before they existed) gives every row the global step count, as that run had.
  std::vector<std::pair<std::string, torch::Tensor>> state() const;
  // The entries of state() that belong to `param`, sharing storage with the optimizer (writing
  // into them sets the state).
  std::vector<std::pair<std::string, torch::Tensor>> state_of(const torch::Tensor& param) const;
  void load_state(const std::vector<std::pair<std::string, torch::Tensor>>& state);

 private:
  struct Slot {
    torch::Tensor param, exp_avg, exp_avg_sq;
    double lr_mult = 1.0, weight_decay = 0.0;
    int group = 0;
    bool rowwise = false;
    RowUpdate row_update;
    torch::Tensor row_steps;  // int64 [rows], row groups only
  };
  Slot* find(const torch::Tensor& param);
  void step_rows(Slot& s, double lr);

  AdamWOptions options_;
  std::vector<Slot> slots_;
  std::vector<bool> frozen_;
  int64_t steps_ = 0;
  torch::Tensor next_rows_;
};

}  // namespace nsl
