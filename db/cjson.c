/*
 * cjson.c: Matrix canonical JSON (spec appendices, "Canonical JSON").
 *
 * Owns the strict parser front end (jansson plus the checks jansson does not
 * make) and the canonical writer. The writer is on the hot path of hashing and
 * signing every event, so it never allocates per key: object keys are sorted
 * as an array of pointers, and strings are copied in runs between escapes.
 * Never prints, never keeps state between calls.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cjson.h"

/* ---- rules shared by the parser and the in-memory check ---------------- */

static int int_in_range(json_int_t i)
{
	return i >= -CJ_MAX_INT && i <= CJ_MAX_INT;
}

/* Returns the offset of the first byte that breaks UTF-8 (overlong forms,
 * surrogates, code points above U+10FFFF, truncation), or len when valid. */
static size_t utf8_bad_offset(const unsigned char *s, size_t len)
{
	size_t i = 0;
	while (i < len) {
		unsigned c = s[i];
		if (c < 0x80) {
			i++;
			continue;
		}
		size_t need;
		unsigned lo = 0x80, hi = 0xbf; /* allowed range of the 2nd byte */
		if (c >= 0xc2 && c <= 0xdf)
			need = 1;
		else if (c >= 0xe0 && c <= 0xef) {
			need = 2;
			if (c == 0xe0)
				lo = 0xa0;
			else if (c == 0xed)
				hi = 0x9f; /* UTF-16 surrogates */
		} else if (c >= 0xf0 && c <= 0xf4) {
			need = 3;
			if (c == 0xf0)
				lo = 0x90;
			else if (c == 0xf4)
				hi = 0x8f;
		} else
			return i;
		if (len - i <= need || s[i + 1] < lo || s[i + 1] > hi)
			return i;
		for (size_t k = 2; k <= need; k++)
			if ((s[i + k] & 0xc0) != 0x80)
				return i;
		i += need + 1;
	}
	return len;
}

static mxdb_status check_string(const char *s, size_t len, const char *what, mxdb_error *err)
{
	if (memchr(s, '\0', len) != NULL)
		return mx_fail(err, MXDB_EBADJSON, "%s contains U+0000", what);
	size_t bad = utf8_bad_offset((const unsigned char *)s, len);
	if (bad != len)
		return mx_fail(err, MXDB_EBADJSON, "%s is not valid UTF-8 (byte %zu)", what, bad);
	return MXDB_OK;
}

mxdb_status cj_check(const json_t *v, mxdb_error *err)
{
	mxdb_status st;
	switch (json_typeof(v)) {
	case JSON_OBJECT: {
		for (void *it = json_object_iter((json_t *)v); it != NULL;
		     it = json_object_iter_next((json_t *)v, it)) {
			if ((st = check_string(json_object_iter_key(it), json_object_iter_key_len(it),
			                       "an object key", err)) != MXDB_OK)
				return st;
			if ((st = cj_check(json_object_iter_value(it), err)) != MXDB_OK)
				return st;
		}
		return MXDB_OK;
	}
	case JSON_ARRAY:
		for (size_t i = 0, n = json_array_size(v); i < n; i++)
			if ((st = cj_check(json_array_get(v, i), err)) != MXDB_OK)
				return st;
		return MXDB_OK;
	case JSON_STRING:
		return check_string(json_string_value(v), json_string_length(v), "a string", err);
	case JSON_INTEGER:
		if (!int_in_range(json_integer_value(v)))
			return mx_fail(err, MXDB_EBADJSON, "integer %lld is outside +-(2^53-1)",
			               (long long)json_integer_value(v));
		return MXDB_OK;
	case JSON_REAL:
		return mx_fail(err, MXDB_EBADJSON, "floating-point numbers are not allowed");
	default:
		return MXDB_OK;
	}
}

/* ---- parser ------------------------------------------------------------- */

/* jansson accepts floats, exponents and -0 (which it reads as plain 0), so
 * the number tokens of the (already valid) text are looked at once more, and
 * their range checked on the way. jansson has already checked the strings,
 * so this scan is all cj_parse adds to jansson's own parse. */
static mxdb_status scan_numbers(const char *p, size_t len, mxdb_error *err)
{
	const char *start = p, *end = p + len;
	while (p < end) {
		char c = *p;
		if (c == '"') {
			/* the closing quote is the first one after an even run of
			 * backslashes; memchr makes strings, most of the text, cheap */
			const char *q = p + 1;
			for (;;) {
				q = memchr(q, '"', (size_t)(end - q));
				const char *bs = q;
				while (bs[-1] == '\\')
					bs--;
				if ((q - bs) % 2 == 0)
					break;
				q++;
			}
			p = q + 1;
			continue;
		}
		if (c != '-' && (c < '0' || c > '9')) {
			p++;
			continue;
		}
		const char *tok = p;
		if (*p == '-')
			p++;
		const char *digits = p;
		while (p < end && *p >= '0' && *p <= '9')
			p++;
		if (p < end && *p == '.')
			return mx_fail(err, MXDB_EBADJSON, "floating-point number at byte %zu (only integers are allowed)",
			               (size_t)(tok - start));
		if (p < end && (*p == 'e' || *p == 'E'))
			return mx_fail(err, MXDB_EBADJSON, "exponent in number at byte %zu (only plain integers are allowed)",
			               (size_t)(tok - start));
		if (p - tok == 2 && tok[0] == '-' && tok[1] == '0')
			return mx_fail(err, MXDB_EBADJSON, "-0 at byte %zu is not allowed",
			               (size_t)(tok - start));
		/* no leading zeros in valid JSON: the digit count orders the values */
		if (p - digits > 16 || (p - digits == 16 && memcmp(digits, "9007199254740991", 16) > 0))
			return mx_fail(err, MXDB_EBADJSON, "integer %.*s at byte %zu is outside +-(2^53-1)",
			               (int)(p - tok), tok, (size_t)(tok - start));
	}
	return MXDB_OK;
}

static mxdb_status parse_error(const json_error_t *je, mxdb_error *err)
{
	switch (json_error_code(je)) {
	case json_error_invalid_utf8:
	case json_error_null_character:
	case json_error_null_byte_in_key:
	case json_error_duplicate_key:
		return mx_fail(err, MXDB_EBADJSON, "%s (byte %d)", je->text, je->position);
	case json_error_numeric_overflow:
		return mx_fail(err, MXDB_EBADJSON, "number out of range: %s (integers must be within +-(2^53-1))",
		               je->text);
	case json_error_invalid_syntax:
		/* lone or unpaired UTF-16 surrogate escapes */
		if (strncmp(je->text, "invalid Unicode", 15) == 0)
			return mx_fail(err, MXDB_EBADJSON, "%s (lone surrogate)", je->text);
		/* fall through */
	default:
		return mx_fail(err, MXDB_ENOTJSON, "not JSON: %s (line %d, column %d)", je->text, je->line,
		               je->column);
	}
}

mxdb_status cj_parse(const char *text, size_t len, json_t **out, mxdb_error *err)
{
	json_error_t je;
	*out = NULL;
	json_t *v = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
	if (v == NULL)
		return parse_error(&je, err);
	mxdb_status st = scan_numbers(text, len, err);
	if (st != MXDB_OK) {
		json_decref(v);
		return st;
	}
	*out = v;
	return MXDB_OK;
}

/* ---- writer ------------------------------------------------------------- */

/* Makes room for more bytes and a NUL; -1 when out of memory. */
static int buf_grow(cj_buf *b, size_t more)
{
	if (b->cap - b->len > more)
		return 0;
	if (more > SIZE_MAX / 4 - b->len)
		return -1;
	size_t cap = b->cap ? b->cap : 256;
	while (cap - b->len <= more)
		cap *= 2;
	char *d = realloc(b->data, cap);
	if (d == NULL)
		return -1;
	b->data = d;
	b->cap = cap;
	return 0;
}

#define PUT(b, s, n)                                  \
	do {                                              \
		if (buf_grow((b), (n)) != 0)                  \
			return MXDB_ENOMEM;                       \
		memcpy((b)->data + (b)->len, (s), (n));       \
		(b)->len += (n);                              \
	} while (0)

mxdb_status cj_buf_append(cj_buf *b, const char *p, size_t n, mxdb_error *err)
{
	if (buf_grow(b, n) != 0)
		return mx_fail(err, MXDB_ENOMEM, "out of memory");
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return MXDB_OK;
}

static mxdb_status put_char(cj_buf *b, char c)
{
	if (buf_grow(b, 1) != 0)
		return MXDB_ENOMEM;
	b->data[b->len++] = c;
	return MXDB_OK;
}

/* Which bytes a string may hold unescaped: everything but controls, '"'
 * and '\\'. Non-ASCII and '/' go out raw, as the spec wants. */
static const char esc_short[0x20] = {
	['\b'] = 'b', ['\f'] = 'f', ['\n'] = 'n', ['\r'] = 'r', ['\t'] = 't',
};

static mxdb_status put_string(cj_buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	/* Room for the string unescaped and its quotes; escapes are rare, so
	 * each one makes room for itself and the worst case of the rest
	 * (reserving n * 6 up front made every long string reallocate). */
	if (buf_grow(b, n + 2) != 0)
		return MXDB_ENOMEM;
	char *o = b->data + b->len;
	*o++ = '"';
	size_t i = 0;
	while (i < n) {
		size_t run = i;
		while (run < n) {
			unsigned char c = (unsigned char)s[run];
			if (c < 0x20 || c == '"' || c == '\\')
				break;
			run++;
		}
		memcpy(o, s + i, run - i);
		o += run - i;
		if (run == n)
			break;
		size_t written = (size_t)(o - (b->data + b->len));
		if (buf_grow(b, written + 6 + (n - run - 1) * 6 + 1) != 0)
			return MXDB_ENOMEM;
		o = b->data + b->len + written;
		unsigned char c = (unsigned char)s[run];
		*o++ = '\\';
		if (c == '"' || c == '\\')
			*o++ = (char)c;
		else if (esc_short[c])
			*o++ = esc_short[c];
		else {
			memcpy(o, "u00", 3);
			o[3] = hex[c >> 4];
			o[4] = hex[c & 15];
			o += 5;
		}
		i = run + 1;
	}
	*o++ = '"';
	b->len = (size_t)(o - b->data);
	return MXDB_OK;
}

static mxdb_status put_int(cj_buf *b, json_int_t v, mxdb_error *err)
{
	if (!int_in_range(v))
		return mx_fail(err, MXDB_EBADJSON, "integer %lld is outside +-(2^53-1)", (long long)v);
	char tmp[24], *p = tmp + sizeof(tmp);
	uint64_t u = v < 0 ? (uint64_t)(-v) : (uint64_t)v;
	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		*--p = '-';
	PUT(b, p, (size_t)(tmp + sizeof(tmp) - p));
	return MXDB_OK;
}

typedef struct member {
	const char *key;
	size_t len;
	json_t *val;
} member;

/* Code point order: UTF-8 preserves it under unsigned byte comparison. */
static int member_cmp(const member *a, const member *b)
{
	size_t n = a->len < b->len ? a->len : b->len;
	int c = memcmp(a->key, b->key, n);
	if (c != 0)
		return c;
	return (a->len > b->len) - (a->len < b->len);
}

static int member_qcmp(const void *a, const void *b)
{
	return member_cmp(a, b);
}

static void sort_members(member *m, size_t n)
{
	if (n > 16) {
		qsort(m, n, sizeof(*m), member_qcmp);
		return;
	}
	/* events have about ten keys: insertion sort beats qsort's overhead */
	for (size_t i = 1; i < n; i++) {
		member x = m[i];
		size_t j = i;
		while (j > 0 && member_cmp(&m[j - 1], &x) > 0) {
			m[j] = m[j - 1];
			j--;
		}
		m[j] = x;
	}
}

static mxdb_status put_value(cj_buf *b, const json_t *v, mxdb_error *err);

static int skipped(const char *key, size_t len, const char *const *skip)
{
	for (; skip != NULL && *skip != NULL; skip++)
		if (strlen(*skip) == len && memcmp(key, *skip, len) == 0)
			return 1;
	return 0;
}

static mxdb_status put_object(cj_buf *b, const json_t *v, const char *const *skip,
                              mxdb_error *err)
{
	size_t n = json_object_size(v);
	member stack[32], *m = stack;
	if (n > sizeof(stack) / sizeof(stack[0])) {
		m = malloc(n * sizeof(*m));
		if (m == NULL)
			return mx_fail(err, MXDB_ENOMEM, "out of memory");
	}
	size_t i = 0;
	for (void *it = json_object_iter((json_t *)v); it != NULL && i < n;
	     it = json_object_iter_next((json_t *)v, it)) {
		m[i].key = json_object_iter_key(it);
		m[i].len = json_object_iter_key_len(it);
		if (skipped(m[i].key, m[i].len, skip))
			continue;
		m[i].val = json_object_iter_value(it);
		i++;
	}
	n = i;
	sort_members(m, n);

	mxdb_status st = put_char(b, '{');
	for (i = 0; i < n && st == MXDB_OK; i++) {
		if (i > 0 && (st = put_char(b, ',')) != MXDB_OK)
			break;
		if ((st = put_string(b, m[i].key, m[i].len)) == MXDB_OK &&
		    (st = put_char(b, ':')) == MXDB_OK)
			st = put_value(b, m[i].val, err);
	}
	if (st == MXDB_OK)
		st = put_char(b, '}');
	if (m != stack)
		free(m);
	if (st == MXDB_ENOMEM)
		return mx_fail(err, MXDB_ENOMEM, "out of memory");
	return st;
}

static mxdb_status put_value(cj_buf *b, const json_t *v, mxdb_error *err)
{
	mxdb_status st;
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return put_object(b, v, NULL, err);
	case JSON_ARRAY:
		if ((st = put_char(b, '[')) != MXDB_OK)
			return st;
		for (size_t i = 0, n = json_array_size(v); i < n; i++) {
			if (i > 0 && (st = put_char(b, ',')) != MXDB_OK)
				return st;
			if ((st = put_value(b, json_array_get(v, i), err)) != MXDB_OK)
				return st;
		}
		return put_char(b, ']');
	case JSON_STRING:
		return put_string(b, json_string_value(v), json_string_length(v));
	case JSON_INTEGER:
		return put_int(b, json_integer_value(v), err);
	case JSON_REAL:
		return mx_fail(err, MXDB_EBADJSON, "floating-point numbers are not allowed");
	case JSON_TRUE:
		PUT(b, "true", 4);
		return MXDB_OK;
	case JSON_FALSE:
		PUT(b, "false", 5);
		return MXDB_OK;
	case JSON_NULL:
		PUT(b, "null", 4);
		return MXDB_OK;
	}
	return mx_fail(err, MXDB_EINTERNAL, "unknown JSON type");
}

/* The one entry point of the writer: skip applies to the top level only. */
static mxdb_status dump(const json_t *v, const char *const *skip, cj_buf *buf, mxdb_error *err)
{
	if (v == NULL)
		return mx_fail(err, MXDB_EINVAL, "no JSON value to write");
	if (skip != NULL && !json_is_object(v))
		return mx_fail(err, MXDB_EBADJSON, "not a JSON object");
	size_t start = buf->len;
	mxdb_status st = skip != NULL ? put_object(buf, v, skip, err) : put_value(buf, v, err);
	if (st == MXDB_ENOMEM)
		mx_fail(err, MXDB_ENOMEM, "out of memory writing canonical JSON");
	if (st == MXDB_OK && buf_grow(buf, 0) != 0)
		st = mx_fail(err, MXDB_ENOMEM, "out of memory writing canonical JSON");
	if (st != MXDB_OK) {
		buf->len = start;
		return st;
	}
	buf->data[buf->len] = '\0'; /* not counted in len: lets callers print it */
	return MXDB_OK;
}

mxdb_status cj_dump_buf(const json_t *v, cj_buf *buf, mxdb_error *err)
{
	return dump(v, NULL, buf, err);
}

mxdb_status cj_dump_buf_without(const json_t *obj, const char *const *skip, cj_buf *buf,
                                mxdb_error *err)
{
	static const char *const none[] = {NULL};
	return dump(obj, skip != NULL ? skip : none, buf, err);
}

mxdb_status cj_dump(const json_t *v, char **out, size_t *len, mxdb_error *err)
{
	cj_buf b = {0};
	*out = NULL;
	mxdb_status st = cj_dump_buf(v, &b, err);
	if (st != MXDB_OK) {
		cj_buf_free(&b);
		return st;
	}
	*out = b.data;
	if (len != NULL)
		*len = b.len;
	return MXDB_OK;
}

void cj_buf_free(cj_buf *buf)
{
	free(buf->data);
	buf->data = NULL;
	buf->len = buf->cap = 0;
}
