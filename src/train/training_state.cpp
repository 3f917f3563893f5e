#include "train/training_state.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cstdint>
#include <mutex>

#include "interfaces/collectives.h"

namespace nsl {
namespace {

// What rank 0 sends first: whether a checkpoint was loaded, and where training stands.
struct ResumePoint {
  int64_t resumed = 0;
  TrainingProgress progress;
};

void broadcast_optimizer_state(Communicator& comm, AdamW& optimizer,
                               const std::set<std::string>& sharded) {
  std::vector<std::pair<std::string, torch::Tensor>> state;
  for (auto& [name, value] : optimizer.state()) {
    if (sharded.count(name) != 0) continue;
    state.emplace_back(name, value.contiguous().clone());
    comm.broadcast(state.back().second, 0);
  }
  optimizer.load_state(state);
}

void broadcast_generator_state(Communicator& comm) {
  auto gen = at::detail::getDefaultCPUGenerator();
  torch::Tensor state;
  {
    std::lock_guard<std::mutex> lock(gen.mutex());
    state = gen.get_state().contiguous().clone();
  }
  broadcast_tensor(comm, state, 0);
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(state);
}

}  // namespace

void broadcast_weights(Communicator& comm, torch::nn::Module& net, torch::nn::Module& loss,
                       const std::set<std::string>& sharded) {
  torch::NoGradGuard no_grad;
  for (auto& p : net.parameters()) comm.broadcast(p, 0);
  for (auto& b : net.buffers()) comm.broadcast(b, 0);
  for (auto& item : loss.named_parameters()) {
    if (sharded.count("loss." + item.key()) == 0) comm.broadcast(item.value(), 0);
  }
  for (auto& b : loss.buffers()) comm.broadcast(b, 0);
}

std::optional<TrainingProgress> sync_training_state(
    Communicator& comm, const std::optional<TrainingProgress>& root_progress,
    torch::nn::Module& net, torch::nn::Module& loss, AdamW& optimizer,
    const std::set<std::string>& sharded) {
  ResumePoint point;
  if (comm.is_root() && root_progress) point = {1, *root_progress};
  point = broadcast_value(comm, point, 0);
  if (point.resumed == 0) return std::nullopt;
  broadcast_weights(comm, net, loss, sharded);
  broadcast_optimizer_state(comm, optimizer, sharded);
  broadcast_generator_state(comm);
  return point.progress;
}

}  // namespace nsl
