#pragma once
// P x K training batches over a converted dataset (the pair-based losses' sampler). Every global
// batch is drawn from the whole split by PKSampler (train/pk_sampler.h), so unlike
// ShardTrainSource a rank reads from every shard: it keeps all labels in memory (for the sampler)
// and its PrefetchLoader reads the images of its part of each batch (batch_part) sample by
// sample, one HDF5 chunk each, ahead of the trainer.
#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "data/manifest.h"
#include "data/prefetch_loader.h"
#include "interfaces/batch_source.h"
#include "train/pk_sampler.h"

namespace nsl {

class ShardPKSource : public TrainBatchSource {
 public:
  // global_batch_size must be a multiple of images_per_class (P = batch / K); throws ConfigError
  // otherwise, DataError for a shard that disagrees with the manifest.
  ShardPKSource(const std::string& dataset_dir, const std::string& split, int64_t rank,
                int64_t world_size, int64_t global_batch_size, int64_t images_per_class,
                uint64_t seed, const LoaderOptions& loader = {});

  int64_t num_classes() const override { return num_classes_; }
  int64_t global_batch_size() const override { return loader_->global_batch_size(); }
  int64_t steps_per_epoch() const override { return loader_->steps_per_epoch(); }
  void start_epoch_at(int64_t epoch, int64_t first_step) override {
    loader_->start_epoch(epoch, first_step);
  }
  Batch next_batch() override { return loader_->next_batch(); }

 private:
  Manifest manifest_;
  int64_t num_classes_ = 0;
  std::unique_ptr<PrefetchLoader> loader_;
};

}  // namespace nsl
