/* The spiking kernels, written once over a vector abstraction and compiled once per
 * instruction set by spike_kernels.c, which defines before including this file:
 *   NM(name)     the name with the ISA's suffix      NM_TARGET  the function attribute
 *   V, W         vector type, lanes                  NV         accumulator vectors per panel
 *   V_LOAD(p), V_STORE(p, v), V_SET1(x), V_ADD, V_SUB, V_MUL, V_DIV, V_ABS(v), V_GT01(a, b) (1 where a > b, else 0)
 * Per element every path does the same operations in the same order, so results are identical. */

/* Column panels of NV vectors keep a row's partial sums in registers while its events stream
 * past; columns beyond the last whole panel go one vector at a time, then one float at a time. */
static NM_TARGET void NM(events_forward)(const int32_t *idx, const int32_t *rs, long rows,
                                          const float *w, const float *bias, long n, float gain, float *out) {
    const V g = V_SET1(gain);
    long c0 = 0;
    for (; c0 + NV * W <= n; c0 += NV * W) {
        for (long r = 0; r < rows; r++) {
            V a[NV];
            for (int v = 0; v < NV; v++) a[v] = V_LOAD(bias + c0 + v * W);
            for (int32_t k = rs[r]; k < rs[r + 1]; k++) {
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

/* Rows in blocks of about 128 KiB of delta, so a block stays in L2 while every input's events
 * in it are summed; cursor[i] remembers where input i's rows continue. */
static NM_TARGET void NM(events_weight_gradient)(const int32_t *col_rows, const int32_t *col_start, long inputs,
                                                  const float *delta, long rows, long n, float *gw, int32_t *cursor) {
    long block = (128L * 1024) / (n * (long)sizeof(float));
    if (block < 16) block = 16;
    for (long i = 0; i < inputs * n; i++) gw[i] = 0;
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
                for (int32_t k = begin; k < stop; k++) {
                    const float *p = delta + (long)col_rows[k] * n + c0;
                    for (int v = 0; v < NV; v++) a[v] = V_ADD(a[v], V_LOAD(p + v * W));
                }
                for (int v = 0; v < NV; v++) V_STORE(row + c0 + v * W, a[v]);
            }
            for (; c0 + W <= n; c0 += W) {
                V a = V_LOAD(row + c0);
                for (int32_t k = begin; k < stop; k++) a = V_ADD(a, V_LOAD(delta + (long)col_rows[k] * n + c0));
                V_STORE(row + c0, a);
            }
            for (; c0 < n; c0++) {
                float a = row[c0];
                for (int32_t k = begin; k < stop; k++) a += delta[(long)col_rows[k] * n + c0];
                row[c0] = a;
            }
            cursor[i] = stop;
        }
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
