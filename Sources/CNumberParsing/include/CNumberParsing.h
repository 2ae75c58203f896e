#ifndef NEUROMOD_CNUMBERPARSING_H
#define NEUROMOD_CNUMBERPARSING_H
#include <stddef.h>
#include <stdint.h>

/// Reads a JSON array of numbers, `[n, n, …]`, starting at `bytes[*position]` (JSON whitespace
/// first is skipped) into `out` as floats. Each number is read exactly as Support's JSONParser
/// reads one (RFC 8259 grammar; at most 15 significant digits and no exponent: the integer of its
/// digits divided by a power of ten in double precision; otherwise strtod, refused when not
/// finite), then rounded to float.
///
/// Returns the count of numbers and moves `*position` past the closing bracket; -1 when the bytes
/// there are not such an array (nothing is moved: the caller's general parser says what is
/// wrong); -2 when it holds more than `capacity` numbers.
long nm_json_float_array(const uint8_t *bytes, size_t count, size_t *position, float *out, size_t capacity);
#endif
