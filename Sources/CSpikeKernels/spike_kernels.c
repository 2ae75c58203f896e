#include "nm_spike_kernels.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define NM_X86 1
#endif

/* ---- portable C: one float per "vector" (compilers still vectorise what they can) ---- */
#define NM(name) name##_portable
#define NM_TARGET
#define V float
#define W 1
#define NV 16
#define V_LOAD(p) (*(p))
#define V_STORE(p, v) (*(p) = (v))
#define V_SET1(x) ((float)(x))
#define V_ADD(a, b) ((a) + (b))
#define V_SUB(a, b) ((a) - (b))
#define V_MUL(a, b) ((a) * (b))
#define V_DIV(a, b) ((a) / (b))
#define V_ABS(a) fabsf(a)
#define V_GT01(a, b) ((a) > (b) ? 1.0f : 0.0f)
#include "kernels_body.h"
#include "kernels_end.h"

#ifdef NM_X86
/* ---- AVX2 + FMA: 8 floats per vector, 8 accumulators (64 columns) per panel ---- */
#define NM(name) name##_avx2
#define NM_TARGET __attribute__((target("avx2,fma")))
#define V __m256
#define W 8
#define NV 8
#define V_LOAD(p) _mm256_loadu_ps(p)
#define V_STORE(p, v) _mm256_storeu_ps((p), (v))
#define V_SET1(x) _mm256_set1_ps(x)
#define V_ADD _mm256_add_ps
#define V_SUB _mm256_sub_ps
#define V_MUL _mm256_mul_ps
#define V_DIV _mm256_div_ps
#define V_ABS(a) _mm256_andnot_ps(_mm256_set1_ps(-0.0f), (a))
#define V_GT01(a, b) _mm256_and_ps(_mm256_cmp_ps((a), (b), _CMP_GT_OQ), _mm256_set1_ps(1.0f))
#include "kernels_body.h"
#include "kernels_end.h"

/* ---- AVX-512F: 16 floats per vector, 16 accumulators (256 columns) per panel ---- */
#define NM(name) name##_avx512
#define NM_TARGET __attribute__((target("avx512f")))
#define V __m512
#define W 16
#define NV 16
#define V_LOAD(p) _mm512_loadu_ps(p)
#define V_STORE(p, v) _mm512_storeu_ps((p), (v))
#define V_SET1(x) _mm512_set1_ps(x)
#define V_ADD _mm512_add_ps
#define V_SUB _mm512_sub_ps
#define V_MUL _mm512_mul_ps
#define V_DIV _mm512_div_ps
#define V_ABS(a) _mm512_abs_ps(a)
#define V_GT01(a, b) _mm512_maskz_mov_ps(_mm512_cmp_ps_mask((a), (b), _CMP_GT_OQ), _mm512_set1_ps(1.0f))
#include "kernels_body.h"
#endif

/* ---- dispatch ---- */
static int nm_isa = -1;

static int nm_cpu_isa(void) {
#ifdef NM_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return 2;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 1;
#endif
    return 0;
}

int nm_spike_set_isa(int isa) {
    const int best = nm_cpu_isa();
    const int chosen = isa < 0 ? best : (isa < best ? isa : best);
    __atomic_store_n(&nm_isa, chosen, __ATOMIC_RELAXED);
    return chosen;
}

int nm_spike_isa(void) {
    int isa = __atomic_load_n(&nm_isa, __ATOMIC_RELAXED);
    if (isa >= 0) return isa;
    const char *want = getenv("NEUROMOD_ISA");
    int asked = -1;
    if (want && strcmp(want, "avx512") == 0) asked = 2;
    else if (want && strcmp(want, "avx2") == 0) asked = 1;
    else if (want && strcmp(want, "portable") == 0) asked = 0;
    return nm_spike_set_isa(asked);
}

#ifdef NM_X86
#define DISPATCH_VOID(name, args) do { switch (nm_spike_isa()) { case 2: name##_avx512 args; break; case 1: name##_avx2 args; break; default: name##_portable args; } } while (0)
#define DISPATCH_RETURN(name, args) do { switch (nm_spike_isa()) { case 2: return name##_avx512 args; case 1: return name##_avx2 args; default: return name##_portable args; } } while (0)
#else
#define DISPATCH_RETURN(name, args) return name##_portable args
#define DISPATCH_VOID(name, args) name##_portable args
#endif

void nm_events_forward(const int32_t *indices, const int32_t *row_start, long rows,
                       const float *weights, const float *bias, long n, float gain, float *out) {
    DISPATCH_VOID(events_forward, (indices, row_start, rows, weights, bias, n, gain, out));
}

void nm_weighted_rows(const float *x, long rows, long inputs, const float *weights, long n, float *out) {
    DISPATCH_VOID(weighted_rows, (x, rows, inputs, weights, n, out));
}

void nm_events_forward_changes(const int32_t *indices, const int32_t *row_start,
                               const int32_t *on, const int32_t *on_start, const int32_t *off, const int32_t *off_start,
                               long steps, long batch, const float *weights, const float *bias, long n, float gain, float *out) {
    DISPATCH_VOID(events_forward_changes, (indices, row_start, on, on_start, off, off_start, steps, batch, weights, bias, n, gain, out));
}

void nm_events_transpose(const int32_t *indices, const int32_t *row_start, long rows, long inputs,
                         int32_t *col_rows, int32_t *col_start) {
    memset(col_start, 0, (size_t)(inputs + 1) * sizeof(int32_t));
    const int32_t events = row_start[rows];
    for (int32_t k = 0; k < events; k++) col_start[indices[k] + 1]++;
    for (long i = 0; i < inputs; i++) col_start[i + 1] += col_start[i];
    int32_t *next = malloc((size_t)(inputs > 0 ? inputs : 1) * sizeof(int32_t));
    memcpy(next, col_start, (size_t)inputs * sizeof(int32_t));
    for (long r = 0; r < rows; r++) {
        for (int32_t k = row_start[r]; k < row_start[r + 1]; k++) col_rows[next[indices[k]]++] = (int32_t)r;
    }
    free(next);
}

void nm_events_weight_gradient(const int32_t *col_rows, const int32_t *col_start, long inputs,
                               const float *delta, long rows, long n, float *grad_w) {
    int32_t *cursor = malloc((size_t)(inputs > 0 ? inputs : 1) * sizeof(int32_t));
    DISPATCH_VOID(events_weight_gradient, (col_rows, col_start, inputs, delta, rows, n, grad_w, cursor, 0, 0));
    free(cursor);
}

void nm_add_column_sums(const float *x, long rows, long n, float *out) {
    DISPATCH_VOID(add_column_sums, (x, rows, n, out));
}

double nm_lif_forward(const float *current, float *membrane, float *spikes, long steps, long batch, long n,
                      const float *beta, const float *theta, float shift, int zero_reset) {
    DISPATCH_RETURN(lif_forward, (current, membrane, spikes, steps, batch, n, beta, theta, shift, zero_reset));
}

void nm_lif_backward(const float *grad_spikes, const float *membrane, const float *spikes, float *grad_current,
                     long steps, long batch, long n, const float *beta, const float *theta, float shift,
                     float slope, int zero_reset, float *carry) {
    DISPATCH_VOID(lif_backward, (grad_spikes, membrane, spikes, grad_current, steps, batch, n, beta, theta, shift, slope, zero_reset, carry));
}


void nm_block_prefix_sums(const float *delta, long steps, long batch, long n, float *prefix) {
    DISPATCH_VOID(block_prefix_sums, (delta, steps, batch, n, prefix));
}

/* Counts (pass 0) or places (pass 1) the rows of `prefix` each input's weight gradient reads, in
 * ascending order of the row read: for row p = (t, b), the changes of step t + 1 when it is in the
 * same 32-step block (stops read +p, starts −p), else this step's events (+p: the block ends). */
static void place_changes(int pass, const int32_t *idx, const int32_t *rs, const int32_t *on, const int32_t *ons,
                          const int32_t *off, const int32_t *offs, long steps, long batch,
                          int32_t *plus_rows, int32_t *plus_at, int32_t *minus_rows, int32_t *minus_at) {
    for (long t = 0; t < steps; t++) {
        const int inside = t + 1 < steps && (t + 1) % 32 != 0;
        for (long b = 0; b < batch; b++) {
            const long p = t * batch + b, q = p + batch;
            const int32_t *plus = inside ? off + offs[q] : idx + rs[p];
            const int32_t plus_len = inside ? offs[q + 1] - offs[q] : rs[p + 1] - rs[p];
            for (int32_t k = 0; k < plus_len; k++) { if (pass) plus_rows[plus_at[plus[k]]++] = (int32_t)p; else plus_at[plus[k] + 1]++; }
            if (!inside) continue;
            for (int32_t k = ons[q]; k < ons[q + 1]; k++) { if (pass) minus_rows[minus_at[on[k]]++] = (int32_t)p; else minus_at[on[k] + 1]++; }
        }
    }
}

void nm_changes_transpose(const int32_t *indices, const int32_t *row_start, const int32_t *on, const int32_t *on_start,
                          const int32_t *off, const int32_t *off_start, long steps, long batch, long inputs,
                          int32_t *plus_rows, int32_t *plus_start, int32_t *minus_rows, int32_t *minus_start) {
    memset(plus_start, 0, (size_t)(inputs + 1) * sizeof(int32_t));
    memset(minus_start, 0, (size_t)(inputs + 1) * sizeof(int32_t));
    place_changes(0, indices, row_start, on, on_start, off, off_start, steps, batch, NULL, plus_start, NULL, minus_start);
    for (long i = 0; i < inputs; i++) { plus_start[i + 1] += plus_start[i]; minus_start[i + 1] += minus_start[i]; }
    int32_t *plus_at = malloc((size_t)(inputs + 1) * sizeof(int32_t)), *minus_at = malloc((size_t)(inputs + 1) * sizeof(int32_t));
    memcpy(plus_at, plus_start, (size_t)(inputs + 1) * sizeof(int32_t));
    memcpy(minus_at, minus_start, (size_t)(inputs + 1) * sizeof(int32_t));
    place_changes(1, indices, row_start, on, on_start, off, off_start, steps, batch, plus_rows, plus_at, minus_rows, minus_at);
    free(plus_at);
    free(minus_at);
}

void nm_changes_weight_gradient(const int32_t *plus_rows, const int32_t *plus_start, const int32_t *minus_rows, const int32_t *minus_start,
                                long inputs, const float *prefix, long rows, long n, float *grad_w) {
    int32_t *cursor = malloc((size_t)(inputs > 0 ? inputs : 1) * sizeof(int32_t));
    DISPATCH_VOID(events_weight_gradient, (plus_rows, plus_start, inputs, prefix, rows, n, grad_w, cursor, 0, 0));
    DISPATCH_VOID(events_weight_gradient, (minus_rows, minus_start, inputs, prefix, rows, n, grad_w, cursor, 1, 1));
    free(cursor);
}
