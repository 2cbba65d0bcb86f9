/*
 * cjson.h: Matrix canonical JSON (spec appendices, "Canonical JSON").
 * Parsing is strict: jansson with JSON_REJECT_DUPLICATES plus our own checks
 * (no floats, no exponents, no -0, integers within +-(2^53-1), valid UTF-8,
 * no lone surrogates). The writer is ours: keys sorted by code point, no
 * whitespace, raw UTF-8, only the escapes the spec allows.
 */
#ifndef MX_CJSON_H
#define MX_CJSON_H

#include <stddef.h>
#include <jansson.h>

#include "err.h"

#define CJ_MAX_INT 9007199254740991LL /* 2^53 - 1 */

/* Parses text (len bytes, need not be NUL-terminated) into a new reference.
 * Fails with MXDB_ENOTJSON for syntax errors and MXDB_EBADJSON for JSON that
 * Matrix forbids (floats, -0, big integers, duplicate keys, bad Unicode). */
mxdb_status cj_parse(const char *text, size_t len, json_t **out, mxdb_error *err);

/* Checks a jansson value built in memory against the same rules: no reals,
 * integers within +-(2^53-1), strings and keys valid UTF-8 without U+0000
 * (jansson's *_nocheck setters skip those). The writer itself refuses reals
 * and out-of-range integers, so this is for values from untrusted code. */
mxdb_status cj_check(const json_t *v, mxdb_error *err);

/* Writes v as canonical JSON into a new malloc'd NUL-terminated buffer. */
mxdb_status cj_dump(const json_t *v, char **out, size_t *len, mxdb_error *err);

/* Appends the canonical form of v to a growing buffer (no allocation per call
 * when the buffer is reused: the hot path of hashing and signing). A NUL
 * follows the text but is not counted in len; on failure len is unchanged.
 * Reset len to 0 to reuse the buffer. */
typedef struct cj_buf {
	char *data;
	size_t len, cap;
} cj_buf;
mxdb_status cj_dump_buf(const json_t *v, cj_buf *buf, mxdb_error *err);
/* The same for an object, leaving out the top-level keys listed in skip
 * (NULL-terminated), e.g. {"signatures", "unsigned", NULL} when signing:
 * no copy of the object is made. */
mxdb_status cj_dump_buf_without(const json_t *obj, const char *const *skip, cj_buf *buf,
                                mxdb_error *err);
/* Appends n raw bytes (kept NUL-terminated, like the dumps). */
mxdb_status cj_buf_append(cj_buf *buf, const char *p, size_t n, mxdb_error *err);
void cj_buf_free(cj_buf *buf);

#endif
