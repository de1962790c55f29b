// The signature kernels (kernels/signature.cu) built for the CPU emulator,
// with C entry points for ctypes. Built by tests/test_cuda_emulated.py as
//   g++ -std=c++20 -O1 -pthread -shared -fPIC -DSIGRS_DIM=D -DSIGRS_DEGREE=N
//       -DSIGRS_THREADS=B -include emulate.h signature_driver.cpp
#include "../kernels/signature.cu"

using namespace sigrs_sig;

extern "C" {

long long emu_sig_len() { return SIG_LEN; }
int emu_block() { return BLOCK; }
long long emu_forward_len() { return FORWARD_LEN; }
long long emu_backward_len() { return BACKWARD_LEN; }

#define SIGRS_EMU_ENTRIES(T, SUFFIX)                                                                                   \
    void emu_sig_forward_##SUFFIX(const T* paths, const T* initial, T* out, T* scratch, long long batch, int length,   \
                                  int dim, int time_aug, int lead_lag, T dt, int scalar_term, int stream,              \
                                  int inverse, int use_shared, unsigned grid) {                                        \
        sigrs_emu::launch(sig_forward_##SUFFIX, grid, BLOCK, use_shared ? FORWARD_LEN * sizeof(T) : 0, paths, initial, \
                          out, scratch, batch, length, dim, time_aug, lead_lag, dt, scalar_term, stream, inverse,      \
                          use_shared);                                                                                 \
    }                                                                                                                  \
    void emu_sig_backward_##SUFFIX(const T* paths, const T* sigs, const T* sig_grads, T* incr_grads,                   \
                                   T* initial_grads, T* scratch, long long batch, int length, int dim, int time_aug,   \
                                   int lead_lag, T dt, int scalar_term, int stream, int inverse, int use_shared,       \
                                   unsigned grid) {                                                                    \
        sigrs_emu::launch(sig_backward_##SUFFIX, grid, BLOCK, use_shared ? BACKWARD_LEN * sizeof(T) : 0, paths, sigs,  \
                          sig_grads, incr_grads, initial_grads, scratch, batch, length, dim, time_aug, lead_lag, dt,   \
                          scalar_term, stream, inverse, use_shared);                                                   \
    }                                                                                                                  \
    void emu_incr_grads_to_path_##SUFFIX(const T* incr_grads, T* out, long long batch, int length, int dim,            \
                                         int lead_lag, unsigned grid, unsigned block) {                                \
        sigrs_emu::launch(incr_grads_to_path_##SUFFIX, grid, block, 0, incr_grads, out, batch, length, dim, lead_lag); \
    }

SIGRS_EMU_ENTRIES(double, f64)
SIGRS_EMU_ENTRIES(float, f32)
}
