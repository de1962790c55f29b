// Truncated signatures of batches of paths on the GPU, and their gradients.
//
// One block per path (grid-stride over the batch, so any batch fits in one
// launch); the block's threads share the coefficients of each step. The
// source is specialised by NVRTC on the transformed dimension D and the
// degree N (-DSIGRS_DIM, -DSIGRS_DEGREE): word indexing is then division by
// constants and every level loop unrolls. Layouts are the CPU's
// (crates/sig-core): a signature is levels 1..N, each level's words in
// lexicographic order, after the level-0 term when `scalar_term` is set.
//
// Working memory (FORWARD_LEN / BACKWARD_LEN numbers per block) is dynamic
// shared memory when it fits (`use_shared`), otherwise a global scratch
// area the caller allocates for every block of the grid.
// crates/sig-cuda/src/signature.rs mirrors these sizes (checked by the
// tests). The block is SIGRS_THREADS rounded down to a multiple of D.
//
// Forward, per increment z: S <- S (x) exp(z), each coefficient by its own
// Horner chain over its prefixes, reading the old state and writing the new
// one (two buffers, one barrier per step).
//
// Backward, per increment walked from the end (the CPU's reversibility
// trick: nothing of size length x sig_len is stored): the state before the
// step is S (x) exp(-z); with the Horner form of the step,
//     Y(N+1) = 1,  Y(m) = S + Y(m+1) (x) z / m,  S' = Y(1),
// the gradients are
//     gY(1) = G',  gY(m+1) = (gY(m) . z) / m   (contracting the last letter),
//     G = sum_m gY(m),  dz_c = sum_m sum_u gY(m)[u c] Y(m+1)[u] / m,
// each stage a level-parallel pass with a barrier. Thread t always handles
// words whose last letter is t mod D (the block is a multiple of D), so the
// gradient of z is reduced from one number per thread.

#ifndef SIGRS_DIM
#define SIGRS_DIM 2
#endif
#ifndef SIGRS_DEGREE
#define SIGRS_DEGREE 2
#endif
#ifndef SIGRS_THREADS
#define SIGRS_THREADS 256
#endif

#ifndef SIGRS_EMULATE
#define SIGRS_SHARED_MEMORY(name) extern __shared__ __align__(16) unsigned char name[]
#endif

namespace sigrs_sig {

constexpr int D = SIGRS_DIM;
constexpr int N = SIGRS_DEGREE;
// The block: a multiple of D (see above), at least D.
constexpr int BLOCK = D <= SIGRS_THREADS ? (SIGRS_THREADS / D) * D : D;

__host__ __device__ constexpr long long power(int k) {
    long long p = 1;
    for (int i = 0; i < k; ++i) p *= D;
    return p;
}

// Offset of level k >= 1 in a buffer holding levels 1.. (no level 0).
__host__ __device__ constexpr long long level_start(int k) {
    long long off = 0;
    for (int j = 1; j < k; ++j) off += power(j);
    return off;
}

constexpr long long SIG_LEN = level_start(N + 1);  // levels 1..N
constexpr long long LOW_LEN = level_start(N);      // levels 1..N-1

// Offset of gY(m), m = 2..N (levels 1..N-m+1), in the backward pass's store.
__host__ __device__ constexpr long long gy_offset(int m) {
    long long off = 0;
    for (int i = 2; i < m; ++i) off += level_start(N - i + 2);
    return off;
}
constexpr long long GY_LEN = gy_offset(N + 1);

// Working memory, in numbers of the floating type.
constexpr long long FORWARD_LEN = 2 * SIG_LEN + 2 * D;
constexpr long long BACKWARD_LEN = 4 * LOW_LEN + SIG_LEN + GY_LEN + 2 * D + 2 * BLOCK;

// Channel c of increment j of the transformed path (the CPU's
// PathTransform::increment): lead-lag moves the lead on even steps and the
// lag on odd ones; time, last, advances by dt every step.
template <typename T>
__device__ __forceinline__ T increment(const T* x, int dim, long long j, int c, bool lead_lag, bool time_aug, T dt) {
    if (time_aug && c == D - 1) return dt;
    if (!lead_lag) return x[(j + 1) * dim + c] - x[j * dim + c];
    const long long i = j / 2;
    const bool lead_moves = (j % 2) == 0;
    const bool is_lead = c >= dim;
    const int ch = is_lead ? c - dim : c;
    if (is_lead != lead_moves) return T(0);
    return x[(i + 1) * dim + ch] - x[i * dim + ch];
}

// The increments in the order they are multiplied in: the path's own, or
// with `inverse` the path's run backwards (S^-1 = exp(-z_last) .. exp(-z_0)).
template <typename T>
struct Walk {
    const T* x;
    int dim;
    long long steps;
    bool lead_lag, time_aug, inverse;
    T dt;

    // The transformed path's increment that is multiplied in j-th.
    __device__ __forceinline__ long long index(long long j) const { return inverse ? steps - 1 - j : j; }

    __device__ __forceinline__ T at(long long j, int c) const {
        const T v = increment<T>(x, dim, index(j), c, lead_lag, time_aug, dt);
        return inverse ? -v : v;
    }
};

// Word i of level K of `cur` (x) exp(SIGN z), by Horner over its prefixes:
// b_0 = 1, b_j = b_(j-1) SIGN z[w_j] / (K - j + 1) + cur[w_1..w_j]. K, j and
// SIGN are compile-time, so the divisions fold into constants.
template <typename T, int K, int SIGN>
__device__ __forceinline__ T horner_word(const T* cur, const T* z, unsigned i) {
    T b = T(1);
#pragma unroll
    for (int j = 1; j <= K; ++j) {
        const unsigned prefix = i / (unsigned)power(K - j);
        const unsigned letter = prefix % D;
        b = b * z[letter] * (T(SIGN) / T(K - j + 1)) + cur[level_start(j) + prefix];
    }
    return b;
}

// Levels 1..TOP of `next` from `cur` (both level-1-based), for this thread's words.
template <typename T, int K, int TOP, int SIGN>
struct HornerLevels {
    __device__ __forceinline__ static void run(const T* cur, T* next, const T* z) {
        for (unsigned i = threadIdx.x; i < (unsigned)power(K); i += BLOCK)
            next[level_start(K) + i] = horner_word<T, K, SIGN>(cur, z, i);
        HornerLevels<T, K + 1, TOP, SIGN>::run(cur, next, z);
    }
};
template <typename T, int TOP, int SIGN>
struct HornerLevels<T, TOP + 1, TOP, SIGN> {
    __device__ __forceinline__ static void run(const T*, T*, const T*) {}
};

// Rows of output per path: one, or with `stream` one per original step
// (with lead-lag, a row after each pair of transformed steps).
__device__ __forceinline__ long long rows_of(int length, int stream) {
    return stream ? (length > 1 ? length - 1 : 0) : 1;
}

// Whether the state after transformed step j ends a row of a stream.
__device__ __forceinline__ bool ends_row(long long j, int lead_lag) {
    return !lead_lag || j % 2 == 1;
}

// `initial` (nullable): a signature per path, in the output's layout, to
// start from (the output is initial (x) S). `stream`: output the state at
// the end of every original step.
// `inverse`: output S^-1 (not with `initial` or `stream`, which the
// launcher refuses).
template <typename T>
__device__ void sig_forward(const T* __restrict__ paths, const T* __restrict__ initial, T* __restrict__ out,
                            T* scratch, long long batch, int length, int dim, int time_aug, int lead_lag, T dt,
                            int scalar_term, int stream, int inverse, int use_shared) {
    SIGRS_SHARED_MEMORY(shared_bytes);
    T* work = use_shared ? reinterpret_cast<T*>(shared_bytes) : scratch + blockIdx.x * FORWARD_LEN;
    T* zs = work + 2 * SIG_LEN;  // two increments: the current one and the next
    const long long steps = lead_lag ? 2LL * length - 2 : (long long)length - 1;
    const int skip = scalar_term ? 1 : 0;
    const int row = (int)SIG_LEN + skip;
    const long long rows = rows_of(length, stream);
    for (long long b = blockIdx.x; b < batch; b += gridDim.x) {
        const Walk<T> walk{paths + b * (long long)length * dim, dim, steps, lead_lag != 0, time_aug != 0, inverse != 0, dt};
        T* cur = work;
        T* next = work + SIG_LEN;
        for (long long f = threadIdx.x; f < SIG_LEN; f += BLOCK) cur[f] = initial ? initial[b * row + skip + f] : T(0);
        if (steps > 0 && threadIdx.x < D) zs[threadIdx.x] = walk.at(0, threadIdx.x);
        __syncthreads();
        for (long long j = 0; j < steps; ++j) {
            const T* z = zs + (j % 2) * D;
            HornerLevels<T, 1, N, 1>::run(cur, next, z);
            if (j + 1 < steps && threadIdx.x < D)
                zs[((j + 1) % 2) * D + threadIdx.x] = walk.at(j + 1, threadIdx.x);
            __syncthreads();
            T* done = next;
            next = cur;
            cur = done;
            if (stream && ends_row(j, lead_lag)) {
                // Read while the next step reads it too; overwritten two barriers on.
                T* o = out + (b * rows + (lead_lag ? j / 2 : j)) * row;
                if (scalar_term && threadIdx.x == 0) o[0] = T(1);
                for (long long f = threadIdx.x; f < SIG_LEN; f += BLOCK) o[skip + f] = cur[f];
            }
        }
        if (!stream) {
            T* o = out + b * row;
            if (scalar_term && threadIdx.x == 0) o[0] = T(1);
            for (long long f = threadIdx.x; f < SIG_LEN; f += BLOCK) o[skip + f] = cur[f];
        }
        __syncthreads();  // the buffers are reused by the next path
    }
}

// gY(m+1) at levels 1..N-m from gY(m) at levels 2..N-m+1 (`src` and `dst`
// level-1-based): dst[u] = (src[u 0] z_0 + ... + src[u (D-1)] z_(D-1)) / m.
template <typename T>
__device__ __forceinline__ void contract_last_letter(const T* src, T* dst, const T* z, int m) {
    const T inv_m = T(1) / T(m);
    for (int k = 1; k <= N - m; ++k) {
        const long long n = power(k);
        const T* from = src + level_start(k + 1);
        T* to = dst + level_start(k);
        for (long long u = threadIdx.x; u < n; u += BLOCK) {
            T acc = T(0);
#pragma unroll
            for (int c = 0; c < D; ++c) acc += from[u * D + c] * z[c];
            to[u] = acc * inv_m;
        }
    }
}

// Adds this thread's share of sum_u gY(m)[u c] Y(m+1)[u] / m (levels 1..N-m+1
// of gY(m), level 0 of Y(m+1) being 1) to `dz`; every word it visits ends
// in the letter threadIdx.x mod D.
template <typename T>
__device__ __forceinline__ void pair_stage(const T* gy, const T* y_next, int m, T& dz) {
    const T inv_m = T(1) / T(m);
    T acc = T(0);
    for (int k = 1; k <= N - m + 1; ++k) {
        const long long n = power(k);
        const T* g = gy + level_start(k);
        for (long long q = threadIdx.x; q < n; q += BLOCK) {
            const T y = k == 1 ? T(1) : y_next[level_start(k - 1) + q / D];
            acc += g[q] * y;
        }
    }
    dz += acc * inv_m;
}

// Y(m) at levels 1..N-m+1 from Y(m+1): Y(m)[u c] = S[u c] + Y(m+1)[u] z_c / m.
template <typename T>
__device__ __forceinline__ void horner_stage(const T* s, const T* y_next, T* y, const T* z, int m) {
    const T inv_m = T(1) / T(m);
    for (int k = 1; k <= N - m + 1; ++k) {
        const long long n = power(k);
        for (long long q = threadIdx.x; q < n; q += BLOCK) {
            const T prev = k == 1 ? T(1) : y_next[level_start(k - 1) + q / D];
            y[level_start(k) + q] = s[level_start(k) + q] + prev * z[q % D] * inv_m;
        }
    }
}

// `sigs` and `sig_grads`: what sig_forward wrote, and its gradient; with
// `stream`, each row's state restarts the walk (so rounding does not build
// up over the path) and each row's gradient joins it. `initial_grads`
// (nullable): where dF/d(initial) goes, in the output's layout.
template <typename T>
__device__ void sig_backward(const T* __restrict__ paths, const T* __restrict__ sigs, const T* __restrict__ sig_grads,
                             T* __restrict__ incr_grads, T* __restrict__ initial_grads, T* scratch, long long batch,
                             int length, int dim, int time_aug, int lead_lag, T dt, int scalar_term, int stream,
                             int inverse, int use_shared) {
    SIGRS_SHARED_MEMORY(shared_bytes);
    T* work = use_shared ? reinterpret_cast<T*>(shared_bytes) : scratch + blockIdx.x * BACKWARD_LEN;
    T* g = work + 4 * LOW_LEN;  // the state's gradient, levels 1..N
    T* gy_store = g + SIG_LEN;
    T* zs = gy_store + GY_LEN;  // the current increment and the next (earlier) one
    // One number per thread for the reduction of dz, in two buffers used
    // by alternate steps, so a step's reduction overlaps the next one's start.
    T* partials = zs + 2 * D;
    const long long steps = lead_lag ? 2LL * length - 2 : (long long)length - 1;
    const int row = (int)SIG_LEN + (scalar_term ? 1 : 0);
    const int skip = scalar_term ? 1 : 0;
    const long long rows = rows_of(length, stream);
    for (long long b = blockIdx.x; b < batch; b += gridDim.x) {
        const Walk<T> walk{paths + b * (long long)length * dim, dim, steps, lead_lag != 0, time_aug != 0, inverse != 0, dt};
        // The last row: the state after the last step, and its gradient.
        const T* last_sig = sigs + (b * rows + rows - 1) * row + skip;
        const T* last_grad = sig_grads + (b * rows + rows - 1) * row + skip;
        // States, levels 1..N-1 (the top level is never read): after the
        // step and before it; then Y(m+1) and Y(m) of the Horner stages.
        T* s_after = work;
        T* s_before = work + LOW_LEN;
        T* y_next = work + 2 * LOW_LEN;
        T* y_this = work + 3 * LOW_LEN;
        for (long long f = threadIdx.x; f < LOW_LEN; f += BLOCK) s_after[f] = rows > 0 ? last_sig[f] : T(0);
        for (long long f = threadIdx.x; f < SIG_LEN; f += BLOCK) g[f] = rows > 0 ? last_grad[f] : T(0);
        if (steps > 0 && threadIdx.x < D) zs[((steps - 1) % 2) * D + threadIdx.x] = walk.at(steps - 1, threadIdx.x);
        __syncthreads();
        for (long long j = steps - 1; j >= 0; --j) {
            const T* z = zs + (j % 2) * D;
            // A: the state before the step, and gY(2).
            HornerLevels<T, 1, N - 1, -1>::run(s_after, s_before, z);
            if (N >= 2) contract_last_letter<T>(g, gy_store + gy_offset(2), z, 1);
            __syncthreads();
            // B: gY(3) .. gY(N).
            for (int m = 2; m < N; ++m) {
                contract_last_letter<T>(gy_store + gy_offset(m), gy_store + gy_offset(m + 1), z, m);
                __syncthreads();
            }
            // C: pair gY(m) with Y(m+1) while Y(m) is built, m = N .. 2.
            T dz = T(0);
            // y_next holds Y(m+1) (nothing for m = N: it is 1).
            for (int m = N; m >= 2; --m) {
                pair_stage<T>(gy_store + gy_offset(m), y_next, m, dz);
                horner_stage<T>(s_before, y_next, y_this, z, m);
                __syncthreads();
                T* built = y_this;
                y_this = y_next;
                y_next = built;
            }
            // D: pair gY(1) = G with Y(2), then G <- sum_m gY(m) in place
            // (the same thread reads and writes each word), plus the
            // gradient of the row the state before the step ends, if any,
            // whose stored state replaces the recovered one; prefetch the
            // next increment, and reduce dz.
            pair_stage<T>(g, y_next, 1, dz);
            const bool row_before = stream && j > 0 && ends_row(j - 1, lead_lag);
            const long long r = lead_lag ? (j - 1) / 2 : j - 1;
            const T* row_grad = sig_grads + (b * rows + r) * row + skip;
            for (int k = 1; k <= N; ++k) {
                const long long n = power(k);
                for (long long q = threadIdx.x; q < n; q += BLOCK) {
                    T acc = g[level_start(k) + q];
                    for (int m = 2; m <= N - k + 1; ++m) acc += gy_store[gy_offset(m) + level_start(k) + q];
                    if (row_before) acc += row_grad[level_start(k) + q];
                    g[level_start(k) + q] = acc;
                }
            }
            if (row_before) {
                const T* row_sig = sigs + (b * rows + r) * row + skip;
                for (long long f = threadIdx.x; f < LOW_LEN; f += BLOCK) s_before[f] = row_sig[f];
            }
            if (j > 0 && threadIdx.x < D)
                zs[((j - 1) % 2) * D + threadIdx.x] = walk.at(j - 1, threadIdx.x);
            T* partial = partials + (j % 2) * BLOCK;
            partial[threadIdx.x] = dz;
            __syncthreads();
            if (threadIdx.x < D) {
                T total = T(0);
                for (int t = threadIdx.x; t < BLOCK; t += D) total += partial[t];
                incr_grads[(b * steps + walk.index(j)) * D + threadIdx.x] = inverse ? -total : total;
            }
            T* earlier = s_before;
            s_before = s_after;
            s_after = earlier;
        }
        if (initial_grads) {
            // g was last written before the last step's barrier (or at the
            // start, followed by one).
            T* o = initial_grads + b * row;
            if (scalar_term && threadIdx.x == 0) o[0] = T(0);
            for (long long f = threadIdx.x; f < SIG_LEN; f += BLOCK) o[skip + f] = g[f];
        }
        __syncthreads();  // the buffers are reused by the next path
    }
}

// The gradient of point p of the original path from the gradients of the
// transformed increments (the CPU's PathTransform::increment_backward,
// gathered per point): increment j adds its gradient to the point it ends
// at and subtracts it from the one it starts at. Time has no gradient.
template <typename T>
__device__ void incr_grads_to_path(const T* __restrict__ incr_grads, T* __restrict__ out, long long batch, int length,
                                   int dim, int lead_lag) {
    const long long steps = lead_lag ? 2LL * length - 2 : (long long)length - 1;
    const long long n = batch * length * dim;
    for (long long t = blockIdx.x * (long long)blockDim.x + threadIdx.x; t < n; t += (long long)gridDim.x * blockDim.x) {
        const int c = (int)(t % dim);
        const long long p = (t / dim) % length;
        const long long b = t / ((long long)dim * length);
        const T* gz = incr_grads + b * steps * D;
        T acc = T(0);
        if (lead_lag) {
            // Steps 2i (lead) and 2i + 1 (lag) move from point i to i + 1.
            if (p > 0) acc += gz[(2 * p - 2) * D + dim + c] + gz[(2 * p - 1) * D + c];
            if (p + 1 < length) acc -= gz[(2 * p) * D + dim + c] + gz[(2 * p + 1) * D + c];
        } else {
            if (p > 0) acc += gz[(p - 1) * D + c];
            if (p + 1 < length) acc -= gz[p * D + c];
        }
        out[t] = acc;
    }
}

}  // namespace sigrs_sig

// Registers are budgeted for the block the launcher uses (up to 1024
// threads when D > 256), so a launch never fails for want of them.
#ifndef SIGRS_EMULATE
#define SIGRS_BLOCK_BOUNDS __launch_bounds__(sigrs_sig::BLOCK)
#else
#define SIGRS_BLOCK_BOUNDS
#endif

#define SIGRS_SIGNATURE_KERNELS(T, SUFFIX)                                                                          \
    extern "C" __global__ void SIGRS_BLOCK_BOUNDS sig_forward_##SUFFIX(                                            \
        const T* paths, const T* initial, T* out, T* scratch, long long batch, int length, int dim, int time_aug,   \
        int lead_lag, T dt, int scalar_term, int stream, int inverse, int use_shared) {                             \
        sigrs_sig::sig_forward<T>(paths, initial, out, scratch, batch, length, dim, time_aug, lead_lag, dt,         \
                                  scalar_term, stream, inverse, use_shared);                                        \
    }                                                                                                               \
    extern "C" __global__ void SIGRS_BLOCK_BOUNDS sig_backward_##SUFFIX(                                           \
        const T* paths, const T* sigs, const T* sig_grads, T* incr_grads, T* initial_grads, T* scratch,             \
        long long batch, int length, int dim, int time_aug, int lead_lag, T dt, int scalar_term, int stream,        \
        int inverse, int use_shared) {                                                                              \
        sigrs_sig::sig_backward<T>(paths, sigs, sig_grads, incr_grads, initial_grads, scratch, batch, length, dim,  \
                                   time_aug, lead_lag, dt, scalar_term, stream, inverse, use_shared);               \
    }                                                                                                               \
    extern "C" __global__ void incr_grads_to_path_##SUFFIX(const T* incr_grads, T* out, long long batch,            \
                                                           int length, int dim, int lead_lag) {                     \
        sigrs_sig::incr_grads_to_path<T>(incr_grads, out, batch, length, dim, lead_lag);                            \
    }

SIGRS_SIGNATURE_KERNELS(double, f64)
SIGRS_SIGNATURE_KERNELS(float, f32)
