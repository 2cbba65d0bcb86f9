/*
 * cborjson.c: CBOR <-> JSON conversion (the mapping is in cborjson.h).
 * Owns the walk over both trees and the error messages that say where a
 * value JSON cannot carry was found. Never allocates beyond the two trees.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cborjson.h"

#define CBJ_MAX_INT 9007199254740991LL /* 2^53 - 1, the Matrix JSON limit */

/* The location of the value being converted, as "a.b[3]", for messages. */
typedef struct cbj_path {
	char buf[200];
	size_t len;
} cbj_path;

static size_t path_push_key(cbj_path *p, const char *key, size_t klen)
{
	size_t old = p->len;
	int n = snprintf(p->buf + p->len, sizeof(p->buf) - p->len, "%s%.*s",
	                 p->len ? "." : "", (int)(klen > 40 ? 40 : klen), key);
	if (n > 0)
		p->len += (size_t)n < sizeof(p->buf) - p->len ? (size_t)n : sizeof(p->buf) - p->len - 1;
	return old;
}

static size_t path_push_index(cbj_path *p, size_t i)
{
	size_t old = p->len;
	int n = snprintf(p->buf + p->len, sizeof(p->buf) - p->len, "[%zu]", i);
	if (n > 0)
		p->len += (size_t)n < sizeof(p->buf) - p->len ? (size_t)n : sizeof(p->buf) - p->len - 1;
	return old;
}

static void path_pop(cbj_path *p, size_t old)
{
	p->len = old;
	p->buf[old] = '\0';
}

static const char *path_str(const cbj_path *p)
{
	return p->len ? p->buf : "(top)";
}

static mxdb_status refuse(mxdb_error *err, const cbj_path *p, const char *what)
{
	return mx_fail(err, MXDB_EBADJSON, "%s: %s cannot be carried in JSON", path_str(p), what);
}

/* ---- CBOR -> JSON ---- */

static mxdb_status to_json(const cbor_item_t *it, int depth, cbj_path *p, json_t **out, mxdb_error *err);

/* A text string's bytes, joining the chunks of an indefinite one. */
static mxdb_status text_bytes(const cbor_item_t *it, char **out, size_t *len, mxdb_error *err)
{
	if (cbor_string_is_definite(it)) {
		size_t n = cbor_string_length(it);
		char *s = malloc(n + 1);
		if (s == NULL)
			return mx_fail(err, MXDB_ENOMEM, "out of memory");
		if (n)
			memcpy(s, cbor_string_handle(it), n);
		s[n] = '\0';
		*out = s;
		*len = n;
		return MXDB_OK;
	}
	size_t count = cbor_string_chunk_count(it), total = 0;
	cbor_item_t **chunks = cbor_string_chunks_handle(it);
	for (size_t i = 0; i < count; i++)
		total += cbor_string_length(chunks[i]);
	char *s = malloc(total + 1);
	if (s == NULL)
		return mx_fail(err, MXDB_ENOMEM, "out of memory");
	size_t off = 0;
	for (size_t i = 0; i < count; i++) {
		size_t n = cbor_string_length(chunks[i]);
		if (n)
			memcpy(s + off, cbor_string_handle(chunks[i]), n);
		off += n;
	}
	s[total] = '\0';
	*out = s;
	*len = total;
	return MXDB_OK;
}

static mxdb_status int_to_json(const cbor_item_t *it, const cbj_path *p, json_t **out, mxdb_error *err)
{
	uint64_t n = cbor_get_int(it);
	long long v;
	if (cbor_isa_uint(it)) {
		if (n > (uint64_t)CBJ_MAX_INT)
			return mx_fail(err, MXDB_EBADJSON, "%s: integer %llu is beyond 2^53-1", path_str(p),
			               (unsigned long long)n);
		v = (long long)n;
	} else {
		/* a negative integer is stored as -1 - n */
		if (n > (uint64_t)CBJ_MAX_INT - 1)
			return mx_fail(err, MXDB_EBADJSON, "%s: integer -1-%llu is beyond -(2^53-1)",
			               path_str(p), (unsigned long long)n);
		v = -1 - (long long)n;
	}
	*out = json_integer(v);
	return *out ? MXDB_OK : mx_fail(err, MXDB_ENOMEM, "out of memory");
}

static int utf8_ok(const char *s, size_t n)
{
	json_t *probe = json_stringn(s, n); /* jansson owns the UTF-8 check */
	json_decref(probe);
	return probe != NULL;
}

static mxdb_status text_to_json(const cbor_item_t *it, const cbj_path *p, json_t **out, mxdb_error *err)
{
	char *s;
	size_t n;
	mxdb_status st = text_bytes(it, &s, &n, err);
	if (st != MXDB_OK)
		return st;
	*out = json_stringn(s, n); /* jansson checks the UTF-8 */
	free(s);
	if (*out == NULL)
		return mx_fail(err, MXDB_EBADJSON, "%s: text string is not valid UTF-8", path_str(p));
	return MXDB_OK;
}

static mxdb_status array_to_json(const cbor_item_t *it, int depth, cbj_path *p, json_t **out,
                                 mxdb_error *err)
{
	json_t *a = json_array();
	if (a == NULL)
		return mx_fail(err, MXDB_ENOMEM, "out of memory");
	size_t n = cbor_array_size(it);
	cbor_item_t **items = cbor_array_handle(it);
	for (size_t i = 0; i < n; i++) {
		json_t *v;
		size_t mark = path_push_index(p, i);
		mxdb_status st = to_json(items[i], depth + 1, p, &v, err);
		path_pop(p, mark);
		if (st != MXDB_OK) {
			json_decref(a);
			return st;
		}
		if (json_array_append_new(a, v) != 0) {
			json_decref(a);
			return mx_fail(err, MXDB_ENOMEM, "out of memory");
		}
	}
	*out = a;
	return MXDB_OK;
}

static mxdb_status map_to_json(const cbor_item_t *it, int depth, cbj_path *p, json_t **out,
                               mxdb_error *err)
{
	json_t *o = json_object();
	if (o == NULL)
		return mx_fail(err, MXDB_ENOMEM, "out of memory");
	size_t n = cbor_map_size(it);
	struct cbor_pair *pairs = cbor_map_handle(it);
	mxdb_status st = MXDB_OK;
	for (size_t i = 0; i < n && st == MXDB_OK; i++) {
		if (!cbor_isa_string(pairs[i].key)) {
			st = refuse(err, p, "a map key that is not a text string");
			break;
		}
		char *k;
		size_t kl;
		st = text_bytes(pairs[i].key, &k, &kl, err);
		if (st != MXDB_OK)
			break;
		size_t mark = path_push_key(p, k, kl);
		if (!utf8_ok(k, kl)) {
			st = mx_fail(err, MXDB_EBADJSON, "%s: map key is not valid UTF-8", path_str(p));
		} else if (memchr(k, '\0', kl) != NULL) {
			st = mx_fail(err, MXDB_EBADJSON, "%s: map key contains U+0000", path_str(p));
		} else if (json_object_getn(o, k, kl) != NULL) {
			st = mx_fail(err, MXDB_EBADJSON, "%s: duplicate map key", path_str(p));
		} else {
			json_t *v;
			st = to_json(pairs[i].value, depth + 1, p, &v, err);
			if (st == MXDB_OK && json_object_setn_new(o, k, kl, v) != 0)
				st = mx_fail(err, MXDB_ENOMEM, "out of memory");
		}
		path_pop(p, mark);
		free(k);
	}
	if (st != MXDB_OK) {
		json_decref(o);
		return st;
	}
	*out = o;
	return MXDB_OK;
}

static mxdb_status ctrl_to_json(const cbor_item_t *it, const cbj_path *p, json_t **out, mxdb_error *err)
{
	if (!cbor_float_ctrl_is_ctrl(it))
		return refuse(err, p, "a CBOR float (Matrix JSON has only integers)");
	if (cbor_is_null(it))
		*out = json_null();
	else if (cbor_is_bool(it))
		*out = json_boolean(cbor_get_bool(it));
	else if (cbor_is_undef(it))
		return refuse(err, p, "CBOR undefined");
	else
		return mx_fail(err, MXDB_EBADJSON, "%s: CBOR simple value %u cannot be carried in JSON",
		               path_str(p), (unsigned)cbor_ctrl_value(it));
	return MXDB_OK;
}

static mxdb_status to_json(const cbor_item_t *it, int depth, cbj_path *p, json_t **out, mxdb_error *err)
{
	if (depth > CBJ_MAX_DEPTH)
		return mx_fail(err, MXDB_EBADJSON, "%s: nested deeper than %d", path_str(p), CBJ_MAX_DEPTH);
	switch (cbor_typeof(it)) {
	case CBOR_TYPE_UINT:
	case CBOR_TYPE_NEGINT:
		return int_to_json(it, p, out, err);
	case CBOR_TYPE_STRING:
		return text_to_json(it, p, out, err);
	case CBOR_TYPE_ARRAY:
		return array_to_json(it, depth, p, out, err);
	case CBOR_TYPE_MAP:
		return map_to_json(it, depth, p, out, err);
	case CBOR_TYPE_FLOAT_CTRL:
		return ctrl_to_json(it, p, out, err);
	case CBOR_TYPE_BYTESTRING:
		return refuse(err, p, "a CBOR byte string");
	case CBOR_TYPE_TAG:
		return refuse(err, p, "a CBOR tag");
	}
	return mx_fail(err, MXDB_EINTERNAL, "%s: unknown CBOR type", path_str(p));
}

mxdb_status cbj_item_to_json(const cbor_item_t *item, json_t **out, mxdb_error *err)
{
	if (item == NULL || out == NULL)
		return mx_fail(err, MXDB_EINVAL, "cbj_item_to_json: NULL argument");
	cbj_path p = {.len = 0};
	p.buf[0] = '\0';
	return to_json(item, 0, &p, out, err);
}

/* ---- the pre-scan of the item heads ----
 * cbor_load trusts the sizes the heads declare: five bytes declaring 2^31
 * array entries make it allocate and clear gigabytes before it finds the
 * data missing, and nesting past its stack reads as running out of memory.
 * So the streaming decoder walks the heads first: a container may not
 * declare more children than bytes remain (each takes one byte at least),
 * nor nest deeper than the conversion would take anyway. */

enum scan_event { SCAN_ITEM, SCAN_OPEN, SCAN_OPEN_INDEF, SCAN_BREAK, SCAN_TAG };
#define SCAN_INDEF SIZE_MAX

typedef struct cbj_scan {
	enum scan_event ev;
	size_t n;                         /* children a SCAN_OPEN head declared */
	size_t left[CBJ_MAX_DEPTH + 2];   /* per open container: children to come */
	int depth;
} cbj_scan;

static void scan_item(void *c) { ((cbj_scan *)c)->ev = SCAN_ITEM; }
static void scan_u8(void *c, uint8_t v) { (void)v; scan_item(c); }
static void scan_u16(void *c, uint16_t v) { (void)v; scan_item(c); }
static void scan_u32(void *c, uint32_t v) { (void)v; scan_item(c); }
static void scan_u64(void *c, uint64_t v) { (void)v; scan_item(c); }
static void scan_str(void *c, cbor_data d, size_t n) { (void)d; (void)n; scan_item(c); }
static void scan_f(void *c, float v) { (void)v; scan_item(c); }
static void scan_d(void *c, double v) { (void)v; scan_item(c); }
static void scan_b(void *c, bool v) { (void)v; scan_item(c); }
static void scan_indef(void *c) { ((cbj_scan *)c)->ev = SCAN_OPEN_INDEF; }
static void scan_break(void *c) { ((cbj_scan *)c)->ev = SCAN_BREAK; }
static void scan_tag(void *c, uint64_t v) { (void)v; ((cbj_scan *)c)->ev = SCAN_TAG; }

static void scan_array(void *c, size_t n)
{
	((cbj_scan *)c)->ev = SCAN_OPEN;
	((cbj_scan *)c)->n = n;
}

static void scan_map(void *c, size_t n)
{
	((cbj_scan *)c)->ev = SCAN_OPEN;
	((cbj_scan *)c)->n = n > SIZE_MAX / 2 ? SIZE_MAX : 2 * n;
}

static const struct cbor_callbacks scan_callbacks = {
	.uint8 = scan_u8, .uint16 = scan_u16, .uint32 = scan_u32, .uint64 = scan_u64,
	.negint8 = scan_u8, .negint16 = scan_u16, .negint32 = scan_u32, .negint64 = scan_u64,
	.byte_string_start = scan_indef, .byte_string = scan_str, .string = scan_str,
	.string_start = scan_indef, .indef_array_start = scan_indef, .array_start = scan_array,
	.indef_map_start = scan_indef, .map_start = scan_map, .tag = scan_tag, .float2 = scan_f,
	.float4 = scan_f, .float8 = scan_d, .undefined = scan_item, .null = scan_item,
	.boolean = scan_b, .indef_break = scan_break,
};

/* One child of the innermost open container is complete: close those it
 * completes. Returns false when the top-level item is complete. */
static bool scan_done_item(cbj_scan *sc)
{
	while (sc->depth > 0) {
		size_t *top = &sc->left[sc->depth - 1];
		if (*top == SCAN_INDEF || --*top > 0)
			return true;
		sc->depth--; /* the container is complete: a child of its parent */
	}
	return false;
}

/* Checks the heads; malformed data is left for cbor_load to describe. */
static mxdb_status scan_heads(const unsigned char *data, size_t len, mxdb_error *err)
{
	cbj_scan sc = {.depth = 0};
	size_t off = 0;
	while (off < len) {
		struct cbor_decoder_result r = cbor_stream_decode(data + off, len - off, &scan_callbacks, &sc);
		if (r.status != CBOR_DECODER_FINISHED || r.read == 0)
			return MXDB_OK;
		off += r.read;
		bool more = true;
		switch (sc.ev) {
		case SCAN_TAG:
			continue; /* its content is the next item */
		case SCAN_OPEN:
			if (sc.n > len - off)
				return mx_fail(err, MXDB_ENOTJSON,
				               "not well-formed CBOR (the container at byte %zu declares %zu items, "
				               "more than the body holds)",
				               off - r.read, sc.n);
			if (sc.n == 0) {
				more = scan_done_item(&sc);
				break;
			}
			/* fall through */
		case SCAN_OPEN_INDEF:
			if (sc.depth > CBJ_MAX_DEPTH)
				return mx_fail(err, MXDB_EBADJSON, "CBOR nested deeper than %d", CBJ_MAX_DEPTH);
			sc.left[sc.depth++] = sc.ev == SCAN_OPEN ? sc.n : SCAN_INDEF;
			break;
		case SCAN_BREAK:
			if (sc.depth == 0 || sc.left[sc.depth - 1] != SCAN_INDEF)
				return MXDB_OK;
			sc.depth--;
			more = scan_done_item(&sc);
			break;
		case SCAN_ITEM:
			more = scan_done_item(&sc);
			break;
		}
		if (!more)
			return MXDB_OK;
	}
	return MXDB_OK;
}

mxdb_status cbj_decode(const unsigned char *data, size_t len, json_t **out, mxdb_error *err)
{
	if ((data == NULL && len) || out == NULL)
		return mx_fail(err, MXDB_EINVAL, "cbj_decode: NULL argument");
	if (len == 0)
		return mx_fail(err, MXDB_ENOTJSON, "empty CBOR body");
	mxdb_status hs = scan_heads(data, len, err);
	if (hs != MXDB_OK)
		return hs;
	struct cbor_load_result res;
	cbor_item_t *item = cbor_load(data, len, &res);
	if (item == NULL) {
		if (res.error.code == CBOR_ERR_MEMERROR)
			return mx_fail(err, MXDB_ENOMEM, "out of memory decoding CBOR");
		static const char *const why[] = {
			[CBOR_ERR_NOTENOUGHDATA] = "truncated",
			[CBOR_ERR_NODATA] = "empty",
			[CBOR_ERR_MALFORMATED] = "malformed or unsupported item",
			[CBOR_ERR_SYNTAXERROR] = "bad structure or invalid UTF-8",
		};
		unsigned c = (unsigned)res.error.code;
		return mx_fail(err, MXDB_ENOTJSON, "not well-formed CBOR (%s at byte %zu)",
		               c < sizeof(why) / sizeof(why[0]) && why[c] ? why[c] : "error",
		               res.error.position);
	}
	mxdb_status st;
	if (res.read != len)
		st = mx_fail(err, MXDB_ENOTJSON, "%zu trailing bytes after the CBOR item", len - res.read);
	else
		st = cbj_item_to_json(item, out, err);
	cbor_decref(&item);
	return st;
}

/* ---- JSON -> CBOR ---- */

cbor_item_t *cbj_build_int(long long v)
{
	uint64_t n = v >= 0 ? (uint64_t)v : (uint64_t)(-1 - v);
	cbor_item_t *it;
	if (n <= UINT8_MAX)
		it = v >= 0 ? cbor_build_uint8((uint8_t)n) : cbor_build_negint8((uint8_t)n);
	else if (n <= UINT16_MAX)
		it = v >= 0 ? cbor_build_uint16((uint16_t)n) : cbor_build_negint16((uint16_t)n);
	else if (n <= UINT32_MAX)
		it = v >= 0 ? cbor_build_uint32((uint32_t)n) : cbor_build_negint32((uint32_t)n);
	else
		it = v >= 0 ? cbor_build_uint64(n) : cbor_build_negint64(n);
	return it;
}

static mxdb_status from_json(const json_t *v, int depth, cbj_path *p, cbor_item_t **out, mxdb_error *err);

static mxdb_status object_from_json(const json_t *v, int depth, cbj_path *p, cbor_item_t **out,
                                    mxdb_error *err)
{
	cbor_item_t *m = cbor_new_definite_map(json_object_size(v));
	if (m == NULL)
		return mx_fail(err, MXDB_ENOMEM, "out of memory");
	const char *k;
	size_t kl;
	json_t *val;
	json_object_keylen_foreach((json_t *)v, k, kl, val) {
		size_t mark = path_push_key(p, k, kl);
		cbor_item_t *ck = cbor_build_stringn(k, kl), *cv = NULL;
		mxdb_status st = ck ? from_json(val, depth + 1, p, &cv, err)
		                    : mx_fail(err, MXDB_ENOMEM, "out of memory");
		path_pop(p, mark);
		if (st == MXDB_OK && !cbor_map_add(m, (struct cbor_pair){.key = ck, .value = cv}))
			st = mx_fail(err, MXDB_ENOMEM, "out of memory");
		if (ck)
			cbor_decref(&ck);
		if (cv)
			cbor_decref(&cv);
		if (st != MXDB_OK) {
			cbor_decref(&m);
			return st;
		}
	}
	*out = m;
	return MXDB_OK;
}

static mxdb_status array_from_json(const json_t *v, int depth, cbj_path *p, cbor_item_t **out,
                                   mxdb_error *err)
{
	cbor_item_t *a = cbor_new_definite_array(json_array_size(v));
	if (a == NULL)
		return mx_fail(err, MXDB_ENOMEM, "out of memory");
	size_t i;
	json_t *val;
	json_array_foreach(v, i, val) {
		cbor_item_t *cv = NULL;
		size_t mark = path_push_index(p, i);
		mxdb_status st = from_json(val, depth + 1, p, &cv, err);
		path_pop(p, mark);
		if (st == MXDB_OK && !cbor_array_push(a, cv))
			st = mx_fail(err, MXDB_ENOMEM, "out of memory");
		if (cv)
			cbor_decref(&cv);
		if (st != MXDB_OK) {
			cbor_decref(&a);
			return st;
		}
	}
	*out = a;
	return MXDB_OK;
}

static mxdb_status from_json(const json_t *v, int depth, cbj_path *p, cbor_item_t **out, mxdb_error *err)
{
	if (depth > CBJ_MAX_DEPTH)
		return mx_fail(err, MXDB_EBADJSON, "%s: nested deeper than %d", path_str(p), CBJ_MAX_DEPTH);
	cbor_item_t *it = NULL;
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return object_from_json(v, depth, p, out, err);
	case JSON_ARRAY:
		return array_from_json(v, depth, p, out, err);
	case JSON_STRING:
		it = cbor_build_stringn(json_string_value(v), json_string_length(v));
		break;
	case JSON_INTEGER: {
		json_int_t n = json_integer_value(v);
		if (n > CBJ_MAX_INT || n < -CBJ_MAX_INT)
			return mx_fail(err, MXDB_EBADJSON, "%s: integer %lld is beyond +-(2^53-1)",
			               path_str(p), (long long)n);
		it = cbj_build_int(n);
		break;
	}
	case JSON_REAL:
		return mx_fail(err, MXDB_EBADJSON, "%s: floats are not allowed (Matrix JSON has only integers)",
		               path_str(p));
	case JSON_TRUE:
		it = cbor_build_bool(true);
		break;
	case JSON_FALSE:
		it = cbor_build_bool(false);
		break;
	case JSON_NULL:
		it = cbor_new_null();
		break;
	}
	if (it == NULL)
		return mx_fail(err, MXDB_ENOMEM, "out of memory");
	*out = it;
	return MXDB_OK;
}

mxdb_status cbj_item_from_json(const json_t *v, cbor_item_t **out, mxdb_error *err)
{
	if (v == NULL || out == NULL)
		return mx_fail(err, MXDB_EINVAL, "cbj_item_from_json: NULL argument");
	cbj_path p = {.len = 0};
	p.buf[0] = '\0';
	return from_json(v, 0, &p, out, err);
}

mxdb_status cbj_encode(const json_t *v, unsigned char **out, size_t *len, mxdb_error *err)
{
	cbor_item_t *it;
	mxdb_status st = cbj_item_from_json(v, &it, err);
	if (st != MXDB_OK)
		return st;
	size_t cap;
	unsigned char *buf = NULL;
	size_t n = cbor_serialize_alloc(it, &buf, &cap);
	cbor_decref(&it);
	if (n == 0) {
		free(buf);
		return mx_fail(err, MXDB_ENOMEM, "out of memory encoding CBOR");
	}
	*out = buf;
	*len = n;
	return MXDB_OK;
}
