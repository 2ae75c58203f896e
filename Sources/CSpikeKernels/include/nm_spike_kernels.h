#ifndef NM_SPIKE_KERNELS_H
#define NM_SPIKE_KERNELS_H
#include <stdint.h>

/// Kernels of the spiking engine with run-time dispatch: AVX-512F, AVX2+FMA, or portable C,
/// chosen once from the CPU (override: NEUROMOD_ISA=avx512|avx2|portable). Every path does the
/// same floating-point operations in the same order per element (no FMA contraction), so the
/// three give bit-identical results.

/// The instruction set in use: 2 = AVX-512F, 1 = AVX2+FMA, 0 = portable.
int nm_spike_isa(void);
/// Forces an instruction set (at most what the CPU has); returns the one now in use.
int nm_spike_set_isa(int isa);

/// out[r, :] = (bias + Σ_{k ∈ events(r)} weights[indices[k], :]) · gain for every row r, where
/// events(r) = row_start[r] ..< row_start[r + 1]. weights: inputs × n, row-major.
void nm_events_forward(const int32_t *indices, const int32_t *row_start, long rows,
                       const float *weights, const float *bias, long n, float gain, float *out);

/// out[r, :] = Σ_j x[r, j] · weights[j, :] for every row r (x: rows × inputs, weights: inputs × n,
/// out: rows × n, all row-major), skipping the inputs that are zero: a small batch's product that
/// reads only the weight rows its inputs use (images' blank pixels, ReLU's silent units).
void nm_weighted_rows(const float *x, long rows, long inputs, const float *weights, long n, float *out);

/// The same events by input: col_rows[col_start[i] ..< col_start[i + 1]] are the rows in which
/// input i spiked, ascending. col_start has inputs + 1 entries; col_rows as many as events.
void nm_events_transpose(const int32_t *indices, const int32_t *row_start, long rows, long inputs,
                         int32_t *col_rows, int32_t *col_start);

/// grad_w[i, :] = Σ_{r ∈ rows(i)} delta[r, :] (overwritten; zero for inputs that never spiked).
/// delta: rows × n, row-major. Rows are taken in blocks that stay in cache.
void nm_events_weight_gradient(const int32_t *col_rows, const int32_t *col_start, long inputs,
                               const float *delta, long rows, long n, float *grad_w);

/// The weight gradient from rate coding's changes, by summation by parts over each block of 32
/// steps: with prefix = nm_block_prefix_sums(delta), Σ_t s[t]·delta[t] over a block equals
/// Σ prefix[t]·(s[t] − s[t+1]) plus prefix[last]·s[last]. So each input reads prefix rows only where
/// it starts or stops spiking (and at block ends), not at every step it spikes.
/// prefix[t·batch + b] = delta[t·batch + b] + (t % 32 != 0 ? prefix[(t−1)·batch + b] : 0).
void nm_block_prefix_sums(const float *delta, long steps, long batch, long n, float *prefix);
/// By input: the prefix rows added (plus) and subtracted (minus), ascending; *_start: inputs + 1
/// entries; plus_rows needs room for (changes that stop + events), minus_rows for changes that start.
void nm_changes_transpose(const int32_t *indices, const int32_t *row_start, const int32_t *on, const int32_t *on_start,
                          const int32_t *off, const int32_t *off_start, long steps, long batch, long inputs,
                          int32_t *plus_rows, int32_t *plus_start, int32_t *minus_rows, int32_t *minus_start);
/// grad_w[i, :] = Σ_{r ∈ plus(i)} prefix[r, :] − Σ_{r ∈ minus(i)} prefix[r, :] (overwritten).
void nm_changes_weight_gradient(const int32_t *plus_rows, const int32_t *plus_start, const int32_t *minus_rows, const int32_t *minus_start,
                                long inputs, const float *prefix, long rows, long n, float *grad_w);

/// out[c] += Σ_r x[r, c] (x: rows × n).
void nm_add_column_sums(const float *x, long rows, long n, float *out);

/// LIF over `steps` steps of `batch` rows of n neurons (time-major: row t·batch + b), fused:
/// u[t] = β·u[t−1] + I[t] − θ·s[t−1] (zero_reset: u[t] = β·u[t−1]·(1 − s[t−1]) + I[t]),
/// s[t] = u[t] > θ, θ = theta[c] + shift. Writes U and S; returns the number of spikes.
double nm_lif_forward(const float *current, float *membrane, float *spikes, long steps, long batch, long n,
                      const float *beta, const float *theta, float shift, int zero_reset);

/// Its BPTT with the fast-sigmoid surrogate 1 / (1 + slope·|u − θ|)², reset not differentiated:
/// du[t] = dS[t]·σ'(u[t]) + β·(1 − s[t] if zero_reset)·du[t+1]; grad_current[t] = du[t].
/// carry: batch × n scratch.
void nm_lif_backward(const float *grad_spikes, const float *membrane, const float *spikes, float *grad_current,
                     long steps, long batch, long n, const float *beta, const float *theta, float shift,
                     float slope, int zero_reset, float *carry);

/// Bernoulli rate coding from eight xoshiro256** generators: lane 0 starts at `state` (four
/// words), lane i at `state` jumped i times (2¹²⁸ draws apart, so the lanes never overlap). For each
/// step t, then each sample b, row t·count + b starts at the events so far; its pixels go in groups
/// of 16, each group one draw of every lane: pixel 16g + 2i takes the low 32 bits of lane i, pixel
/// 16g + 2i + 1 the high 32; with u = (bits >> 8)·2⁻²⁴ the pixel spikes when u < its value.
/// indices needs room for steps·count·inputs + 16; row_start for steps·count + 1. Returns the
/// number of events. The same on every instruction set.
/// When `on` is not NULL the same spikes are also written as changes from the sample's previous
/// step (step 0: from silence): `on` the inputs that start spiking, `off` those that stop, by row
/// like `indices` (same room; on_start and off_start like row_start).
long nm_rate_encode(const float *pixels, long count, long inputs, long steps, const uint64_t *state,
                    int32_t *indices, int32_t *row_start,
                    int32_t *on, int32_t *on_start, int32_t *off, int32_t *off_start);

/// nm_events_forward for rate-coded input given as changes (see nm_rate_encode): each sample's
/// current is carried from step to step, adding the weight rows of inputs that start spiking and
/// subtracting those that stop; every 32nd step (and step 0) it is summed afresh from the events,
/// so rounding cannot drift. Rows time-major: row t·batch + b. Fewer row reads when inputs change
/// less often than they spike (rates near 0 or 1).
void nm_events_forward_changes(const int32_t *indices, const int32_t *row_start,
                               const int32_t *on, const int32_t *on_start, const int32_t *off, const int32_t *off_start,
                               long steps, long batch, const float *weights, const float *bias, long n, float gain, float *out);

#endif
