// Runs every mode of the emulated signature kernels once on small random
// paths, for ThreadSanitizer (tests/test_cuda_emulated.py builds it with
// -fsanitize=thread): the emulator's barriers are real, so a read or write
// that no barrier orders against another thread's is reported as a data
// race, even where it happened to give the right numbers. Prints "done".
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

extern "C" {
long long emu_sig_len();
long long emu_forward_len();
long long emu_backward_len();
void emu_sig_forward_f64(const double*, const double*, double*, double*, long long, int, int, int, int, double, int, int,
                         int, int, unsigned);
void emu_sig_backward_f64(const double*, const double*, const double*, double*, double*, double*, long long, int, int,
                          int, int, double, int, int, int, int, unsigned);
void emu_incr_grads_to_path_f64(const double*, double*, long long, int, int, int, unsigned, unsigned);
}

int main(int argc, char** argv) {
    // argv: dim time_aug lead_lag (the build's SIGRS_DIM must be the transformed dimension)
    if (argc != 4) return 2;
    const int dim = std::atoi(argv[1]), time_aug = std::atoi(argv[2]), lead_lag = std::atoi(argv[3]);
    const int batch = 3, length = 5;
    const int steps = lead_lag ? 2 * length - 2 : length - 1;
    const int d = (lead_lag ? 2 * dim : dim) + time_aug;
    const long long row = emu_sig_len() + 1;  // with the scalar term
    std::mt19937 rng(1);
    std::normal_distribution<double> normal;
    std::vector<double> path(batch * length * dim);
    for (auto& v : path) v = normal(rng);
    std::vector<double> scratch(2 * (emu_forward_len() + emu_backward_len()));
    std::vector<double> incr(batch * steps * d), grad(path.size());
    // (stream, initial, inverse), each with shared and with global working memory.
    const int modes[][3] = {{0, 0, 0}, {1, 0, 0}, {0, 1, 0}, {1, 1, 0}, {0, 0, 1}};
    for (const auto& mode : modes) {
        for (int shared = 0; shared < 2; ++shared) {
            const int stream = mode[0], inverse = mode[2];
            const int rows = stream ? length - 1 : 1;
            std::vector<double> initial(batch * row, 0.1), out(batch * rows * row), derivs(out.size(), 1.0);
            std::vector<double> d_initial(batch * row);
            const double* init = mode[1] ? initial.data() : nullptr;
            emu_sig_forward_f64(path.data(), init, out.data(), scratch.data(), batch, length, dim, time_aug, lead_lag,
                                0.1, 1, stream, inverse, shared, 2);
            emu_sig_backward_f64(path.data(), out.data(), derivs.data(), incr.data(),
                                 mode[1] ? d_initial.data() : nullptr, scratch.data(), batch, length, dim, time_aug,
                                 lead_lag, 0.1, 1, stream, inverse, shared, 2);
            emu_incr_grads_to_path_f64(incr.data(), grad.data(), batch, length, dim, lead_lag, 2, 8);
        }
    }
    std::printf("done\n");
    return 0;
}
