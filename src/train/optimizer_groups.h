#pragma once
// How the trainer's optimizer sees the model: parameter groups with their learning-rate
// multipliers, the class centers as a row group, and the per-step gradient rules (present-class
// rows, element-wise clipping).
#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "config/config.h"
#include "interfaces/communicator.h"
#include "loss/embedding_loss.h"
#include "model/embedding_net.h"
#include "optim/adamw.h"

namespace nsl {

// Sets the options of train.* and adds the groups: backbone, head (head_lr_mult), centers (a row
// group: center_lr_mult, center_optimizer, center_reproject). Returns the backbone's group, which
// train.freeze_backbone_epochs freezes.
int add_parameter_groups(AdamW& optimizer, const TrainConfig& train, EmbeddingNet& net,
                         EmbeddingLoss& loss);

// train.center_update: present: the next step updates only the centers of the classes in the
// global batch (all-gathers this rank's labels). Sharded centers: the rows the loss names (the
// batch's classes, or with loss.sample_rate the sampled ones). Does nothing otherwise.
void select_center_rows(AdamW& optimizer, Communicator& comm, const TrainConfig& train,
                        EmbeddingLoss& loss, const torch::Tensor& labels);

// train.grad_clip_value: every gradient element of `params` and of the centers into [-v, v].
void clip_gradients(const std::vector<torch::Tensor>& params, EmbeddingLoss& loss, double value);

}  // namespace nsl
