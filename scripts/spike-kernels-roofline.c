/* Roofline of the spiking input layer's kernels on one thread, beside OpenBLAS's dense GEMMs and
 * this core's measured peaks: 128 Fashion-MNIST images rate-coded over 25 steps (3200 rows x 784
 * inputs, ~29% of them spiking) into 256 hidden neurons, as in examples/snn-fashion-mnist.json.
 * Build and run (from the repository root):
 *   clang -O2 -ffp-contract=off -I Sources/CSpikeKernels/include scripts/spike-kernels-roofline.c \
 *      Sources/CSpikeKernels/spike_kernels.c Sources/CSpikeKernels/rate_code.c -lopenblas -lz -lm -o /tmp/spike-roofline && /tmp/spike-roofline [avx512|avx2|portable]
 * Event kernels are memory-bound: each event reads one 256-float row (1 KiB), so their ceiling is
 * the cache bandwidth that row comes from; dense GEMMs are compute-bound (FMA peak). */
#include "nm_spike_kernels.h"
#include <cblas.h>
#include <immintrin.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

enum { B = 128, T = 25, K = 784, N = 256, M = B * T, REPS = 20 };

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }

/* Read bandwidth of a buffer of `bytes` (summed with 16 vector accumulators), GB/s. */
__attribute__((target("avx512f"))) static double read_bw512(size_t bytes) {
    size_t n = bytes / 4; float *x = aligned_alloc(64, bytes); for (size_t i = 0; i < n; i++) x[i] = 1;
    __m512 a[16]; for (int v = 0; v < 16; v++) a[v] = _mm512_setzero_ps();
    long reps = (long)(4e9 / bytes); double t = now();
    for (long r = 0; r < reps; r++) for (size_t i = 0; i < n; i += 256) for (int v = 0; v < 16; v++) a[v] = _mm512_add_ps(a[v], _mm512_load_ps(x + i + 16 * v));
    double dt = now() - t; float s = 0; for (int v = 0; v < 16; v++) s += _mm512_reduce_add_ps(a[v]);
    free(x); if (s == 42) puts(""); return reps * (double)bytes / dt / 1e9;
}
__attribute__((target("avx2"))) static double read_bw256(size_t bytes) {
    size_t n = bytes / 4; float *x = aligned_alloc(64, bytes); for (size_t i = 0; i < n; i++) x[i] = 1;
    __m256 a[8]; for (int v = 0; v < 8; v++) a[v] = _mm256_setzero_ps();
    long reps = (long)(4e9 / bytes); double t = now();
    for (long r = 0; r < reps; r++) for (size_t i = 0; i < n; i += 64) for (int v = 0; v < 8; v++) a[v] = _mm256_add_ps(a[v], _mm256_load_ps(x + i + 8 * v));
    double dt = now() - t; float lanes[8], s = 0; for (int v = 0; v < 8; v++) { _mm256_storeu_ps(lanes, a[v]); for (int i = 0; i < 8; i++) s += lanes[i]; }
    free(x); if (s == 42) puts(""); return reps * (double)bytes / dt / 1e9;
}
/* FMA peak with 12 independent chains, GFLOP/s. */
__attribute__((target("avx512f"))) static double fma_peak512(void) {
    __m512 a[12], m = _mm512_set1_ps(0.999f), c = _mm512_set1_ps(1e-3f); for (int v = 0; v < 12; v++) a[v] = _mm512_set1_ps(v);
    long reps = 100000000; double t = now();
    for (long r = 0; r < reps; r++) for (int v = 0; v < 12; v++) a[v] = _mm512_fmadd_ps(a[v], m, c);
    double dt = now() - t; float s = 0; for (int v = 0; v < 12; v++) s += _mm512_reduce_add_ps(a[v]); if (s == 42) puts("");
    return reps * 12.0 * 32 / dt / 1e9;
}
__attribute__((target("avx2,fma"))) static double fma_peak256(void) {
    __m256 a[12], m = _mm256_set1_ps(0.999f), c = _mm256_set1_ps(1e-3f); for (int v = 0; v < 12; v++) a[v] = _mm256_set1_ps(v);
    long reps = 100000000; double t = now();
    for (long r = 0; r < reps; r++) for (int v = 0; v < 12; v++) a[v] = _mm256_fmadd_ps(a[v], m, c);
    double dt = now() - t; float lanes[8], s = 0; for (int v = 0; v < 12; v++) { _mm256_storeu_ps(lanes, a[v]); s += lanes[0]; } if (s == 42) puts("");
    return reps * 12.0 * 16 / dt / 1e9;
}

int main(int argc, char **argv) {
    openblas_set_num_threads(1);
    int isa = nm_spike_set_isa(argc > 1 ? (strcmp(argv[1], "portable") == 0 ? 0 : strcmp(argv[1], "avx2") == 0 ? 1 : 2) : -1);
    const char *isa_name = isa == 2 ? "avx512" : isa == 1 ? "avx2" : "portable";
    /* 128 training images, scaled to [0, 1]. */
    gzFile f = gzopen("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz", "rb");
    if (!f) { fprintf(stderr, "needs dataset-fashion-mnist\n"); return 1; }
    unsigned char head[16], *img = malloc(B * K); gzread(f, head, 16); gzread(f, img, B * K); gzclose(f);
    float *px = malloc(4 * B * K); for (int i = 0; i < B * K; i++) px[i] = img[i] / 255.0f;
    float *w = malloc(4 * K * N), *bias = calloc(N, 4), *cur = malloc(4 * M * N), *gw = malloc(4 * K * N), *dense = calloc((size_t)M * K, 4);
    float *d = malloc(4 * M * N);
    for (int i = 0; i < K * N; i++) w[i] = (rand() / (float)RAND_MAX - 0.5f) * 0.07f;
    for (int i = 0; i < M * N; i++) d[i] = (rand() / (float)RAND_MAX - 0.5f) * 1e-3f;
    int32_t *idx = malloc(4 * ((size_t)M * K + 16)), *rs = malloc(4 * (M + 1)), *cr = malloc(4 * ((size_t)M * K + 16)), *cs = malloc(4 * (K + 1));
    int32_t *on = malloc(4 * ((size_t)M * K + 16)), *ons = malloc(4 * (M + 1)), *off = malloc(4 * ((size_t)M * K + 16)), *offs = malloc(4 * (M + 1));
    uint64_t state[4] = {1, 2, 3, 4};
    long events = nm_rate_encode(px, B, K, T, state, idx, rs, on, ons, off, offs);
    long changes = ons[M] + offs[M];
    for (int r = 0; r < M; r++) for (int k = rs[r]; k < rs[r + 1]; k++) dense[(size_t)r * K + idx[k]] = 1;
    double density = (double)events / ((double)M * K);
    printf("isa %s; %d rows x %d inputs -> %d neurons; %ld input events (density %.3f), %ld changes from the step before\n", isa_name, M, K, N, events, density, changes);
    int wide = __builtin_cpu_supports("avx512f");
    double l1 = wide ? read_bw512(32 << 10) : read_bw256(32 << 10), l2 = wide ? read_bw512(512 << 10) : read_bw256(512 << 10);
    double l3 = wide ? read_bw512(8 << 20) : read_bw256(8 << 20), peak = wide ? fma_peak512() : fma_peak256();
    printf("peaks (measured): read L1 %.0f GB/s, L2 %.0f GB/s, L3 %.0f GB/s; FMA %.0f GFLOP/s\n", l1, l2, l3, peak);
    double dflop = 2.0 * M * N * K;   /* one dense 3200x784x256 product */
    for (int round = 0; round < 3; round++) {
        double t0 = now();
        for (int r = 0; r < REPS; r++) cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1, dense, K, w, N, 0, cur, N);
        double g_fwd = (now() - t0) / REPS; t0 = now();
        for (int r = 0; r < REPS; r++) cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, N, M, 1, dense, K, d, N, 0, gw, N);
        double g_dw = (now() - t0) / REPS; t0 = now();
        for (int r = 0; r < REPS; r++) nm_events_forward(idx, rs, M, w, bias, N, 1, cur);
        double e_fwd = (now() - t0) / REPS; t0 = now();
        for (int r = 0; r < REPS; r++) nm_events_forward_changes(idx, rs, on, ons, off, offs, T, B, w, bias, N, 1, cur);
        double c_fwd = (now() - t0) / REPS; t0 = now();
        for (int r = 0; r < REPS; r++) nm_events_transpose(idx, rs, M, K, cr, cs);
        double e_tr = (now() - t0) / REPS; t0 = now();
        for (int r = 0; r < REPS; r++) nm_events_weight_gradient(cr, cs, K, d, M, N, gw);
        double e_dw = (now() - t0) / REPS; t0 = now();
        float *prefix = malloc(4 * M * N);
        int32_t *pr = malloc(4 * ((size_t)M * K + 16)), *ps = malloc(4 * (K + 1)), *mr = malloc(4 * ((size_t)M * K + 16)), *ms = malloc(4 * (K + 1));
        for (int r = 0; r < REPS; r++) {
            nm_block_prefix_sums(d, T, B, N, prefix);
            nm_changes_transpose(idx, rs, on, ons, off, offs, T, B, K, pr, ps, mr, ms);
            nm_changes_weight_gradient(pr, ps, mr, ms, K, prefix, M, N, gw);
        }
        double c_dw = (now() - t0) / REPS;
        long rows_summed = ps[K] + ms[K];
        free(prefix); free(pr); free(ps); free(mr); free(ms);
        t0 = now();
        for (int r = 0; r < REPS; r++) nm_rate_encode(px, B, K, T, state, idx, rs, NULL, NULL, NULL, NULL);
        double enc = (now() - t0) / REPS; t0 = now();
        for (int r = 0; r < REPS; r++) nm_rate_encode(px, B, K, T, state, idx, rs, on, ons, off, offs);
        double enc2 = (now() - t0) / REPS;
        float *U = malloc(4 * M * N), *S = malloc(4 * M * N), *carry = malloc(4 * B * N), *beta = malloc(4 * N), *theta = malloc(4 * N);
        for (int i = 0; i < N; i++) { beta[i] = 0.95f; theta[i] = 1; }
        t0 = now();
        for (int r = 0; r < REPS; r++) nm_lif_forward(cur, U, S, T, B, N, beta, theta, 0, 0);
        double lf = (now() - t0) / REPS; t0 = now();
        for (int r = 0; r < REPS; r++) nm_lif_backward(d, U, S, cur, T, B, N, beta, theta, 0, 25, 0, carry);
        double lb = (now() - t0) / REPS;
        free(U); free(S); free(carry); free(beta); free(theta);
        double row_bytes = 4.0 * N;
        printf("round %d (ms per batch of %d):\n", round + 1, B);
        printf("  dense sgemm forward        %6.2f ms  %6.1f GFLOP/s (%.0f%% of FMA peak)\n", g_fwd * 1e3, dflop / g_fwd / 1e9, 100 * dflop / g_fwd / 1e9 / peak);
        printf("  dense sgemm weight grad    %6.2f ms  %6.1f GFLOP/s (%.0f%% of FMA peak)\n", g_dw * 1e3, dflop / g_dw / 1e9, 100 * dflop / g_dw / 1e9 / peak);
        printf("  events forward             %6.2f ms  %6.1f GB/s of weight rows (%.0f%% of L2 read), dense-equivalent %.0f GFLOP/s\n",
               e_fwd * 1e3, events * row_bytes / e_fwd / 1e9, 100 * events * row_bytes / e_fwd / 1e9 / l2, dflop / e_fwd / 1e9);
        long rows_read = changes + events * 1 / T;   /* changes, plus steps 0 (every 32nd) summed afresh */
        printf("  changes forward            %6.2f ms  %6.1f GB/s of weight rows (%.0f%% of L2 read), dense-equivalent %.0f GFLOP/s\n",
               c_fwd * 1e3, rows_read * row_bytes / c_fwd / 1e9, 100 * rows_read * row_bytes / c_fwd / 1e9 / l2, dflop / c_fwd / 1e9);
        printf("  events by input (transpose)%6.2f ms  %6.0f M events/s\n", e_tr * 1e3, events / e_tr / 1e6);
        printf("  events weight gradient     %6.2f ms  %6.1f GB/s of delta rows (%.0f%% of L2 read), dense-equivalent %.0f GFLOP/s\n",
               e_dw * 1e3, events * row_bytes / e_dw / 1e9, 100 * events * row_bytes / e_dw / 1e9 / l2, dflop / e_dw / 1e9);
        printf("  changes weight gradient    %6.2f ms  %6.1f GB/s of running-sum rows, with their sums and transpose (%.0f%% of L2 read)\n",
               c_dw * 1e3, rows_summed * row_bytes / c_dw / 1e9, 100 * rows_summed * row_bytes / c_dw / 1e9 / l2);
        printf("  rate coding                %6.2f ms  %6.2f ns per pixel-step (with changes %.2f ms)\n", enc * 1e3, enc / ((double)M * K) * 1e9, enc2 * 1e3);
        printf("  LIF forward / backward     %6.2f / %.2f ms  %.1f / %.1f GB/s streamed (3 / 4 arrays of %d floats)\n",
               lf * 1e3, lb * 1e3, 3.0 * M * N * 4 / lf / 1e9, 5.0 * M * N * 4 / lb / 1e9, M * N);
    }
    return 0;
}
