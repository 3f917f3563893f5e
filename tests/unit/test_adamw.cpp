#define BOOST_TEST_MODULE adamw
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <cmath>

#include "optim/adamw.h"
#include "optim/lr_schedule.h"

// Reference: AdamW (Loshchilov & Hutter) written per scalar in double.
BOOST_AUTO_TEST_CASE(matches_scalar_reference_with_groups) {
  auto a = torch::tensor({1.0, -2.0}, torch::kFloat64).requires_grad_(true);
  auto b = torch::tensor({0.5}, torch::kFloat64).requires_grad_(true);
  nsl::AdamW opt;
  nsl::AdamWOptions o;
  o.lr = 0.1;
  opt.set_options(o);
  opt.add_group({a}, 1.0, 0.01);
  opt.add_group({b}, 10.0, 0.0);

  double ra[2] = {1.0, -2.0}, rb = 0.5;
  double ma[2] = {0, 0}, va[2] = {0, 0}, mb = 0, vb = 0;
  for (int t = 1; t <= 5; ++t) {
    opt.zero_grad();
    auto loss = (a * a).sum() * 0.5 + (b * b * b).sum();
    loss.backward();
    opt.step();
    const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
    const double c1 = 1 - std::pow(b1, t), c2 = 1 - std::pow(b2, t);
    for (int i = 0; i < 2; ++i) {
      const double g = ra[i];
      ra[i] *= 1 - 0.1 * 0.01;
      ma[i] = b1 * ma[i] + (1 - b1) * g;
      va[i] = b2 * va[i] + (1 - b2) * g * g;
      ra[i] -= 0.1 * (ma[i] / c1) / (std::sqrt(va[i] / c2) + eps);
    }
    const double g = 3 * rb * rb;
    mb = b1 * mb + (1 - b1) * g;
    vb = b2 * vb + (1 - b2) * g * g;
    rb -= 1.0 * (mb / c1) / (std::sqrt(vb / c2) + eps);
    BOOST_TEST(a[0].item<double>() == ra[0], boost::test_tools::tolerance(1e-12));
    BOOST_TEST(a[1].item<double>() == ra[1], boost::test_tools::tolerance(1e-12));
    BOOST_TEST(b[0].item<double>() == rb, boost::test_tools::tolerance(1e-12));
  }
  BOOST_TEST(opt.steps() == 5);
}

BOOST_AUTO_TEST_CASE(state_round_trips) {
  auto a = torch::randn({3}).requires_grad_(true);
  nsl::AdamW opt;
  opt.add_group({a}, 1.0, 0.0);
  a.mutable_grad() = torch::ones({3});
  opt.step();
  nsl::AdamW other;
  auto a2 = a.detach().clone().requires_grad_(true);
  other.add_group({a2}, 1.0, 0.0);
  other.load_state(opt.state());
  BOOST_TEST(other.steps() == 1);
  for (size_t i = 0; i < opt.state().size(); ++i) {
    BOOST_TEST(torch::equal(opt.state()[i].second, other.state()[i].second));
  }
}

BOOST_AUTO_TEST_CASE(lr_schedules_hand_worked) {
  // Cosine over 4 steps: (1 + cos(pi t / 4)) / 2 = 1, 0.853553..., 0.5, 0.146446..., 0.
  const double want[] = {1.0, 0.8535533905932737, 0.5, 0.14644660940672627, 0.0};
  for (int t = 0; t <= 4; ++t) {
    BOOST_TEST(nsl::scheduled_lr("cosine", 2.0, t, 4) == 2.0 * want[t],
               boost::test_tools::tolerance(1e-15));
    BOOST_TEST(nsl::scheduled_lr("constant", 2.0, t, 4) == 2.0);
  }
  BOOST_TEST(nsl::scheduled_lr("cosine", 2.0, 9, 4) == 0.0, boost::test_tools::tolerance(1e-15));
  BOOST_CHECK_THROW(nsl::scheduled_lr("step", 1.0, 0, 4), std::invalid_argument);
  BOOST_CHECK_THROW(nsl::scheduled_lr("cosine", 1.0, 0, 0), std::invalid_argument);
}
