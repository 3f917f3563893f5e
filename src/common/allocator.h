#pragma once
// Keeps the C allocator from handing tensor buffers back to the kernel after every step.

namespace nsl {

// glibc serves allocations above its mmap threshold (128 KiB at start; a 64 x 512 float tensor is
// exactly that) with fresh mmap()s, and trims the heap top after frees, so every training step
// pays page faults for memory it used a moment ago: tests/bench/loss_bench measured some losses
// 5-9x slower that way. Raises both thresholds; a no-op on other C libraries. Call once at start.
void keep_freed_memory();

}  // namespace nsl
