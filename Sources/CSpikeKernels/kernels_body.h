/* The spiking kernels, written once over a vector abstraction and compiled once per
 * instruction set by spike_kernels.c, which defines before including this file:
 *   NM(name)     the name with the ISA's suffix      NM_TARGET  the function attribute
 *   V, W         vector type, lanes                  NV         accumulator vectors per panel
 *   V_LOAD(p), V_STORE(p, v), V_SET1(x), V_ADD, V_SUB, V_MUL, V_DIV, V_ABS(v), V_GT01(a, b) (1 where a > b, else 0)
 * Per element every path does the same operations in the same order, so results are identical. */

/* Rows an event reads come from L2 in no order the hardware prefetcher can guess: the panel of the
 * event NM_AHEAD places on is requested early (measured on Zen 5: +15% for the forward product). */
#ifndef NM_AHEAD
#define NM_AHEAD 4
#define NM_PREFETCH_PANEL(p) do { const char *q_ = (const char *)(p); \
    for (int l_ = 0; l_ < (NV * W * 4 + 63) / 64; l_++) __builtin_prefetch(q_ + 64 * l_); } while (0)
#endif

/* Column panels of NV vectors keep a row's partial sums in registers while its events stream
 * past; columns beyond the last whole panel go one vector at a time, then one float at a time. */
static NM_TARGET void NM(events_forward)(const int32_t *idx, const int32_t *rs, long rows,
                                          const float *w, const float *bias, long n, float gain, float *out) {
    const V g = V_SET1(gain);
    const int32_t total = rs[rows];
    long c0 = 0;
    for (; c0 + NV * W <= n; c0 += NV * W) {
        for (long r = 0; r < rows; r++) {
            V a[NV];
            for (int v = 0; v < NV; v++) a[v] = V_LOAD(bias + c0 + v * W);
            for (int32_t k = rs[r]; k < rs[r + 1]; k++) {
                if (k + NM_AHEAD < total) NM_PREFETCH_PANEL(w + (long)idx[k + NM_AHEAD] * n + c0);
                const float *p = w + (long)idx[k] * n + c0;
                for (int v = 0; v < NV; v++) a[v] = V_ADD(a[v], V_LOAD(p + v * W));
            }
            for (int v = 0; v < NV; v++) V_STORE(out + r * n + c0 + v * W, V_MUL(a[v], g));
        }
    }
    for (; c0 + W <= n; c0 += W) {
        for (long r = 0; r < rows; r++) {
            V a = V_LOAD(bias + c0);
            for (int32_t k = rs[r]; k < rs[r + 1]; k++) a = V_ADD(a, V_LOAD(w + (long)idx[k] * n + c0));
            V_STORE(out + r * n + c0, V_MUL(a, g));
        }
    }
    for (; c0 < n; c0++) {
        for (long r = 0; r < rows; r++) {
            float a = bias[c0];
            for (int32_t k = rs[r]; k < rs[r + 1]; k++) a += w[(long)idx[k] * n + c0];
            out[r * n + c0] = a * gain;
        }
    }
}

/* out[r, :] = Σ_j x[r, j]·w[j, :] over the inputs that are not zero, j ascending, each term a
 * product then a sum (so every instruction set rounds alike). Panels as in events_forward; the
 * columns past the last whole vector go input by input over the row's own tail. */
static NM_TARGET void NM(weighted_rows)(const float *x, long rows, long inputs, const float *w, long n, float *out) {
    long c0 = 0;
    for (; c0 + NV * W <= n; c0 += NV * W) {
        for (long r = 0; r < rows; r++) {
            const float *xr = x + r * inputs;
            V a[NV];
            for (int v = 0; v < NV; v++) a[v] = V_SET1(0.0f);
            for (long j = 0; j < inputs; j++) {
                if (xr[j] == 0.0f) continue;
                const V s = V_SET1(xr[j]);
                const float *p = w + j * n + c0;
                for (int v = 0; v < NV; v++) a[v] = V_ADD(a[v], V_MUL(V_LOAD(p + v * W), s));
            }
            for (int v = 0; v < NV; v++) V_STORE(out + r * n + c0 + v * W, a[v]);
        }
    }
    for (; c0 + W <= n; c0 += W) {
        for (long r = 0; r < rows; r++) {
            const float *xr = x + r * inputs;
            V a = V_SET1(0.0f);
            for (long j = 0; j < inputs; j++) {
                if (xr[j] == 0.0f) continue;
                a = V_ADD(a, V_MUL(V_LOAD(w + j * n + c0), V_SET1(xr[j])));
            }
            V_STORE(out + r * n + c0, a);
        }
    }
    if (c0 < n) {
        for (long r = 0; r < rows; r++) {
            const float *xr = x + r * inputs;
            float *o = out + r * n;
            for (long c = c0; c < n; c++) o[c] = 0.0f;
            for (long j = 0; j < inputs; j++) {
                const float s = xr[j];
                if (s == 0.0f) continue;
                const float *p = w + j * n;
                for (long c = c0; c < n; c++) o[c] = o[c] + p[c] * s;
            }
        }
    }
}

/* Adds (sign +1) or subtracts the panel of each listed weight row; `next` is the list processed
 * after this one, so prefetches run on across the boundary. */
#define NM_CHANGE_LIST(list, len, next, next_len, OP) do { \
    for (int32_t k_ = 0; k_ < (len); k_++) { \
        const int32_t j_ = k_ + NM_AHEAD; \
        if (j_ < (len)) NM_PREFETCH_PANEL(w + (long)(list)[j_] * n + c0); \
        else if (j_ - (len) < (next_len)) NM_PREFETCH_PANEL(w + (long)(next)[j_ - (len)] * n + c0); \
        const float *p_ = w + (long)(list)[k_] * n + c0; \
        for (int v = 0; v < NV; v++) a[v] = OP(a[v], V_LOAD(p_ + v * W)); \
    } } while (0)

/* The list read after row r's (of sample b at step t): the next step's changes, or its events
 * when that step is summed afresh, or the next sample's first events; none after the last. */
#define NM_NEXT_LIST(nl, nlen) \
    const int32_t *nl = idx; int32_t nlen = 0; \
    if (t + 1 < steps && (t + 1) % 32 != 0) { nl = on + ons[r + batch]; nlen = ons[r + batch + 1] - ons[r + batch]; } \
    else if (t + 1 < steps) { nl = idx + rs[r + batch]; nlen = rs[r + batch + 1] - rs[r + batch]; } \
    else if (b + 1 < batch) { nl = idx + rs[b + 1]; nlen = rs[b + 2] - rs[b + 1]; }

static NM_TARGET void NM(events_forward_changes)(const int32_t *idx, const int32_t *rs,
                                                  const int32_t *on, const int32_t *ons, const int32_t *off, const int32_t *offs,
                                                  long steps, long batch, const float *w, const float *bias, long n, float gain, float *out) {
    const V g = V_SET1(gain);
    long c0 = 0;
    for (; c0 + NV * W <= n; c0 += NV * W) {
        for (long b = 0; b < batch; b++) {
            V a[NV];
            for (long t = 0; t < steps; t++) {
                const long r = t * batch + b;
                NM_NEXT_LIST(nl, nlen)
                if (t % 32 == 0) {
                    for (int v = 0; v < NV; v++) a[v] = V_LOAD(bias + c0 + v * W);
                    NM_CHANGE_LIST(idx + rs[r], rs[r + 1] - rs[r], nl, nlen, V_ADD);
                } else {
                    NM_CHANGE_LIST(on + ons[r], ons[r + 1] - ons[r], off + offs[r], offs[r + 1] - offs[r], V_ADD);
                    NM_CHANGE_LIST(off + offs[r], offs[r + 1] - offs[r], nl, nlen, V_SUB);
                }
                for (int v = 0; v < NV; v++) V_STORE(out + r * n + c0 + v * W, V_MUL(a[v], g));
            }
        }
    }
    /* Columns past the last whole panel, one at a time, by the same recurrence. */
    for (; c0 < n; c0++) {
        for (long b = 0; b < batch; b++) {
            float a = 0;
            for (long t = 0; t < steps; t++) {
                const long r = t * batch + b;
                if (t % 32 == 0) {
                    a = bias[c0];
                    for (int32_t k = rs[r]; k < rs[r + 1]; k++) a += w[(long)idx[k] * n + c0];
                } else {
                    for (int32_t k = ons[r]; k < ons[r + 1]; k++) a += w[(long)on[k] * n + c0];
                    for (int32_t k = offs[r]; k < offs[r + 1]; k++) a -= w[(long)off[k] * n + c0];
                }
                out[r * n + c0] = a * gain;
            }
        }
    }
}

/* grad_w[i, :] (+)= Σ or −Σ over input i's listed rows of delta. Rows in blocks of about 256 KiB
 * of delta, so a block stays in L2 while every input's rows in it are summed; cursor[i]
 * remembers where input i's rows continue. */
#define NM_GATHER_ROWS(OP) do { \
    for (int32_t k = begin; k < stop; k++) { \
        if (k + NM_AHEAD < stop) NM_PREFETCH_PANEL(delta + (long)col_rows[k + NM_AHEAD] * n + c0); \
        const float *p = delta + (long)col_rows[k] * n + c0; \
        for (int v = 0; v < NV; v++) a[v] = OP(a[v], V_LOAD(p + v * W)); \
    } } while (0)

static NM_TARGET void NM(events_weight_gradient)(const int32_t *col_rows, const int32_t *col_start, long inputs,
                                                  const float *delta, long rows, long n, float *gw, int32_t *cursor,
                                                  int subtract, int accumulate) {
    long block = (256L * 1024) / (n * (long)sizeof(float));
    if (block < 16) block = 16;
    if (!accumulate) for (long i = 0; i < inputs * n; i++) gw[i] = 0;
    for (long i = 0; i < inputs; i++) cursor[i] = col_start[i];
    for (long r0 = 0; r0 < rows; r0 += block) {
        const long r1 = r0 + block;
        for (long i = 0; i < inputs; i++) {
            const int32_t begin = cursor[i], end = col_start[i + 1];
            if (begin == end || col_rows[begin] >= r1) continue;
            int32_t stop = begin;
            while (stop < end && col_rows[stop] < r1) stop++;
            float *row = gw + i * n;
            long c0 = 0;
            for (; c0 + NV * W <= n; c0 += NV * W) {
                V a[NV];
                for (int v = 0; v < NV; v++) a[v] = V_LOAD(row + c0 + v * W);
                if (subtract) NM_GATHER_ROWS(V_SUB); else NM_GATHER_ROWS(V_ADD);
                for (int v = 0; v < NV; v++) V_STORE(row + c0 + v * W, a[v]);
            }
            for (; c0 + W <= n; c0 += W) {
                V a = V_LOAD(row + c0);
                for (int32_t k = begin; k < stop; k++) {
                    const V x = V_LOAD(delta + (long)col_rows[k] * n + c0);
                    a = subtract ? V_SUB(a, x) : V_ADD(a, x);
                }
                V_STORE(row + c0, a);
            }
            for (; c0 < n; c0++) {
                float a = row[c0];
                for (int32_t k = begin; k < stop; k++) {
                    const float x = delta[(long)col_rows[k] * n + c0];
                    a = subtract ? a - x : a + x;
                }
                row[c0] = a;
            }
            cursor[i] = stop;
        }
    }
}

/* Per sample, running sums of delta over each block of 32 steps (restarting at every 32nd step). */
static NM_TARGET void NM(block_prefix_sums)(const float *delta, long steps, long batch, long n, float *prefix) {
    for (long t = 0; t < steps; t++) {
        const long row = t * batch * n;
        if (t % 32 == 0) {
            for (long i = 0; i < batch * n; i++) prefix[row + i] = delta[row + i];
            continue;
        }
        long i = 0;
        for (; i + W <= batch * n; i += W) V_STORE(prefix + row + i, V_ADD(V_LOAD(prefix + row - batch * n + i), V_LOAD(delta + row + i)));
        for (; i < batch * n; i++) prefix[row + i] = prefix[row - batch * n + i] + delta[row + i];
    }
}

static NM_TARGET void NM(add_column_sums)(const float *x, long rows, long n, float *out) {
    long c0 = 0;
    for (; c0 + W <= n; c0 += W) {
        V a = V_LOAD(out + c0);
        for (long r = 0; r < rows; r++) a = V_ADD(a, V_LOAD(x + r * n + c0));
        V_STORE(out + c0, a);
    }
    for (; c0 < n; c0++) {
        float a = out[c0];
        for (long r = 0; r < rows; r++) a += x[r * n + c0];
        out[c0] = a;
    }
}

static NM_TARGET double NM(lif_forward)(const float *I, float *U, float *S, long steps, long batch, long n,
                                         const float *beta, const float *theta, float shift, int zero_reset) {
    const V one = V_SET1(1), sh = V_SET1(shift);
    V count = V_SET1(0);
    float tail = 0;
    for (long t = 0; t < steps; t++) {
        for (long b = 0; b < batch; b++) {
            const long o = (t * batch + b) * n, prev = o - batch * n;
            long c = 0;
            for (; c + W <= n; c += W) {
                const V th = V_ADD(V_LOAD(theta + c), sh);
                V u = V_LOAD(I + o + c);
                if (t > 0) {
                    const V be = V_LOAD(beta + c), pu = V_LOAD(U + prev + c), ps = V_LOAD(S + prev + c);
                    u = zero_reset ? V_ADD(u, V_MUL(V_MUL(be, pu), V_SUB(one, ps)))
                                   : V_ADD(u, V_SUB(V_MUL(be, pu), V_MUL(th, ps)));
                }
                const V s = V_GT01(u, th);
                V_STORE(U + o + c, u);
                V_STORE(S + o + c, s);
                count = V_ADD(count, s);
            }
            for (; c < n; c++) {
                const float th = theta[c] + shift;
                float u = I[o + c];
                if (t > 0) u += zero_reset ? beta[c] * U[prev + c] * (1 - S[prev + c]) : beta[c] * U[prev + c] - th * S[prev + c];
                U[o + c] = u;
                S[o + c] = u > th ? 1.0f : 0.0f;
                tail += S[o + c];
            }
        }
    }
    float lanes[W];
    V_STORE(lanes, count);
    double total = tail;
    for (int i = 0; i < W; i++) total += lanes[i];
    return total;
}

static NM_TARGET void NM(lif_backward)(const float *dS, const float *U, const float *S, float *dI,
                                        long steps, long batch, long n, const float *beta, const float *theta, float shift,
                                        float slope, int zero_reset, float *carry) {
    const V one = V_SET1(1), sh = V_SET1(shift), k = V_SET1(slope);
    for (long i = 0; i < batch * n; i++) carry[i] = 0;
    for (long t = steps - 1; t >= 0; t--) {
        for (long b = 0; b < batch; b++) {
            const long o = (t * batch + b) * n;
            float *du = carry + b * n;
            long c = 0;
            for (; c + W <= n; c += W) {
                const V be = V_LOAD(beta + c);
                const V x = V_SUB(V_LOAD(U + o + c), V_ADD(V_LOAD(theta + c), sh));
                const V denom = V_ADD(one, V_MUL(k, V_ABS(x)));
                const V g = V_DIV(V_LOAD(dS + o + c), V_MUL(denom, denom));
                const V cr = zero_reset ? V_MUL(be, V_SUB(one, V_LOAD(S + o + c))) : be;
                const V total = V_ADD(g, V_MUL(cr, V_LOAD(du + c)));
                V_STORE(du + c, total);
                V_STORE(dI + o + c, total);
            }
            for (; c < n; c++) {
                const float x = U[o + c] - (theta[c] + shift);
                const float denom = 1 + slope * fabsf(x);
                const float g = dS[o + c] / (denom * denom);
                const float cr = zero_reset ? beta[c] * (1 - S[o + c]) : beta[c];
                const float total = g + cr * du[c];
                du[c] = total;
                dI[o + c] = total;
            }
        }
    }
}
