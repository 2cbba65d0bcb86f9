/* test_cborjson.c: the CBOR <-> JSON mapping of db/cborjson.c, both ways,
 * with byte-exact encodings and every refusal the mapping promises. */
#include <stdlib.h>
#include <string.h>

#include "cborjson.h"
#include "testutil.h"

static json_t *parse(const char *text)
{
	json_error_t je;
	json_t *v = json_loads(text, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
	if (v == NULL)
		fprintf(stderr, "bad test JSON %s: %s\n", text, je.text);
	return v;
}

/* JSON -> CBOR -> JSON gives the same value back. */
static void round_trip(const char *text)
{
	json_t *v = parse(text), *back = NULL;
	unsigned char *buf = NULL;
	size_t len = 0;
	mxdb_error err;
	CHECK(v != NULL);
	CHECK_MSG(cbj_encode(v, &buf, &len, &err) == MXDB_OK, "%s: %s", text, err.message);
	CHECK_MSG(cbj_decode(buf, len, &back, &err) == MXDB_OK, "%s: %s", text, err.message);
	CHECK_MSG(back != NULL && json_equal(v, back), "round trip of %s", text);
	free(buf);
	json_decref(v);
	json_decref(back);
}

/* JSON encodes to exactly these bytes (hex), and they decode back to it. */
static void exact(const char *text, const char *hex)
{
	json_t *v = parse(text), *back = NULL;
	unsigned char *buf = NULL;
	size_t len = 0;
	CHECK(cbj_encode(v, &buf, &len, NULL) == MXDB_OK);
	char got[512] = "";
	for (size_t i = 0; i < len && 2 * i + 2 < sizeof(got); i++)
		sprintf(got + 2 * i, "%02x", buf[i]);
	CHECK_MSG(strcmp(got, hex) == 0, "%s encoded as %s, expected %s", text, got, hex);
	CHECK(cbj_decode(buf, len, &back, NULL) == MXDB_OK && json_equal(v, back));
	free(buf);
	json_decref(v);
	json_decref(back);
}

static size_t unhex(const char *hex, unsigned char *out)
{
	size_t n = 0;
	for (; hex[0] && hex[1]; hex += 2)
		sscanf(hex, "%2hhx", &out[n++]);
	return n;
}

/* CBOR (hex) decodes to this JSON text. */
static void decodes(const char *hex, const char *text)
{
	unsigned char buf[256];
	size_t n = unhex(hex, buf);
	json_t *v = NULL, *want = parse(text);
	mxdb_error err;
	CHECK_MSG(cbj_decode(buf, n, &v, &err) == MXDB_OK, "%s: %s", hex, err.message);
	CHECK_MSG(v != NULL && json_equal(v, want), "%s does not decode to %s", hex, text);
	json_decref(v);
	json_decref(want);
}

/* CBOR (hex) is refused with this status and a message containing `why`. */
static void refused(const char *hex, mxdb_status code, const char *why)
{
	unsigned char buf[1024];
	size_t n = unhex(hex, buf);
	json_t *v = NULL;
	mxdb_error err;
	mxdb_status st = cbj_decode(buf, n, &v, &err);
	CHECK_MSG(st == code, "%s gave %s (%s), expected %s", hex, mxdb_status_name(st), err.message,
	          mxdb_status_name(code));
	CHECK_MSG(st == MXDB_OK || strstr(err.message, why) != NULL, "%s: message '%s' lacks '%s'", hex,
	          err.message, why);
	CHECK(v == NULL || st == MXDB_OK);
	json_decref(v);
}

static void json_refused(const char *text, const char *why)
{
	json_t *v = parse(text);
	unsigned char *buf = NULL;
	size_t len;
	mxdb_error err;
	CHECK_MSG(cbj_encode(v, &buf, &len, &err) == MXDB_EBADJSON, "%s was accepted", text);
	CHECK_MSG(strstr(err.message, why) != NULL, "%s: message '%s' lacks '%s'", text, err.message, why);
	CHECK(buf == NULL);
	json_decref(v);
}

int main(void)
{
	round_trip("{}");
	round_trip("[]");
	round_trip("{\"body\":\"h\\u00e9llo \\ud83d\\ude00\",\"n\":-42,\"ok\":true,\"no\":false,\"x\":null}");
	round_trip("{\"a\":{\"b\":[1,[2,[3,{\"c\":\"\"}]]]},\"big\":9007199254740991,\"small\":-9007199254740991}");
	round_trip("[0,23,24,255,256,65535,65536,4294967295,4294967296,-1,-24,-25,-256,-257,-65537]");

	/* the shortest integer encodings, definite lengths */
	exact("{\"a\":1}", "a1616101");
	exact("[24,-25,256,-65537]", "84181838181901003a00010000");
	exact("\"\"", "60");
	exact("null", "f6");
	exact("[true,false]", "82f5f4");
	exact("9007199254740991", "1b001fffffffffffff");
	exact("-9007199254740991", "3b001ffffffffffffe");

	/* indefinite lengths are read */
	decodes("9f0102ff", "[1,2]");
	decodes("bf6161f5ff", "{\"a\":true}");
	decodes("7f626865636c6c6fff", "\"hello\"");
	decodes("bf7f6161ff01ff", "{\"a\":1}");

	refused("f93c00", MXDB_EBADJSON, "float");                /* half float 1.0 */
	refused("fb3ff199999999999a", MXDB_EBADJSON, "float");    /* 1.1 */
	refused("a16178fa3f800000", MXDB_EBADJSON, "x: a CBOR float");
	refused("4401020304", MXDB_EBADJSON, "byte string");
	refused("c11a514b67b0", MXDB_EBADJSON, "tag");
	refused("f7", MXDB_EBADJSON, "undefined");
	refused("f820", MXDB_ENOTJSON, "well-formed"); /* libcbor 0.8 reads no other simple values */
	{
		cbor_item_t *simple = cbor_build_ctrl(32);
		json_t *v = NULL;
		mxdb_error err;
		CHECK(cbj_item_to_json(simple, &v, &err) == MXDB_EBADJSON && strstr(err.message, "simple value"));
		CHECK(v == NULL);
		cbor_decref(&simple);
	}
	refused("a10102", MXDB_EBADJSON, "not a text string");     /* {1: 2} */
	refused("a2616101616102", MXDB_EBADJSON, "duplicate");      /* {"a":1,"a":2} */
	refused("1b0020000000000000", MXDB_EBADJSON, "2^53");       /* 2^53 */
	refused("3b001fffffffffffff", MXDB_EBADJSON, "2^53");       /* -2^53 */
	refused("a1616184010280f93c00", MXDB_EBADJSON, "a[3]: a CBOR float");
	/* libcbor itself refuses invalid UTF-8 as malformed */
	refused("62c328", MXDB_ENOTJSON, "well-formed");
	refused("a162c32801", MXDB_ENOTJSON, "well-formed");
	refused("a162610001", MXDB_EBADJSON, "U+0000");
	refused("0102", MXDB_ENOTJSON, "trailing");
	refused("a2616101", MXDB_ENOTJSON, "well-formed");
	refused("", MXDB_ENOTJSON, "empty");
	/* heads declaring more items than the body holds: refused before
	 * libcbor allocates for them (5 bytes once cost it 17 GB and 48 s) */
	refused("9a7f000000", MXDB_ENOTJSON, "declares 2130706432 items");
	refused("bbffffffffffffffff", MXDB_ENOTJSON, "declares");
	refused("a1616182010203", MXDB_ENOTJSON, "trailing");
	refused("a16161830102", MXDB_ENOTJSON, "declares 3 items");
	decodes("8401020304", "[1,2,3,4]");                /* exactly as many as remain */
	decodes("83a080a0", "[{},[],{}]");
	decodes("bf61619f8080ff6162a0ff", "{\"a\":[[],[]],\"b\":{}}");

	/* depth: CBJ_MAX_DEPTH nested arrays pass, one more fails */
	{
		unsigned char deep[CBJ_MAX_DEPTH + 3];
		json_t *v = NULL;
		memset(deep, 0x81, sizeof(deep));
		deep[CBJ_MAX_DEPTH] = 0x01; /* CBJ_MAX_DEPTH arrays around an integer */
		CHECK(cbj_decode(deep, CBJ_MAX_DEPTH + 1, &v, NULL) == MXDB_OK);
		json_decref(v);
		deep[CBJ_MAX_DEPTH + 1] = 0x01;
		deep[CBJ_MAX_DEPTH] = 0x81;
		mxdb_error err;
		CHECK(cbj_decode(deep, CBJ_MAX_DEPTH + 2, &v, &err) == MXDB_EBADJSON &&
		      strstr(err.message, "deeper") != NULL);
	}

	/* indefinite arrays 5000 deep, never closed: libcbor's stack would
	 * overflow first and read as running out of memory */
	{
		static unsigned char open[5000];
		json_t *v = NULL;
		mxdb_error err;
		memset(open, 0x9f, sizeof(open));
		CHECK(cbj_decode(open, sizeof(open), &v, &err) == MXDB_EBADJSON &&
		      strstr(err.message, "deeper") != NULL);
		CHECK(v == NULL);
	}

	json_refused("{\"a\":[1,2.5]}", "a[1]: floats");
	json_refused("9007199254740992", "2^53");
	json_refused("-9007199254740992", "2^53");
	return test_summary("test_cborjson");
}
