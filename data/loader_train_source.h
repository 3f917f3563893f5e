#pragma once
// What ShardTrainSource and ShardPKSource share: a TrainBatchSource that hands out the batches of
// a PrefetchLoader. A subclass checks its data and then gives the loader with set_loader().
#include <cstdint>
#include <memory>
#include <utility>

#include "data/prefetch_loader.h"
#include "interfaces/batch_source.h"

namespace nsl {

class LoaderTrainSource : public TrainBatchSource {
 public:
  int64_t num_classes() const override { return loader_->num_classes(); }
  int64_t global_batch_size() const override { return loader_->global_batch_size(); }
  int64_t steps_per_epoch() const override { return loader_->steps_per_epoch(); }
  void start_epoch_at(int64_t epoch, int64_t first_step) override {
    loader_->start_epoch(epoch, first_step);
  }
  // Throws std::logic_error before start_epoch() or after steps_per_epoch() calls in an epoch.
  Batch next_batch() override { return loader_->next_batch(); }

 protected:
  void set_loader(std::unique_ptr<PrefetchLoader> loader) { loader_ = std::move(loader); }

 private:
  std::unique_ptr<PrefetchLoader> loader_;
};

}  // namespace nsl
