/* test_cjson.c: canonical JSON output (spec appendix examples), every
 * rejection rule of the strict parser, and the in-memory check. */
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "cjson.h"
#include "testutil.h"

/* Parses in (strictly) and checks the canonical bytes equal want. */
static void expect_canon(const char *in, size_t in_len, const char *want)
{
	json_t *v = NULL;
	mxdb_error err;
	mxdb_status st = cj_parse(in, in_len, &v, &err);
	CHECK_MSG(st == MXDB_OK, "parse %s: %s", in, err.message);
	if (st != MXDB_OK)
		return;
	char *out = NULL;
	size_t len = 0;
	st = cj_dump(v, &out, &len, &err);
	CHECK_MSG(st == MXDB_OK, "dump %s: %s", in, err.message);
	if (st == MXDB_OK) {
		CHECK_MSG(len == strlen(want) && memcmp(out, want, len) == 0, "got %.*s want %s",
		          (int)len, out, want);
		CHECK(out[len] == '\0');
	}
	free(out);
	json_decref(v);
}

#define CANON(in, want) expect_canon((in), sizeof(in) - 1, (want))

/* Parsing in must fail with code, and the message must mention needle. */
static void expect_reject(const char *in, size_t in_len, mxdb_status code, const char *needle)
{
	json_t *v = (json_t *)1;
	mxdb_error err;
	mx_clear(&err);
	mxdb_status st = cj_parse(in, in_len, &v, &err);
	CHECK_MSG(st == code, "%.*s: status %s, want %s (%s)", (int)in_len, in,
	          mxdb_status_name(st), mxdb_status_name(code), err.message);
	CHECK(v == NULL);
	CHECK(err.code == st);
	CHECK_MSG(strstr(err.message, needle) != NULL, "%.*s: message '%s' lacks '%s'", (int)in_len,
	          in, err.message, needle);
	if (st == MXDB_OK)
		json_decref(v);
}

#define REJECT(in, code, needle) expect_reject((in), sizeof(in) - 1, (code), (needle))

static void test_spec_examples(void)
{
	CANON("{}", "{}");
	CANON("{\n    \"one\": 1,\n    \"two\": \"Two\"\n}", "{\"one\":1,\"two\":\"Two\"}");
	CANON("{\n    \"b\": \"2\",\n    \"a\": \"1\"\n}", "{\"a\":\"1\",\"b\":\"2\"}");
	CANON("{\"b\":\"2\",\"a\":\"1\"}", "{\"a\":\"1\",\"b\":\"2\"}");
	CANON("{\n    \"auth\": {\n        \"success\": true,\n        \"mxid\": \"@john.doe:example.com\",\n"
	      "        \"profile\": {\n            \"display_name\": \"John Doe\",\n"
	      "            \"three_pids\": [\n                {\n                    \"medium\": \"email\",\n"
	      "                    \"address\": \"john.doe@example.org\"\n                },\n"
	      "                {\n                    \"medium\": \"msisdn\",\n"
	      "                    \"address\": \"123456789\"\n                }\n            ]\n"
	      "        }\n    }\n}",
	      "{\"auth\":{\"mxid\":\"@john.doe:example.com\",\"profile\":{\"display_name\":\"John Doe\","
	      "\"three_pids\":[{\"address\":\"john.doe@example.org\",\"medium\":\"email\"},"
	      "{\"address\":\"123456789\",\"medium\":\"msisdn\"}]},\"success\":true}}");
	CANON("{\n    \"a\": \"日本語\"\n}", "{\"a\":\"日本語\"}");
	CANON("{\n    \"本\": 2,\n    \"日\": 1\n}", "{\"日\":1,\"本\":2}");
	CANON("{\n    \"a\": \"\\u65E5\"\n}", "{\"a\":\"日\"}");
	CANON("{\n    \"a\": null\n}", "{\"a\":null}");
	/* The spec's last example, {"a": -0, "b": 1e10}, shows a lenient encoder
	 * normalising numbers; its grammar forbids both forms, and mxdb's parser
	 * is strict, so that input is refused (see test_rejections). Its expected
	 * output is still what the writer produces for the normalised values. */
	json_t *v = json_pack("{s:I,s:I}", "a", (json_int_t)0, "b", (json_int_t)10000000000LL);
	char *out = NULL;
	CHECK(cj_dump(v, &out, NULL, NULL) == MXDB_OK);
	CHECK(out != NULL && strcmp(out, "{\"a\":0,\"b\":10000000000}") == 0);
	free(out);
	json_decref(v);
}

static void test_escapes_and_order(void)
{
	/* only the short escapes and \u00XX (lowercase) for other controls;
	 * '/' and non-ASCII stay raw; \u escapes of printable chars are undone */
	CANON("[\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t\"]", "[\"\\\" \\\\ / \\b \\f \\n \\r \\t\"]");
	CANON("[\"\\u0001\\u001F\\u007f\\u001b\"]", "[\"\\u0001\\u001f\x7f\\u001b\"]");
	CANON("[\"\\u0041\\u00e9\\ud83d\\ude00\"]", "[\"Aé😀\"]");
	CANON("\"\\u000b\"", "\"\\u000b\"");
	/* code point order, not locale or UTF-16 order: U+FF61 < U+1F600 */
	CANON("{\"😀\":1,\"｡\":2,\"€\":3,\"ä\":4,\"b\":5,\"a\":6,\"A\":7,\"\":8,\"10\":9,\"2\":10,\"1\":11}",
	      "{\"\":8,\"1\":11,\"10\":9,\"2\":10,\"A\":7,\"a\":6,\"b\":5,\"ä\":4,\"€\":3,\"｡\":2,\"😀\":1}");
	/* a key that is a prefix of another sorts first */
	CANON("{\"ab\":1,\"a\":2,\"abc\":3}", "{\"a\":2,\"ab\":1,\"abc\":3}");
	/* top-level scalars and nesting, whitespace dropped */
	CANON(" 42 ", "42");
	CANON("-7", "-7");
	CANON("0", "0");
	CANON("true", "true");
	CANON("[ false , null , [ ] , { } ]", "[false,null,[],{}]");
	/* the integer bounds are accepted */
	CANON("[9007199254740991,-9007199254740991]", "[9007199254740991,-9007199254740991]");
	/* strings that look like numbers are untouched by the number scan */
	CANON("{\"x\":\"1.5e3 -0\"}", "{\"x\":\"1.5e3 -0\"}");
	CANON("{\"x\":\"\\\"1.5\"}", "{\"x\":\"\\\"1.5\"}");
	/* more keys than the writer's stack array */
	char big_in[4096], big_want[4096];
	size_t bi = 0, bw = 0;
	bi += (size_t)sprintf(big_in + bi, "{");
	bw += (size_t)sprintf(big_want + bw, "{");
	for (int i = 99; i >= 0; i--)
		bi += (size_t)sprintf(big_in + bi, "%s\"k%02d\":%d", i == 99 ? "" : ",", i, i);
	for (int i = 0; i < 100; i++)
		bw += (size_t)sprintf(big_want + bw, "%s\"k%02d\":%d", i == 0 ? "" : ",", i, i);
	sprintf(big_in + bi, "}");
	sprintf(big_want + bw, "}");
	expect_canon(big_in, strlen(big_in), big_want);
	/* long strings whose escapes come late, grow the buffer past its
	 * first size, and end in a run of controls */
	for (size_t plain = 250; plain <= 1100; plain += 425) {
		char esc_in[8192], esc_want[8192];
		bi = bw = 0;
		esc_in[bi++] = esc_want[bw++] = '"';
		for (size_t i = 0; i < plain; i++)
			esc_in[bi++] = esc_want[bw++] = (char)('a' + i % 26);
		for (int i = 0; i < 300; i++) {
			bi += (size_t)sprintf(esc_in + bi, i % 3 ? "\\u0001" : "\\\"");
			bw += (size_t)sprintf(esc_want + bw, i % 3 ? "\\u0001" : "\\\"");
		}
		sprintf(esc_in + bi, "\"");
		sprintf(esc_want + bw, "\"");
		expect_canon(esc_in, strlen(esc_in), esc_want);
	}
}

static void test_rejections(void)
{
	REJECT("{\"a\":1.5}", MXDB_EBADJSON, "floating-point");
	REJECT("[1.0]", MXDB_EBADJSON, "floating-point");
	REJECT("[1e10]", MXDB_EBADJSON, "exponent");
	REJECT("[1E+2]", MXDB_EBADJSON, "exponent");
	REJECT("[-0]", MXDB_EBADJSON, "-0");
	REJECT("{\"a\": -0, \"b\": 1e10}", MXDB_EBADJSON, "-0");
	REJECT("-0", MXDB_EBADJSON, "-0");
	REJECT("[9007199254740992]", MXDB_EBADJSON, "2^53");
	REJECT("[-9007199254740992]", MXDB_EBADJSON, "2^53");
	REJECT("[99999999999999999999999]", MXDB_EBADJSON, "out of range");
	REJECT("[10000000000000000]", MXDB_EBADJSON, "2^53");
	REJECT("{\"a\":[1,{\"b\":-9999999999999999}]}", MXDB_EBADJSON, "2^53");
	/* the number scan finds the end of strings ending in escaped backslashes */
	REJECT("[\"\\\\\",1.5]", MXDB_EBADJSON, "floating-point");
	REJECT("[\"\\\\\\\"\",-0]", MXDB_EBADJSON, "-0");
	REJECT("{\"\\\\\":-0}", MXDB_EBADJSON, "-0");
	REJECT("{\"a\":1,\"a\":2}", MXDB_EBADJSON, "duplicate");
	REJECT("{\"b\":{\"x\":1,\"x\":1}}", MXDB_EBADJSON, "duplicate");
	REJECT("[\"a\xff\"]", MXDB_EBADJSON, "0xff");
	REJECT("[\"\xc0\x80\"]", MXDB_EBADJSON, "decode");         /* overlong NUL */
	REJECT("[\"\xed\xa0\x80\"]", MXDB_EBADJSON, "decode");     /* raw surrogate */
	REJECT("[\"\xf4\x90\x80\x80\"]", MXDB_EBADJSON, "decode"); /* > U+10FFFF */
	REJECT("{\"\xe6\x97\":1}", MXDB_EBADJSON, "decode");       /* truncated */
	REJECT("[\"\\ud800\"]", MXDB_EBADJSON, "surrogate");
	REJECT("[\"\\udc00x\"]", MXDB_EBADJSON, "surrogate");
	REJECT("[\"\\ud800\\u0041\"]", MXDB_EBADJSON, "surrogate");
	REJECT("[\"\\u0000\"]", MXDB_EBADJSON, "u0000");
	REJECT("[\"a\x00\"]", MXDB_ENOTJSON, "control character"); /* raw, unescaped */
	REJECT("[\"tab\there\"]", MXDB_ENOTJSON, "not JSON");
	REJECT("{\"a\":1", MXDB_ENOTJSON, "not JSON");
	REJECT("", MXDB_ENOTJSON, "not JSON");
	REJECT("[1] x", MXDB_ENOTJSON, "not JSON");
	REJECT("{}{}", MXDB_ENOTJSON, "not JSON");
	REJECT("[01]", MXDB_ENOTJSON, "not JSON");
	REJECT("[NaN]", MXDB_ENOTJSON, "not JSON");
	REJECT("{'a':1}", MXDB_ENOTJSON, "not JSON");
	/* the parser reads exactly len bytes: a valid prefix with garbage after */
	json_t *v = NULL;
	CHECK(cj_parse("[1]]]", 3, &v, NULL) == MXDB_OK && v != NULL);
	json_decref(v);
}

static void test_check_in_memory(void)
{
	mxdb_error err;
	json_t *v = json_pack("{s:[i,{s:f}]}", "a", 1, "b", 0.5);
	CHECK(cj_check(v, &err) == MXDB_EBADJSON && strstr(err.message, "floating") != NULL);
	char *out = (char *)1;
	CHECK(cj_dump(v, &out, NULL, &err) == MXDB_EBADJSON && out == NULL);
	json_decref(v);

	v = json_pack("{s:I}", "a", (json_int_t)CJ_MAX_INT + 1);
	CHECK(cj_check(v, &err) == MXDB_EBADJSON && strstr(err.message, "2^53") != NULL);
	CHECK(cj_dump(v, &out, NULL, &err) == MXDB_EBADJSON);
	json_decref(v);

	v = json_pack("[I,I]", (json_int_t)CJ_MAX_INT, (json_int_t)-CJ_MAX_INT);
	CHECK(cj_check(v, &err) == MXDB_OK);
	json_decref(v);

	/* strings jansson stored without checking */
	v = json_array();
	json_array_append_new(v, json_stringn_nocheck("a\0b", 3));
	CHECK(cj_check(v, &err) == MXDB_EBADJSON && strstr(err.message, "U+0000") != NULL);
	json_decref(v);
	v = json_object();
	json_object_set_new_nocheck(v, "\xff", json_true());
	CHECK(cj_check(v, &err) == MXDB_EBADJSON && strstr(err.message, "UTF-8") != NULL);
	json_decref(v);

	/* cj_dump_buf appends, reuses the buffer, and leaves it intact on error */
	cj_buf b = {0};
	v = json_pack("{s:s}", "k", "v");
	CHECK(cj_dump_buf(v, &b, NULL) == MXDB_OK && b.len == 9);
	CHECK(cj_dump_buf(v, &b, NULL) == MXDB_OK && b.len == 18);
	CHECK(strcmp(b.data, "{\"k\":\"v\"}{\"k\":\"v\"}") == 0);
	json_decref(v);
	v = json_pack("[i,f]", 1, 2.5);
	CHECK(cj_dump_buf(v, &b, NULL) == MXDB_EBADJSON && b.len == 18);
	json_decref(v);
	cj_buf_free(&b);
	CHECK(b.data == NULL && b.len == 0);
}

static void test_b64(void)
{
	const unsigned char bin[] = {0xfb, 0xff, 0x00, 0x61, 0x62};
	char out[B64_ENCODED_SIZE(5)];
	unsigned char back[8];
	b64_encode(bin, 5, out);
	CHECK(strcmp(out, "+/8AYWI") == 0);
	b64_encode_url(bin, 5, out);
	CHECK(strcmp(out, "-_8AYWI") == 0);
	CHECK(b64_decode("+/8AYWI", 7, back, sizeof(back)) == 5 && memcmp(back, bin, 5) == 0);
	CHECK(b64_decode("+/8AYWI=", 8, back, sizeof(back)) == 5 && memcmp(back, bin, 5) == 0);
	CHECK(b64_decode_url("-_8AYWI", 7, back, sizeof(back)) == 5 && memcmp(back, bin, 5) == 0);
	CHECK(b64_decode_url("-_8AYWI=", 8, back, sizeof(back)) == 5);
	CHECK(b64_decode("YQ==", 4, back, sizeof(back)) == 1 && back[0] == 'a');
	CHECK(b64_decode("YQ", 2, back, sizeof(back)) == 1 && back[0] == 'a');
	CHECK(b64_decode("", 0, back, sizeof(back)) == 0);
	/* unused low bits set in the last character, as in the spec's test seed */
	CHECK(b64_decode("YR", 2, back, sizeof(back)) == 1 && back[0] == 'a');
	CHECK(b64_decode("YWJ", 3, back, sizeof(back)) == 2 && memcmp(back, "ab", 2) == 0);
	CHECK(b64_decode_url("_-", 2, back, sizeof(back)) == 1 && back[0] == 0xff);
	CHECK(b64_decode("Y!", 2, back, sizeof(back)) == -1);
	/* wrong alphabet, bad padding, stray bytes, overflow */
	CHECK(b64_decode("-_8AYWI", 7, back, sizeof(back)) == -1);
	CHECK(b64_decode_url("+/8AYWI", 7, back, sizeof(back)) == -1);
	CHECK(b64_decode("YQ=", 3, back, sizeof(back)) == -1);
	CHECK(b64_decode("YQ===", 5, back, sizeof(back)) == -1);
	CHECK(b64_decode("Y", 1, back, sizeof(back)) == -1);
	CHECK(b64_decode("YQ x", 4, back, sizeof(back)) == -1);
	CHECK(b64_decode("+/8AYWI", 7, back, 4) == -1);
}

int main(void)
{
	test_spec_examples();
	test_escapes_and_order();
	test_rejections();
	test_check_in_memory();
	test_b64();
	return test_summary("test_cjson");
}
