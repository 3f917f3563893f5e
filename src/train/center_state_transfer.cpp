#include "train/center_state_transfer.h"

#include <algorithm>

namespace nsl {
namespace {

// Rank `owner`'s rows [from, to) of its part (relative to its range), on rank 0; empty elsewhere.
torch::Tensor rows_to_root(Communicator& comm, int owner, const torch::Tensor& part, int64_t from,
                           int64_t to) {
  if (owner == 0) {
    return comm.is_root() ? part.detach().slice(0, from, to).cpu().clone() : torch::Tensor();
  }
  std::vector<int64_t> shape = part.sizes().vec();
  shape[0] = to - from;
  torch::Tensor buffer = comm.rank() == owner
                             ? part.detach().slice(0, from, to).contiguous().clone()
                             : torch::empty(shape, part.options());
  comm.broadcast(buffer, owner);
  return comm.is_root() ? buffer.cpu() : torch::Tensor();
}

}  // namespace

NamedTensors sharded_parts(EmbeddingLoss& loss, const AdamW& optimizer) {
  NamedTensors parts{{"loss.centers", loss->centers()}};
  for (auto& entry : optimizer.state_of(loss->centers())) parts.push_back(entry);
  return parts;
}

std::set<std::string> names_of(const NamedTensors& tensors) {
  std::set<std::string> names;
  for (const auto& [name, t] : tensors) names.insert(name);
  return names;
}

WholeTensors gather_whole(Communicator& comm, const std::vector<ShardRange>& ranges,
                          const NamedTensors& parts) {
  torch::NoGradGuard no_grad;
  WholeTensors whole;
  for (const auto& [name, part] : parts) {
    std::vector<torch::Tensor> pieces;
    for (int r = 0; r < comm.size(); ++r) {
      if (ranges[static_cast<size_t>(r)].rows() == 0) continue;
      pieces.push_back(rows_to_root(comm, r, part, 0, ranges[static_cast<size_t>(r)].rows()));
    }
    if (comm.is_root()) whole[name] = torch::cat(pieces);
  }
  return whole;
}

void scatter_whole(Communicator& comm, const std::vector<ShardRange>& ranges,
                   const WholeTensors& whole, const NamedTensors& parts) {
  torch::NoGradGuard no_grad;
  for (const auto& [name, part] : parts) {
    // Whether rank 0 has this entry (an old checkpoint may lack the row step counts).
    int64_t present = 0;
    if (comm.is_root()) {
      const auto it = whole.find(name);
      present = it != whole.end() && it->second.defined() ? 1 : 0;
    }
    torch::Tensor flag = torch::tensor({present}, torch::kInt64).to(comm.device());
    comm.broadcast(flag, 0);
    if (flag.item<int64_t>() == 0) continue;
    for (int r = 0; r < comm.size(); ++r) {
      const ShardRange& range = ranges[static_cast<size_t>(r)];
      if (range.rows() == 0) continue;
      torch::Tensor rows;
      if (comm.is_root()) rows = whole.at(name).slice(0, range.begin, range.end);
      if (r == 0) {
        if (comm.is_root()) part.detach().copy_(rows);
        continue;
      }
      std::vector<int64_t> shape = part.sizes().vec();
      shape[0] = range.rows();
      torch::Tensor buffer = comm.is_root()
                                 ? rows.to(part.device(), part.scalar_type()).contiguous().clone()
                                 : torch::empty(shape, part.options());
      comm.broadcast(buffer, 0);
      if (comm.rank() == r) part.detach().copy_(buffer);
    }
  }
}

torch::Tensor gather_leading_rows(Communicator& comm, const std::vector<ShardRange>& ranges,
                                  const torch::Tensor& part, int64_t rows) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> pieces;
  for (int r = 0; r < comm.size(); ++r) {
    const ShardRange& range = ranges[static_cast<size_t>(r)];
    const int64_t to = std::min(range.end, rows);
    if (to <= range.begin) continue;
    pieces.push_back(rows_to_root(comm, r, part, 0, to - range.begin));
  }
  if (!comm.is_root()) return torch::Tensor();
  if (pieces.empty()) return torch::empty({0, part.size(1)});
  return torch::cat(pieces);
}

}  // namespace nsl
