#pragma once
// Writes one shard file (format v1, see data/shard_format.h). Pixels are appended one sample per
// chunk as they arrive; labels and paths are kept in memory and written by close().
#include <cstdint>
#include <memory>
#include <string>

namespace nsl {

class ShardWriter {
 public:
  // Creates (truncates) `path`. Throws DataError if it cannot be created, ConfigError on bad sizes.
  ShardWriter(const std::string& path, const std::string& split, int64_t shard_index,
              int64_t num_shards, int64_t height, int64_t width, int64_t channels);
  ~ShardWriter();  // without close(): closes the file (contents incomplete); never throws
  ShardWriter(const ShardWriter&) = delete;
  ShardWriter& operator=(const ShardWriter&) = delete;
  ShardWriter(ShardWriter&&) noexcept;
  ShardWriter& operator=(ShardWriter&&) noexcept;

  // `pixels` holds height*width*channels bytes in H, W, C order.
  void append(const uint8_t* pixels, int64_t label, const std::string& sample_path);
  // Writes labels, paths and attributes and closes the file. Idempotent.
  void close();

  int64_t count() const;
  const std::string& path() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace nsl
