/* Rate coding (Bernoulli spikes) from eight parallel xoshiro256** lanes; see nm_rate_encode. */
#include "nm_spike_kernels.h"
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define NM_X86 1
#endif

#define LANES 8

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static inline uint64_t next(uint64_t s[4]) {
    const uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3]; s[2] ^= t; s[3] = rotl(s[3], 45);
    return result;
}

/* xoshiro256**'s jump: the state 2^128 draws ahead (Blackman & Vigna's reference constants). */
static void jump(uint64_t s[4]) {
    static const uint64_t J[4] = {0x180ec6d33cfd0abaULL, 0xd5a61266f0c9392cULL, 0xa9582618e03fc9aaULL, 0x39abdc4529b1661cULL};
    uint64_t t[4] = {0, 0, 0, 0};
    for (int i = 0; i < 4; i++) {
        for (int b = 0; b < 64; b++) {
            if (J[i] & ((uint64_t)1 << b)) { t[0] ^= s[0]; t[1] ^= s[1]; t[2] ^= s[2]; t[3] ^= s[3]; }
            next(s);
        }
    }
    memcpy(s, t, sizeof t);
}

/* lanes[w][i]: word w of lane i. */
static void seed_lanes(const uint64_t *state, uint64_t lanes[4][LANES]) {
    uint64_t s[4] = {state[0], state[1], state[2], state[3]};
    for (int i = 0; i < LANES; i++) {
        for (int w = 0; w < 4; w++) lanes[w][i] = s[w];
        jump(s);
    }
}

static const float unit = 0x1p-24f;

/* What every path shares: the encoder's outputs and where they stand. `prev` holds the sample's
 * spikes of the previous step, 16 pixels per word (NULL when no changes are asked for); `pack`
 * is the AVX2 path's table of set-bit positions for each 8-bit mask. */
typedef struct {
    int32_t *indices, *on, *off;
    uint16_t *prev;
    const int32_t (*pack)[8];
    long events, ons, offs;
} sink_t;

/* Each path encodes one row (one sample at one step) into the sink, advancing the lanes in L. */
typedef void (*row_encoder)(const float *row, long inputs, uint64_t L[4][LANES], sink_t *o);

static void row_portable(const float *row, long inputs, uint64_t L[4][LANES], sink_t *o) {
    int32_t *indices = o->indices;
    long events = o->events, ons = o->ons, offs = o->offs;
    for (long j0 = 0; j0 < inputs; j0 += 2 * LANES) {
        uint64_t r[LANES];
        for (int i = 0; i < LANES; i++) {
            uint64_t s[4] = {L[0][i], L[1][i], L[2][i], L[3][i]};
            r[i] = next(s);
            L[0][i] = s[0]; L[1][i] = s[1]; L[2][i] = s[2]; L[3][i] = s[3];
        }
        unsigned m = 0;
        for (int e = 0; e < 2 * LANES && j0 + e < inputs; e++) {
            const uint32_t bits = (uint32_t)(r[e / 2] >> (32 * (e % 2)));
            const int spike = (float)(int32_t)(bits >> 8) * unit < row[j0 + e];
            indices[events] = (int32_t)(j0 + e);
            events += spike;
            m |= (unsigned)spike << e;
        }
        if (o->prev) {
            uint16_t *prev = o->prev + j0 / 16;
            const unsigned on = m & ~(unsigned)*prev, off = *prev & ~m;
            for (int e = 0; e < 16; e++) {
                o->on[ons] = (int32_t)(j0 + e); ons += (on >> e) & 1;
                o->off[offs] = (int32_t)(j0 + e); offs += (off >> e) & 1;
            }
            *prev = (uint16_t)m;
        }
    }
    o->events = events; o->ons = ons; o->offs = offs;
}

#ifdef NM_X86
__attribute__((target("avx512f,popcnt")))
static void row_avx512(const float *row, long inputs, uint64_t L[4][LANES], sink_t *o) {
    __m512i s0 = _mm512_loadu_si512(L[0]), s1 = _mm512_loadu_si512(L[1]), s2 = _mm512_loadu_si512(L[2]), s3 = _mm512_loadu_si512(L[3]);
    const __m512i ids = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512 scale = _mm512_set1_ps(unit);
    int32_t *indices = o->indices;
    long events = o->events, ons = o->ons, offs = o->offs;
    for (long j0 = 0; j0 < inputs; j0 += 16) {
        const __m512i x = _mm512_rol_epi64(_mm512_add_epi64(s1, _mm512_slli_epi64(s1, 2)), 7);
        const __m512i r = _mm512_add_epi64(x, _mm512_slli_epi64(x, 3));
        const __m512i tt = _mm512_slli_epi64(s1, 17);
        s2 = _mm512_xor_si512(s2, s0); s3 = _mm512_xor_si512(s3, s1); s1 = _mm512_xor_si512(s1, s2);
        s0 = _mm512_xor_si512(s0, s3); s2 = _mm512_xor_si512(s2, tt); s3 = _mm512_rol_epi64(s3, 45);
        const __mmask16 valid = inputs - j0 >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (inputs - j0)) - 1);
        const __m512 u = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_srli_epi32(r, 8)), scale);
        const __mmask16 m = _mm512_mask_cmp_ps_mask(valid, u, _mm512_maskz_loadu_ps(valid, row + j0), _CMP_LT_OQ);
        const __m512i js = _mm512_add_epi32(_mm512_set1_epi32((int)j0), ids);
        _mm512_storeu_si512(indices + events, _mm512_maskz_compress_epi32(m, js));
        events += __builtin_popcount(m);
        if (o->prev) {
            uint16_t *prev = o->prev + j0 / 16;
            const __mmask16 on = m & (__mmask16)~*prev, off = (__mmask16)*prev & (__mmask16)~m;
            _mm512_storeu_si512(o->on + ons, _mm512_maskz_compress_epi32(on, js));
            _mm512_storeu_si512(o->off + offs, _mm512_maskz_compress_epi32(off, js));
            ons += __builtin_popcount(on);
            offs += __builtin_popcount(off);
            *prev = m;
        }
    }
    o->events = events; o->ons = ons; o->offs = offs;
    _mm512_storeu_si512(L[0], s0); _mm512_storeu_si512(L[1], s1); _mm512_storeu_si512(L[2], s2); _mm512_storeu_si512(L[3], s3);
}

#define ROTL256(x, k) _mm256_or_si256(_mm256_slli_epi64((x), (k)), _mm256_srli_epi64((x), 64 - (k)))

/* Writes the indices j0 + 8h + e of the set bits e of the 8-bit mask m at out, packed to the front. */
__attribute__((target("avx2,popcnt"), always_inline))
static inline void pack8(int32_t *out, long first, unsigned m, const int32_t (*pack)[8]) {
    const __m256i idx = _mm256_add_epi32(_mm256_set1_epi32((int)first), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    _mm256_storeu_si256((__m256i *)out, _mm256_permutevar8x32_epi32(idx, _mm256_loadu_si256((const __m256i *)pack[m])));
}

__attribute__((target("avx2,popcnt")))
static void row_avx2(const float *row, long inputs, uint64_t L[4][LANES], sink_t *o) {
    /* Lanes 0–3 in the first vector of each pair, 4–7 in the second: pixels 16g..16g+7, then 16g+8..16g+15. */
    __m256i s[4][2];
    for (int w = 0; w < 4; w++) { s[w][0] = _mm256_loadu_si256((const __m256i *)L[w]); s[w][1] = _mm256_loadu_si256((const __m256i *)(L[w] + 4)); }
    const __m256 scale = _mm256_set1_ps(unit);
    const int32_t (*pack)[8] = o->pack;
    int32_t *indices = o->indices;
    long events = o->events, ons = o->ons, offs = o->offs;
    float tail[16];
    for (long j0 = 0; j0 < inputs; j0 += 16) {
        const float *p = row + j0;
        unsigned m16 = 0;
        if (inputs - j0 < 16) {
            /* Missing pixels read as 0, which never spikes. */
            memset(tail, 0, sizeof tail);
            memcpy(tail, p, (size_t)(inputs - j0) * sizeof(float));
            p = tail;
        }
        for (int h = 0; h < 2; h++) {
            const __m256i x = ROTL256(_mm256_add_epi64(s[1][h], _mm256_slli_epi64(s[1][h], 2)), 7);
            const __m256i r = _mm256_add_epi64(x, _mm256_slli_epi64(x, 3));
            const __m256i tt = _mm256_slli_epi64(s[1][h], 17);
            s[2][h] = _mm256_xor_si256(s[2][h], s[0][h]); s[3][h] = _mm256_xor_si256(s[3][h], s[1][h]);
            s[1][h] = _mm256_xor_si256(s[1][h], s[2][h]); s[0][h] = _mm256_xor_si256(s[0][h], s[3][h]);
            s[2][h] = _mm256_xor_si256(s[2][h], tt); s[3][h] = ROTL256(s[3][h], 45);
            const __m256 u = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32(r, 8)), scale);
            const unsigned m = (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(u, _mm256_loadu_ps(p + 8 * h), _CMP_LT_OQ));
            pack8(indices + events, j0 + 8 * h, m, pack);
            events += __builtin_popcount(m);
            m16 |= m << (8 * h);
        }
        if (o->prev) {
            uint16_t *prev = o->prev + j0 / 16;
            const unsigned on = m16 & ~(unsigned)*prev, off = *prev & ~m16;
            for (int h = 0; h < 2; h++) {
                const unsigned a = (on >> (8 * h)) & 0xFF, z = (off >> (8 * h)) & 0xFF;
                pack8(o->on + ons, j0 + 8 * h, a, pack);
                pack8(o->off + offs, j0 + 8 * h, z, pack);
                ons += __builtin_popcount(a);
                offs += __builtin_popcount(z);
            }
            *prev = (uint16_t)m16;
        }
    }
    o->events = events; o->ons = ons; o->offs = offs;
    for (int w = 0; w < 4; w++) { _mm256_storeu_si256((__m256i *)L[w], s[w][0]); _mm256_storeu_si256((__m256i *)(L[w] + 4), s[w][1]); }
}
#endif

long nm_rate_encode(const float *pixels, long count, long inputs, long steps, const uint64_t *state,
                    int32_t *indices, int32_t *row_start,
                    int32_t *on, int32_t *on_start, int32_t *off, int32_t *off_start) {
    uint64_t lanes[4][LANES];
    seed_lanes(state, lanes);
    const long groups = (inputs + 15) / 16;
    uint16_t *prev = on ? calloc((size_t)(count * groups > 0 ? count * groups : 1), sizeof(uint16_t)) : NULL;
    /* For each 8-bit mask, the positions of its set bits, packed to the front (the AVX2 path's). */
    int32_t pack[256][8];
    for (int m = 0; m < 256; m++) {
        int k = 0;
        for (int e = 0; e < 8; e++) if (m & (1 << e)) pack[m][k++] = e;
        while (k < 8) pack[m][k++] = 0;
    }
    sink_t o = {indices, on, off, NULL, (const int32_t (*)[8])pack, 0, 0, 0};
    row_encoder encode_row = row_portable;
#ifdef NM_X86
    switch (nm_spike_isa()) {
    case 2: encode_row = row_avx512; break;
    case 1: encode_row = row_avx2; break;
    default: break;
    }
#endif
    for (long t = 0; t < steps; t++) {
        for (long b = 0; b < count; b++) {
            const long r = t * count + b;
            row_start[r] = (int32_t)o.events;
            if (on) { on_start[r] = (int32_t)o.ons; off_start[r] = (int32_t)o.offs; }
            o.prev = prev ? prev + b * groups : NULL;
            encode_row(pixels + b * inputs, inputs, lanes, &o);
        }
    }
    row_start[steps * count] = (int32_t)o.events;
    if (on) { on_start[steps * count] = (int32_t)o.ons; off_start[steps * count] = (int32_t)o.offs; }
    free(prev);
    return o.events;
}
