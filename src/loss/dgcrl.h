#pragma once
// The global centralized ranking loss of METHOD.md section 3: every embedding against ALL class
// centers c_j = w_j / ||w_j||, logits z_ij = s cos(theta_ij).
#include <torch/torch.h>

namespace nsl {

// cos[i][j] = u_i . w_j / ||w_j|| for unit embeddings u.
torch::Tensor center_cosines(const torch::Tensor& unit_embeddings, const torch::Tensor& centers);

// softmax ranking with additive margin m on the positive, per sample:
//   L_i = -log( e^{s(cos_iy - m)} / (e^{s(cos_iy - m)} + sum_{j != y} e^{s cos_ij}) )
// computed with log-sum-exp (cannot overflow). `scale` is a 0-d tensor (learnable or not).
torch::Tensor softmax_ranking_loss(const torch::Tensor& cosines, const torch::Tensor& labels,
                                   const torch::Tensor& scale, double margin);

// hinge ranking, per sample: 1/(C-1) sum_{j != y} max(0, m + ||u - c_y||^2 - ||u - c_j||^2),
// using ||u - c||^2 = 2 - 2 cos for unit vectors.
// softmax_ranking_loss(center_cosines(u, w), ...) in one step, with the center normalisation folded
// into the B x C logits (what DGCRL and the normalised softmax run).
torch::Tensor center_softmax_ranking_loss(const torch::Tensor& unit_embeddings,
                                          const torch::Tensor& centers, const torch::Tensor& labels,
                                          const torch::Tensor& scale, double margin);

torch::Tensor hinge_ranking_loss(const torch::Tensor& cosines, const torch::Tensor& labels,
                                 double margin);

}  // namespace nsl
