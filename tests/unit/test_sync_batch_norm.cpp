#define BOOST_TEST_MODULE sync_batch_norm
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "model/resnet.h"
#include "model/sync_batch_norm.h"

// SyncBatchNorm2d without a communicator against LibTorch's own batch norm in float64 (an
// independent implementation): outputs, gradients and running statistics.

namespace {

double max_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>();
}

}  // namespace

BOOST_AUTO_TEST_CASE(training_mode_matches_float64_batch_norm) {
  torch::manual_seed(2);
  const int64_t c = 5;
  const torch::Tensor x = torch::randn({6, c, 7, 3}) * 3.0 + 1.5;
  const torch::Tensor dy = torch::randn({6, c, 7, 3});
  nsl::SyncBatchNorm2d bn(c);
  {
    torch::NoGradGuard no_grad;
    bn->weight.copy_(torch::rand({c}) + 0.5);
    bn->bias.copy_(torch::randn({c}));
  }
  torch::Tensor xin = x.clone().requires_grad_(true);
  const torch::Tensor y = bn->forward(xin);
  y.backward(dy);

  // Reference: torch::batch_norm in float64, with autograd.
  torch::Tensor x64 = x.to(torch::kFloat64).requires_grad_(true);
  torch::Tensor w64 = bn->weight.detach().to(torch::kFloat64).requires_grad_(true);
  torch::Tensor b64 = bn->bias.detach().to(torch::kFloat64).requires_grad_(true);
  torch::Tensor rm = torch::zeros({c}, torch::kFloat64);
  torch::Tensor rv = torch::ones({c}, torch::kFloat64);
  const torch::Tensor y64 = torch::batch_norm(x64, w64, b64, rm, rv, true, 0.1, 1e-5, false);
  y64.backward(dy.to(torch::kFloat64));

  BOOST_TEST(max_diff(y, y64) < 1e-5);
  BOOST_TEST(max_diff(xin.grad(), x64.grad()) < 1e-5);
  BOOST_TEST(max_diff(bn->weight.grad(), w64.grad()) < 1e-4);
  BOOST_TEST(max_diff(bn->bias.grad(), b64.grad()) < 1e-4);
  BOOST_TEST(max_diff(bn->running_mean, rm) < 1e-6);
  BOOST_TEST(max_diff(bn->running_var, rv) < 1e-5);
  BOOST_TEST(bn->num_batches_tracked.item<int64_t>() == 1);
}

BOOST_AUTO_TEST_CASE(eval_mode_uses_running_statistics) {
  torch::manual_seed(4);
  const int64_t c = 3;
  nsl::SyncBatchNorm2d bn(c);
  {
    torch::NoGradGuard no_grad;
    bn->running_mean.copy_(torch::tensor({0.5f, -1.0f, 2.0f}));
    bn->running_var.copy_(torch::tensor({4.0f, 0.25f, 1.0f}));
    bn->weight.copy_(torch::tensor({2.0f, 1.0f, -1.0f}));
    bn->bias.copy_(torch::tensor({0.0f, 1.0f, 0.5f}));
  }
  bn->eval();
  const torch::Tensor x = torch::randn({2, c, 4, 4});
  const torch::Tensor y = bn->forward(x);
  // By hand: (x - mean) / sqrt(var + eps) * weight + bias.
  const auto v = [](std::vector<float> l) { return torch::tensor(l).view({1, 3, 1, 1}); };
  const torch::Tensor ref = (x - v({0.5f, -1.0f, 2.0f})) / (v({4.0f, 0.25f, 1.0f}) + 1e-5).sqrt() *
                                v({2.0f, 1.0f, -1.0f}) +
                            v({0.0f, 1.0f, 0.5f});
  BOOST_TEST(max_diff(y, ref) < 1e-6);
  BOOST_TEST(bn->num_batches_tracked.item<int64_t>() == 0);
}

BOOST_AUTO_TEST_CASE(one_value_per_channel_is_refused) {
  nsl::SyncBatchNorm2d bn(4);
  try {
    bn->forward(torch::randn({1, 4, 1, 1}));
    BOOST_FAIL("expected std::invalid_argument");
  } catch (const std::invalid_argument& e) {
    BOOST_TEST(std::string(e.what()).find("model.freeze_bn") != std::string::npos, e.what());
  }
  BOOST_CHECK_THROW(bn->forward(torch::randn({2, 3, 2, 2})), std::invalid_argument);
}

// Checkpoints and torchvision weights address BatchNorm by torch.nn.BatchNorm2d's names.
BOOST_AUTO_TEST_CASE(names_are_batch_norm_2d_names) {
  nsl::SyncBatchNorm2d ours(4);
  torch::nn::BatchNorm2d theirs(4);
  std::set<std::string> a, b;
  for (const auto& p : ours->named_parameters()) a.insert(p.key());
  for (const auto& p : ours->named_buffers()) a.insert(p.key());
  for (const auto& p : theirs->named_parameters()) b.insert(p.key());
  for (const auto& p : theirs->named_buffers()) b.insert(p.key());
  BOOST_TEST(a == b, boost::test_tools::per_element());
  nsl::ResNet r18(18, 3);
  int64_t bns = 0;
  for (const auto& m : r18->modules(false)) {
    if (dynamic_cast<nsl::SyncBatchNorm2dImpl*>(m.get()) != nullptr) ++bns;
  }
  BOOST_TEST(bns == 20);  // bn1 + 2 per basic block x 8 + 3 downsample
}
