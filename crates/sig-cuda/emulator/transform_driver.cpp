// The path-transform kernels (kernels/transform.cu) built for the CPU
// emulator, with C entry points for ctypes (tests/test_cuda_emulated.py).
#include "../kernels/transform.cu"

extern "C" {

#define SIGRS_EMU_TRANSFORM_ENTRIES(T, SUFFIX)                                                                         \
    void emu_transform_path_##SUFFIX(const T* path, T* out, long long batch, int length, int dim, int time_aug,        \
                                     int lead_lag, T end_time, unsigned grid, unsigned block) {                        \
        sigrs_emu::launch(transform_path_##SUFFIX, grid, block, 0, path, out, batch, length, dim, time_aug, lead_lag,  \
                          end_time);                                                                                   \
    }                                                                                                                  \
    void emu_transform_path_backprop_##SUFFIX(const T* derivs, T* out, long long batch, int length, int dim,           \
                                              int time_aug, int lead_lag, unsigned grid, unsigned block) {             \
        sigrs_emu::launch(transform_path_backprop_##SUFFIX, grid, block, 0, derivs, out, batch, length, dim, time_aug, \
                          lead_lag);                                                                                   \
    }

SIGRS_EMU_TRANSFORM_ENTRIES(double, f64)
SIGRS_EMU_TRANSFORM_ENTRIES(float, f32)
}
