#pragma once
// Runs produce(i) for i in [0, count) on `workers` threads and consume(i, result) on the calling
// thread in increasing i, so the output order (and bytes) do not depend on the number of workers.
// At most `window` results wait to be consumed. An exception from produce(i) is rethrown on the
// calling thread when i's turn comes; an exception from consume stops the workers and propagates.
#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace nsl {

template <class Result, class Produce, class Consume>
void ordered_parallel(int64_t count, int64_t workers, int64_t window, Produce produce,
                      Consume consume) {
  struct Slot {
    std::optional<Result> value;
    std::exception_ptr error;
    bool ready = false;
  };
  window = std::max<int64_t>(window, 1);
  std::vector<Slot> slots(static_cast<size_t>(window));
  std::mutex mutex;
  std::condition_variable ready_cv, space_cv;
  int64_t next = 0, consumed = 0;
  bool stop = false;

  auto work = [&] {
    for (;;) {
      int64_t i = 0;
      {
        std::unique_lock<std::mutex> lock(mutex);
        space_cv.wait(lock, [&] { return stop || next >= count || next < consumed + window; });
        if (stop || next >= count) return;
        i = next++;
      }
      Slot slot;
      try {
        slot.value.emplace(produce(i));
      } catch (...) {
        slot.error = std::current_exception();
      }
      slot.ready = true;
      {
        std::lock_guard<std::mutex> lock(mutex);
        slots[static_cast<size_t>(i % window)] = std::move(slot);
      }
      ready_cv.notify_one();
    }
  };

  // Joins the workers on every exit path (an exception from consume included).
  struct Pool {
    std::vector<std::thread> threads;
    std::mutex& mutex;
    bool& stop;
    std::condition_variable& space_cv;
    ~Pool() {
      {
        std::lock_guard<std::mutex> lock(mutex);
        stop = true;
      }
      space_cv.notify_all();
      for (auto& t : threads) t.join();
    }
  } pool{{}, mutex, stop, space_cv};
  for (int64_t w = 0; w < std::max<int64_t>(workers, 1); ++w) pool.threads.emplace_back(work);

  for (int64_t i = 0; i < count; ++i) {
    Slot slot;
    {
      std::unique_lock<std::mutex> lock(mutex);
      Slot& s = slots[static_cast<size_t>(i % window)];
      ready_cv.wait(lock, [&] { return s.ready; });
      slot = std::move(s);
      s = Slot{};
      ++consumed;
    }
    space_cv.notify_all();
    if (slot.error) std::rethrow_exception(slot.error);
    consume(i, std::move(*slot.value));
  }
}

}  // namespace nsl
