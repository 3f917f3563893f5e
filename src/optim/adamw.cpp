#include "optim/adamw.h"

#include <cmath>
#include <stdexcept>

namespace nsl {

int AdamW::add_group(std::vector<torch::Tensor> params, double lr_mult, double weight_decay) {
  const int group = static_cast<int>(frozen_.size());
  frozen_.push_back(false);
  for (auto& p : params) {
    slots_.push_back({p, torch::zeros_like(p), torch::zeros_like(p), lr_mult, weight_decay, group});
  }
  return group;
}

void AdamW::set_frozen(int group, bool frozen) { frozen_.at(static_cast<size_t>(group)) = frozen; }

void AdamW::zero_grad() {
  for (auto& s : slots_) {
    if (s.param.grad().defined()) s.param.mutable_grad().zero_();
  }
}

void AdamW::step() {
  torch::NoGradGuard no_grad;
  ++steps_;
  const double bias1 = 1.0 - std::pow(options_.beta1, static_cast<double>(steps_));
  const double bias2 = 1.0 - std::pow(options_.beta2, static_cast<double>(steps_));
  for (auto& s : slots_) {
    const torch::Tensor& g = s.param.grad();
    if (!g.defined() || frozen_[static_cast<size_t>(s.group)]) continue;
    const double lr = options_.lr * s.lr_mult;
    if (s.weight_decay != 0.0) s.param.mul_(1.0 - lr * s.weight_decay);
    s.exp_avg.mul_(options_.beta1).add_(g, 1.0 - options_.beta1);
    s.exp_avg_sq.mul_(options_.beta2).addcmul_(g, g, 1.0 - options_.beta2);
    const torch::Tensor denom = (s.exp_avg_sq / bias2).sqrt_().add_(options_.eps);
    s.param.addcdiv_(s.exp_avg, denom, -lr / bias1);
  }
}

AdamW::Slot* AdamW::find(const torch::Tensor& param) {
  for (auto& s : slots_) {
    if (s.param.is_same(param)) return &s;
  }
  return nullptr;
}

void AdamW::reset_rows(const torch::Tensor& param, const torch::Tensor& rows_mask) {
  Slot* s = find(param);
  if (!s) throw std::invalid_argument("AdamW::reset_rows: parameter is not optimised here");
  torch::NoGradGuard no_grad;
  const auto rows = rows_mask.nonzero().squeeze(1);
  s->exp_avg.index_fill_(0, rows, 0.0);
  s->exp_avg_sq.index_fill_(0, rows, 0.0);
}

std::vector<std::pair<std::string, torch::Tensor>> AdamW::state() const {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  out.emplace_back("steps", torch::tensor(steps_, torch::kInt64));
  for (size_t i = 0; i < slots_.size(); ++i) {
    out.emplace_back("p" + std::to_string(i) + ".exp_avg", slots_[i].exp_avg);
    out.emplace_back("p" + std::to_string(i) + ".exp_avg_sq", slots_[i].exp_avg_sq);
  }
  return out;
}

void AdamW::load_state(const std::vector<std::pair<std::string, torch::Tensor>>& state) {
  torch::NoGradGuard no_grad;
  for (const auto& [name, value] : state) {
    if (name == "steps") {
      steps_ = value.item<int64_t>();
      continue;
    }
    const auto dot = name.find('.');
    const size_t i = std::stoul(name.substr(1, dot - 1));
    if (i >= slots_.size())
      throw std::invalid_argument("optimizer state names unknown slot " + name);
    auto& target = name.substr(dot + 1) == "exp_avg" ? slots_[i].exp_avg : slots_[i].exp_avg_sq;
    if (!target.sizes().equals(value.sizes())) {
      throw std::invalid_argument("optimizer state " + name + " has the wrong shape");
    }
    target.copy_(value);
  }
}

}  // namespace nsl
