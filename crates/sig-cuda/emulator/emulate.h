// A CPU stand-in for the CUDA runtime pieces the bundled kernels use, so
// that their logic can be run and checked on machines without a GPU
// (tests/test_cuda_emulated.py). Every CUDA thread of a block is an OS
// thread; __syncthreads() is a std::barrier across them; blocks run one
// after another; dynamic shared memory is one buffer per block. Real
// threads with real barriers mean that a missing barrier can show up as a
// wrong answer here too, though not as reliably as on a GPU.
#pragma once

#include <barrier>
#include <cstddef>
#include <thread>
#include <vector>

#define SIGRS_EMULATE 1
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __restrict__ __restrict

struct sigrs_dim3 {
    unsigned x = 1, y = 1, z = 1;
};

namespace sigrs_emu {
inline thread_local sigrs_dim3 thread_idx;
inline sigrs_dim3 block_idx, block_dim, grid_dim;
inline std::barrier<>* block_barrier = nullptr;
inline unsigned char* shared_memory = nullptr;

// Runs `kernel(args...)` on a grid of `grid` blocks of `block` threads with
// `shared_bytes` of dynamic shared memory.
template <typename... Params, typename... Args>
void launch(void (*kernel)(Params...), unsigned grid, unsigned block, std::size_t shared_bytes, Args... args) {
    grid_dim.x = grid;
    block_dim.x = block;
    std::vector<unsigned char> shared(shared_bytes + 16);
    for (unsigned b = 0; b < grid; ++b) {
        block_idx.x = b;
        shared_memory = shared.data();
        std::barrier<> barrier(block);
        block_barrier = &barrier;
        std::vector<std::thread> threads;
        threads.reserve(block);
        for (unsigned t = 0; t < block; ++t) {
            threads.emplace_back([=] {
                thread_idx.x = t;
                kernel(static_cast<Params>(args)...);
            });
        }
        for (auto& th : threads) th.join();
    }
}
}  // namespace sigrs_emu

#define threadIdx (sigrs_emu::thread_idx)
#define blockIdx (sigrs_emu::block_idx)
#define blockDim (sigrs_emu::block_dim)
#define gridDim (sigrs_emu::grid_dim)
#define __syncthreads() (sigrs_emu::block_barrier->arrive_and_wait())
#define SIGRS_SHARED_MEMORY(name) unsigned char* name = sigrs_emu::shared_memory
