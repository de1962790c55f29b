// Time augmentation and the lead-lag transform on the GPU, with the CPU
// layout and conventions (crates/sig-core/src/transform.rs):
//   lead-lag: 2L - 1 points of channels (lag, lead); point 2i = (x_i, x_i),
//             point 2i + 1 = (x_i, x_{i+1});
//   time:     appended last, running evenly from 0 to end_time over the
//             transformed points (a single point gets time 0).
// One thread per output point (forward) or per input point (backward);
// paths are (batch, length, dim), row-major.

template <typename T>
__device__ void transform_point(const T* path, T* out, long long b, long long p, int length, int dim,
                                bool time_aug, bool lead_lag, T end_time) {
    const int out_len = lead_lag ? 2 * length - 1 : length;
    const int out_dim = (lead_lag ? 2 * dim : dim) + (time_aug ? 1 : 0);
    const T* x = path + b * (long long)length * dim;
    T* o = out + (b * out_len + p) * out_dim;
    if (lead_lag) {
        const long long i = p / 2;
        const long long lead = (p % 2 == 0) ? i : i + 1;
        for (int c = 0; c < dim; ++c) {
            o[c] = x[i * dim + c];
            o[dim + c] = x[lead * dim + c];
        }
    } else {
        for (int c = 0; c < dim; ++c) o[c] = x[p * dim + c];
    }
    if (time_aug) {
        const int steps = out_len > 1 ? out_len - 1 : 1;
        o[out_dim - 1] = end_time * (T)p / (T)steps;
    }
}

template <typename T>
__device__ void transform_point_backprop(const T* derivs, T* out, long long b, long long i, int length, int dim,
                                         bool time_aug, bool lead_lag) {
    const int out_len = lead_lag ? 2 * length - 1 : length;
    const int out_dim = (lead_lag ? 2 * dim : dim) + (time_aug ? 1 : 0);
    const T* g = derivs + b * (long long)out_len * out_dim;
    T* o = out + (b * length + i) * dim;
    for (int c = 0; c < dim; ++c) {
        T acc;
        if (lead_lag) {
            // x_i is the lag of points 2i and 2i + 1, the lead of 2i and 2i - 1.
            acc = g[(2 * i) * out_dim + c] + g[(2 * i) * out_dim + dim + c];
            if (2 * i + 1 < out_len) acc += g[(2 * i + 1) * out_dim + c];
            if (i > 0) acc += g[(2 * i - 1) * out_dim + dim + c];
        } else {
            acc = g[i * out_dim + c];
        }
        o[c] = acc;
    }
}

#define SIGRS_TRANSFORM_KERNELS(T, SUFFIX)                                                                      \
    extern "C" __global__ void transform_path_##SUFFIX(const T* path, T* out, long long batch, int length,      \
                                                       int dim, int time_aug, int lead_lag, T end_time) {       \
        const int out_len = lead_lag ? 2 * length - 1 : length;                                                 \
        const long long n = batch * out_len;                                                                     \
        for (long long t = blockIdx.x * (long long)blockDim.x + threadIdx.x; t < n;                             \
             t += (long long)gridDim.x * blockDim.x) {                                                          \
            transform_point<T>(path, out, t / out_len, t % out_len, length, dim, time_aug, lead_lag, end_time); \
        }                                                                                                        \
    }                                                                                                            \
    extern "C" __global__ void transform_path_backprop_##SUFFIX(const T* derivs, T* out, long long batch,        \
                                                                int length, int dim, int time_aug, int lead_lag) { \
        const long long n = batch * length;                                                                      \
        for (long long t = blockIdx.x * (long long)blockDim.x + threadIdx.x; t < n;                             \
             t += (long long)gridDim.x * blockDim.x) {                                                          \
            transform_point_backprop<T>(derivs, out, t / length, t % length, length, dim, time_aug, lead_lag);  \
        }                                                                                                        \
    }

SIGRS_TRANSFORM_KERNELS(double, f64)
SIGRS_TRANSFORM_KERNELS(float, f32)
