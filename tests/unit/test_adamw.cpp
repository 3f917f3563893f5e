#define BOOST_TEST_MODULE adamw
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <string>
#include <utility>
#include <vector>

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
    BOOST_TEST(nsl::scheduled_lr(nsl::LrSchedule::kCosine, 2.0, t, 4) == 2.0 * want[t],
               boost::test_tools::tolerance(1e-15));
    BOOST_TEST(nsl::scheduled_lr(nsl::LrSchedule::kConstant, 2.0, t, 4) == 2.0);
  }
  BOOST_TEST(nsl::scheduled_lr(nsl::LrSchedule::kCosine, 2.0, 9, 4) == 0.0,
             boost::test_tools::tolerance(1e-15));
  BOOST_CHECK_THROW(nsl::scheduled_lr(nsl::LrSchedule::kCosine, 1.0, 0, 0), std::invalid_argument);
}

namespace {

// One row of a row group, per scalar in double: AdamW with the row's own step count t.
struct RowReference {
  double m = 0.0, v = 0.0;
  int t = 0;
  double step(double w, double g, double lr) {
    const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
    ++t;
    m = b1 * m + (1 - b1) * g;
    v = b2 * v + (1 - b2) * g * g;
    return w - lr * (m / (1 - std::pow(b1, t))) / (std::sqrt(v / (1 - std::pow(b2, t))) + eps);
  }
};

}  // namespace

// epoch_gs zeroes the moments of the rows it changed. With the global step count t in the bias
// correction (v1) the first step after that is lr (1 - beta1) / sqrt(1 - beta2^t) for a constant
// gradient: 1.35x lr at t = 201 here, up to 3.2x late in training; with each row's own count it
// is lr, as for a fresh row.
BOOST_AUTO_TEST_CASE(row_group_restarts_bias_correction_of_reset_rows) {
  auto w = torch::zeros({3, 2}, torch::kFloat64).requires_grad_(true);
  nsl::AdamW opt;
  nsl::AdamWOptions o;
  o.lr = 0.01;
  opt.set_options(o);
  opt.add_row_group(w, 1.0, nsl::RowUpdate{});
  const auto g = torch::tensor({{1.0, -2.0}, {0.5, 0.25}, {-3.0, 1.0}}, torch::kFloat64);
  std::vector<RowReference> ref(6);
  std::vector<double> expect(6, 0.0);
  auto run_step = [&] {
    w.mutable_grad() = g.clone();
    opt.step();
    for (int i = 0; i < 6; ++i)
      expect[i] = ref[i].step(expect[i], g.view(-1)[i].item<double>(), 0.01);
  };
  for (int s = 0; s < 200; ++s) run_step();
  opt.reset_rows(w, torch::tensor({false, true, false}));
  ref[2] = RowReference{};
  ref[3] = RowReference{};
  const double before = w[1][0].item<double>();
  run_step();
  // Row 1 moved by lr exactly (m_hat = g, v_hat = g^2), not 3.2 lr.
  BOOST_TEST(std::abs(w[1][0].item<double>() - before) == 0.01, boost::test_tools::tolerance(1e-6));
  for (int s = 0; s < 5; ++s) run_step();
  for (int i = 0; i < 6; ++i)
    BOOST_TEST(w.view(-1)[i].item<double>() == expect[i], boost::test_tools::tolerance(1e-12));
}

// SGD with momentum, updates restricted to the selected rows, and re-projection to unit rows.
BOOST_AUTO_TEST_CASE(row_group_sgd_selected_rows_and_reprojection) {
  auto w =
      torch::tensor({{3.0, 4.0}, {1.0, 0.0}, {0.0, 2.0}}, torch::kFloat64).requires_grad_(true);
  nsl::AdamW opt;
  nsl::AdamWOptions o;
  o.lr = 0.5;
  opt.set_options(o);
  nsl::RowUpdate u;
  u.sgd = true;
  u.momentum = 0.5;
  u.reproject = true;
  opt.add_row_group(w, 2.0, u);
  // Step 1: rows 0 and 2; step 2: all rows. Hand-worked in double below.
  const auto g = torch::tensor({{1.0, 1.0}, {2.0, 0.0}, {0.0, -1.0}}, torch::kFloat64);
  w.mutable_grad() = g.clone();
  opt.set_next_rows(torch::tensor({true, false, true}));
  opt.step();
  // row 0: buf = g = (1, 1); w = (3, 4) - 1.0 (1, 1) = (2, 3) -> /sqrt(13)
  // row 1: unchanged (1, 0), its buffer stays 0
  // row 2: buf = (0, -1); w = (0, 2) + (0, 1) = (0, 3) -> (0, 1)
  const double r13 = std::sqrt(13.0);
  BOOST_TEST(w[0][0].item<double>() == 2.0 / r13, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(w[0][1].item<double>() == 3.0 / r13, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(w[1][0].item<double>() == 1.0);
  BOOST_TEST(w[2][1].item<double>() == 1.0, boost::test_tools::tolerance(1e-12));
  w.mutable_grad() = g.clone();
  opt.step();
  // row 0: buf = 0.5 (1, 1) + (1, 1) = (1.5, 1.5); w = (2, 3)/sqrt13 - 1.5 (1, 1), normalised
  const double x = 2.0 / r13 - 1.5, y = 3.0 / r13 - 1.5, n = std::sqrt(x * x + y * y);
  BOOST_TEST(w[0][0].item<double>() == x / n, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(w[0][1].item<double>() == y / n, boost::test_tools::tolerance(1e-12));
  // row 1: first update: buf = (2, 0); w = (1, 0) - (4, 0) = (-3, 0) -> (-1, 0)
  BOOST_TEST(w[1][0].item<double>() == -1.0, boost::test_tools::tolerance(1e-12));
  for (int r = 0; r < 3; ++r)
    BOOST_TEST(w[r].norm().item<double>() == 1.0, boost::test_tools::tolerance(1e-12));
}

// A checkpoint written before per-row step counts loads with every row at the global count.
BOOST_AUTO_TEST_CASE(row_steps_default_to_the_global_count) {
  auto w = torch::randn({2, 3}).requires_grad_(true);
  nsl::AdamW opt;
  opt.add_row_group(w, 1.0, nsl::RowUpdate{});
  w.mutable_grad() = torch::ones({2, 3});
  for (int s = 0; s < 7; ++s) opt.step();
  auto state = opt.state();
  std::vector<std::pair<std::string, torch::Tensor>> old;
  for (const auto& [name, value] : state) {
    if (name.find("row_steps") == std::string::npos) old.emplace_back(name, value);
  }
  BOOST_TEST(old.size() + 1 == state.size());
  nsl::AdamW other;
  auto w2 = w.detach().clone().requires_grad_(true);
  other.add_row_group(w2, 1.0, nsl::RowUpdate{});
  other.load_state(old);
  for (const auto& [name, value] : other.state()) {
    if (name.find("row_steps") != std::string::npos)
      BOOST_TEST(torch::equal(value, torch::full({2}, 7, torch::kInt64)));
  }
}
