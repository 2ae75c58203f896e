#include "CNumberParsing.h"
#include <math.h>
#include <stdlib.h>

static const double powers_of_ten[16] = {
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
};

static inline int is_space(uint8_t c) { return c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09; }
static inline int is_digit(uint8_t c) { return c >= '0' && c <= '9'; }

/// One JSON number at bytes[*i]; 0 and *value set, or -1.
static int read_number(const uint8_t *bytes, size_t count, size_t *i_io, double *value) {
    size_t i = *i_io;
    const size_t start = i;
    int negative = 0;
    if (i < count && bytes[i] == '-') { negative = 1; i++; }
    if (i >= count) return -1;
    const size_t int_start = i;
    uint64_t m = 0;
    if (bytes[i] == '0') {
        i++;
    } else {
        if (!is_digit(bytes[i])) return -1;
        while (i < count && is_digit(bytes[i])) { m = m * 10 + (uint64_t)(bytes[i] - '0'); i++; }
    }
    const size_t int_digits = i - int_start;
    size_t fraction_digits = 0;
    if (i < count && bytes[i] == '.') {
        i++;
        const size_t f = i;
        while (i < count && is_digit(bytes[i])) { m = m * 10 + (uint64_t)(bytes[i] - '0'); i++; }
        fraction_digits = i - f;
        if (fraction_digits == 0) return -1;
    }
    const int has_exponent = i < count && (bytes[i] | 0x20) == 'e';
    if (!has_exponent && int_digits + fraction_digits <= 15) {
        // m holds every digit (a leading "0" adds nothing) and is below 10^15 < 2^53: exact.
        const double v = (double)m / powers_of_ten[fraction_digits];
        *value = negative ? -v : v;
        *i_io = i;
        return 0;
    }
    if (has_exponent) {
        i++;
        if (i < count && (bytes[i] == '+' || bytes[i] == '-')) i++;
        const size_t e = i;
        while (i < count && is_digit(bytes[i])) i++;
        if (i == e) return -1;
    }
    const size_t n = i - start;
    if (n == 0 || n >= 512) return -1;
    char lexeme[512];
    for (size_t k = 0; k < n; k++) lexeme[k] = (char)bytes[start + k];
    lexeme[n] = 0;
    const double d = strtod(lexeme, NULL);
    if (!isfinite(d)) return -1;
    *value = d;
    *i_io = i;
    return 0;
}

long nm_json_float_array(const uint8_t *bytes, size_t count, size_t *position, float *out, size_t capacity) {
    size_t i = *position;
    while (i < count && is_space(bytes[i])) i++;
    if (i >= count || bytes[i] != '[') return -1;
    i++;
    while (i < count && is_space(bytes[i])) i++;
    if (i < count && bytes[i] == ']') { *position = i + 1; return 0; }
    size_t n = 0;
    for (;;) {
        double d;
        if (read_number(bytes, count, &i, &d) != 0) return -1;
        if (n == capacity) return -2;
        out[n++] = (float)d;
        while (i < count && is_space(bytes[i])) i++;
        if (i >= count) return -1;
        if (bytes[i] == ',') {
            i++;
            while (i < count && is_space(bytes[i])) i++;
            continue;
        }
        if (bytes[i] != ']') return -1;
        *position = i + 1;
        return (long)n;
    }
}
