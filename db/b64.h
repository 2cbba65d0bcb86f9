/*
 * b64.h: unpadded base64 as Matrix uses it (standard and URL-safe), over
 * libsodium's codec. Decoding accepts input with or without padding, and
 * (as Python's decoder does) non-zero unused bits in the last character.
 */
#ifndef MX_B64_H
#define MX_B64_H

#include <stddef.h>

/* Size of the buffer b64_encode needs for n bytes, NUL included. */
#define B64_ENCODED_SIZE(n) (((n) + 2) / 3 * 4 + 1)

/* Writes the unpadded encoding of bin into out (B64_ENCODED_SIZE(n) bytes). */
void b64_encode(const unsigned char *bin, size_t n, char *out);
void b64_encode_url(const unsigned char *bin, size_t n, char *out);

/* Decodes text into bin (capacity cap); returns the byte count or -1. */
long b64_decode(const char *text, size_t len, unsigned char *bin, size_t cap);
long b64_decode_url(const char *text, size_t len, unsigned char *bin, size_t cap);

#endif
