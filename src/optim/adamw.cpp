#include "optim/adamw.h"

#include <cmath>
#include <stdexcept>

namespace nsl {

int AdamW::add_group(std::vector<torch::Tensor> params, double lr_mult, double weight_decay) {
  const int group = static_cast<int>(frozen_.size());
  frozen_.push_back(false);
  for (auto& p : params) {
    Slot slot;
    slot.param = p;
    slot.exp_avg = torch::zeros_like(p);
    slot.exp_avg_sq = torch::zeros_like(p);
    slot.lr_mult = lr_mult;
    slot.weight_decay = weight_decay;
    slot.group = group;
    slots_.push_back(std::move(slot));
  }
  return group;
}

int AdamW::add_row_group(torch::Tensor param, double lr_mult, const RowUpdate& update) {
  if (param.dim() != 2) throw std::invalid_argument("AdamW::add_row_group: a matrix expected");
  const int group = static_cast<int>(frozen_.size());
  frozen_.push_back(false);
  Slot slot;
  slot.param = param;
  slot.exp_avg = torch::zeros_like(param);
  slot.exp_avg_sq = torch::zeros_like(param);
  slot.lr_mult = lr_mult;
  slot.weight_decay = 0.0;
  slot.group = group;
  slot.rowwise = true;
  slot.row_update = update;
  slot.row_steps = torch::full({param.size(0)}, steps_, param.options().dtype(torch::kInt64));
  slots_.push_back(std::move(slot));
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
    if (s.rowwise) {
      step_rows(s, lr);
      continue;
    }
    if (s.weight_decay != 0.0) s.param.mul_(1.0 - lr * s.weight_decay);
    s.exp_avg.mul_(options_.beta1).add_(g, 1.0 - options_.beta1);
    s.exp_avg_sq.mul_(options_.beta2).addcmul_(g, g, 1.0 - options_.beta2);
    const torch::Tensor denom = (s.exp_avg_sq / bias2).sqrt_().add_(options_.eps);
    s.param.addcdiv_(s.exp_avg, denom, -lr / bias1);
  }
  next_rows_ = torch::Tensor();
}

void AdamW::step_rows(Slot& s, double lr) {
  // The selected rows are gathered, updated and scattered back; with every row selected the
  // tensors are updated in place.
  const torch::Tensor index =
      next_rows_.defined() ? next_rows_.to(torch::kCPU).nonzero().squeeze(1).to(s.param.device())
                           : torch::Tensor();
  auto rows_of = [&](const torch::Tensor& t) {
    return index.defined() ? t.index_select(0, index) : t;
  };
  auto put_back = [&](torch::Tensor& t, const torch::Tensor& rows) {
    if (index.defined()) t.index_copy_(0, index, rows);
  };
  if (index.defined() && index.numel() == 0) return;
  torch::Tensor param = rows_of(s.param);
  const torch::Tensor g = rows_of(s.param.grad());
  torch::Tensor m = rows_of(s.exp_avg);
  if (s.row_update.sgd) {
    m.mul_(s.row_update.momentum).add_(g);
    param.add_(m, -lr);
  } else {
    torch::Tensor v = rows_of(s.exp_avg_sq);
    torch::Tensor steps = rows_of(s.row_steps);
    steps.add_(1);
    const torch::Tensor t = steps.to(torch::kFloat64).unsqueeze(1);
    const torch::Tensor bias1 = (1.0 - torch::pow(options_.beta1, t)).to(param.scalar_type());
    const torch::Tensor bias2 = (1.0 - torch::pow(options_.beta2, t)).to(param.scalar_type());
    m.mul_(options_.beta1).add_(g, 1.0 - options_.beta1);
    v.mul_(options_.beta2).addcmul_(g, g, 1.0 - options_.beta2);
    const torch::Tensor denom = (v / bias2).sqrt_().add_(options_.eps);
    param.addcdiv_(m / bias1, denom, -lr);
    put_back(s.exp_avg_sq, v);
    put_back(s.row_steps, steps);
  }
  if (s.row_update.reproject) param.div_(param.norm(2, 1, true).clamp_min(1e-12));
  put_back(s.exp_avg, m);
  put_back(s.param, param);
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
  if (s->rowwise) s->row_steps.index_fill_(0, rows.to(s->row_steps.device()), 0);
}

std::vector<std::pair<std::string, torch::Tensor>> AdamW::state() const {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  out.emplace_back("steps", torch::tensor(steps_, torch::kInt64));
  for (size_t i = 0; i < slots_.size(); ++i) {
    out.emplace_back("p" + std::to_string(i) + ".exp_avg", slots_[i].exp_avg);
    out.emplace_back("p" + std::to_string(i) + ".exp_avg_sq", slots_[i].exp_avg_sq);
    if (slots_[i].rowwise)
      out.emplace_back("p" + std::to_string(i) + ".row_steps", slots_[i].row_steps);
  }
  return out;
}

std::vector<std::pair<std::string, torch::Tensor>> AdamW::state_of(
    const torch::Tensor& param) const {
  for (size_t i = 0; i < slots_.size(); ++i) {
    const Slot& s = slots_[i];
    if (!s.param.is_same(param)) continue;
    const std::string prefix = "p" + std::to_string(i) + ".";
    std::vector<std::pair<std::string, torch::Tensor>> out{{prefix + "exp_avg", s.exp_avg},
                                                           {prefix + "exp_avg_sq", s.exp_avg_sq}};
    if (s.rowwise) out.emplace_back(prefix + "row_steps", s.row_steps);
    return out;
  }
  throw std::invalid_argument("AdamW::state_of: parameter is not optimised here");
}

void AdamW::load_state(const std::vector<std::pair<std::string, torch::Tensor>>& state) {
  torch::NoGradGuard no_grad;
  for (const auto& [name, value] : state) {
    if (name == "steps") {
      steps_ = value.item<int64_t>();
      for (auto& slot : slots_) {
        if (slot.rowwise) slot.row_steps.fill_(steps_);
      }
      continue;
    }
    const auto dot = name.find('.');
    const size_t i = std::stoul(name.substr(1, dot - 1));
    if (i >= slots_.size())
      throw std::invalid_argument("optimizer state names unknown slot " + name);
    const std::string field = name.substr(dot + 1);
    if (field == "row_steps" && !slots_[i].rowwise)
      throw std::invalid_argument("optimizer state " + name + " for a slot without row steps");
    auto& target = field == "exp_avg"     ? slots_[i].exp_avg
                   : field == "row_steps" ? slots_[i].row_steps
                                          : slots_[i].exp_avg_sq;
    if (!target.sizes().equals(value.sizes())) {
      throw std::invalid_argument("optimizer state " + name + " has the wrong shape");
    }
    target.copy_(value);
  }
}

}  // namespace nsl
