#pragma once
// Pair-based baselines of METHOD.md section 5, on unit embeddings within one batch. Each returns
// the batch loss (a 0-d tensor) and how many pairs or triplets contributed; a batch without any
// (one class only) gives an exact 0 with a gradient of 0, never NaN.
#include <torch/torch.h>

#include <cstdint>

namespace nsl {

struct BatchLoss {
  torch::Tensor value;  // 0-d
  int64_t active = 0;   // contributing pairs / triplets / anchors
};

// FaceNet semi-hard triplets on squared Euclidean distances d = ||u_a - u_b||^2: for every
// anchor-positive pair, the negative with the smallest d(a,n) among those with d(a,n) > d(a,p);
// when none is farther, the farthest negative. Loss = mean over pairs of max(0, d(a,p) - d(a,n) +
// m).
BatchLoss triplet_semihard_loss(const torch::Tensor& unit, const torch::Tensor& labels,
                                double margin);

// Contrastive on cosine distance d = 1 - cos: mean over positive pairs of max(0, d - pos_margin)
// plus mean over negative pairs of max(0, neg_margin - d).
BatchLoss contrastive_loss(const torch::Tensor& unit, const torch::Tensor& labels,
                           double pos_margin, double neg_margin);

// Multi-similarity (Wang et al. 2019) with its pair mining (epsilon) on cosine similarities S:
// keep positive p of anchor i if S_ip - eps < max_n S_in, negative n if S_in + eps > min_p S_ip;
// L_i = 1/alpha log(1 + sum_p e^{-alpha (S_ip - lambda)}) + 1/beta log(1 + sum_n e^{beta (S_in -
// lambda)}); loss = mean over anchors with at least one kept pair.
BatchLoss multi_similarity_loss(const torch::Tensor& unit, const torch::Tensor& labels,
                                double alpha, double beta, double lambda, double epsilon);

}  // namespace nsl
