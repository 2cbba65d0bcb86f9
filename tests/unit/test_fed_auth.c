/* test_fed_auth.c: X-Matrix headers: a vector made with Python's signedjson,
 * the header grammar, and every way a request signature must fail. */
#include <stdlib.h>
#include <string.h>

#include "fed_auth.h"
#include "testutil.h"

/* Computed independently with signedjson.sign.sign_json over the same JSON,
 * seed bytes 0..31, key version k1. */
static const char vector_sig[] =
	"CDxSgKF5IIdU08FfRcgtW0INfRVdeg9LafYgO0g98rJad87fQhuehJPR/YQNV6+lL9D9nAF5iqy8c/G5UJulCQ";
static const char vector_uri[] = "/_matrix/federation/v1/send/t1?x=1";
static const char vector_content[] =
	"{\"pdus\":[],\"edus\":[{\"edu_type\":\"m.typing\",\"content\":{\"room_id\":\"!r:origin.example\","
	"\"typing\":true,\"user_id\":\"@u:origin.example\"}}]}";

static mx_key vector_key(void)
{
	unsigned char seed[32];
	mx_key k;
	for (int i = 0; i < 32; i++)
		seed[i] = (unsigned char)i;
	if (key_from_seed(&k, seed, "k1", NULL) != MXDB_OK)
		abort();
	return k;
}

static mxdb_status verify_text(const char *hdr, const char *us, const char *method, const char *uri,
                               const json_t *content, const unsigned char pk[32])
{
	fed_auth_params p;
	mxdb_error err;
	mxdb_status st = fed_auth_parse(hdr, &p, &err);
	if (st != MXDB_OK)
		return st;
	return fed_auth_verify(&p, us, method, uri, content, pk, &err);
}

static void test_vector(void)
{
	mx_key k = vector_key();
	json_t *content = json_loads(vector_content, 0, NULL);
	char *hdr = NULL;
	mxdb_error err;
	CHECK(fed_auth_header(&k, "origin.example", "dest.example:8448", "PUT", vector_uri, content,
	                      &hdr, &err) == MXDB_OK);
	char want[512];
	snprintf(want, sizeof(want),
	         "X-Matrix origin=\"origin.example\",destination=\"dest.example:8448\","
	         "key=\"ed25519:k1\",sig=\"%s\"",
	         vector_sig);
	CHECK_MSG(hdr && strcmp(hdr, want) == 0, "got %s", hdr ? hdr : "(null)");
	CHECK(verify_text(hdr, "dest.example:8448", "PUT", vector_uri, content, k.pk) == MXDB_OK);

	/* Each part of the request is covered by the signature. */
	CHECK(verify_text(hdr, "dest.example:8448", "POST", vector_uri, content, k.pk) == MXDB_ESIGNATURE);
	CHECK(verify_text(hdr, "dest.example:8448", "PUT", "/_matrix/federation/v1/send/t2?x=1", content,
	                  k.pk) == MXDB_ESIGNATURE);
	CHECK(verify_text(hdr, "dest.example:8448", "PUT", vector_uri, NULL, k.pk) == MXDB_ESIGNATURE);
	json_t *other = json_pack("{s:[]}", "pdus");
	CHECK(verify_text(hdr, "dest.example:8448", "PUT", vector_uri, other, k.pk) == MXDB_ESIGNATURE);
	json_decref(other);

	/* Wrong destination: refused before any signature arithmetic. */
	CHECK(verify_text(hdr, "other.example", "PUT", vector_uri, content, k.pk) == MXDB_ESIGNATURE);

	/* Wrong key: another server's (or a rotated) public key. */
	mx_key k2;
	CHECK(key_generate(&k2, &err) == MXDB_OK);
	CHECK(verify_text(hdr, "dest.example:8448", "PUT", vector_uri, content, k2.pk) == MXDB_ESIGNATURE);

	/* Forged signature: one character changed, and one made by another key. */
	char forged[512];
	snprintf(forged, sizeof(forged), "%s", hdr);
	char *s = strstr(forged, "sig=\"") + 5;
	s[3] = s[3] == 'A' ? 'B' : 'A';
	CHECK(verify_text(forged, "dest.example:8448", "PUT", vector_uri, content, k.pk) == MXDB_ESIGNATURE);
	char *hdr2 = NULL;
	CHECK(fed_auth_header(&k2, "origin.example", "dest.example:8448", "PUT", vector_uri, content,
	                      &hdr2, &err) == MXDB_OK);
	/* k2 has its own key ID; give it k1's ID to impersonate. */
	char imp[512];
	snprintf(imp, sizeof(imp),
	         "X-Matrix origin=\"origin.example\",destination=\"dest.example:8448\","
	         "key=\"ed25519:k1\",sig=\"%s\"", strstr(hdr2, "sig=\"") + 5);
	imp[strlen(imp) - 1] = '\0';
	strcat(imp, "\"");
	CHECK(verify_text(imp, "dest.example:8448", "PUT", vector_uri, content, k.pk) == MXDB_ESIGNATURE);
	free(hdr2);
	free(hdr);
	json_decref(content);
}

static void test_grammar(void)
{
	fed_auth_params p;
	mxdb_error err;
	/* Unquoted values, colons unquoted, spaces and tabs round commas, any case,
	 * escapes in quoted strings, unknown parameters. */
	CHECK(fed_auth_parse("x-matrix  ORIGIN=a.example:8448 ,\tKey=\"ed25519:k\\1\" , "
	                     "foo=\"bar,baz\",sig=abc+/,destination=b.example",
	                     &p, &err) == MXDB_OK);
	CHECK(strcmp(p.origin, "a.example:8448") == 0);
	CHECK(strcmp(p.key, "ed25519:k1") == 0);
	CHECK(strcmp(p.sig, "abc+/") == 0);
	CHECK(strcmp(p.destination, "b.example") == 0);

	CHECK(fed_auth_parse("X-Matrix origin=a,key=\"ed25519:k\",sig=s", &p, &err) == MXDB_OK);
	CHECK(p.destination[0] == '\0');

	const char *bad[] = {
		"Bearer abc",
		"X-Matrix",
		"X-Matrixorigin=a,key=k,sig=s",
		"X-Matrix origin=a,key=\"ed25519:k\"",                /* no sig */
		"X-Matrix key=\"ed25519:k\",sig=s",                   /* no origin */
		"X-Matrix origin=\"a,key=\"ed25519:k\",sig=s",        /* unterminated quote */
		"X-Matrix origin=a key=k sig=s",                      /* no commas */
		"X-Matrix origin=,key=k,sig=s",                       /* empty token */
		"X-Matrix origin=a;b,key=k,sig=s",                    /* not a token */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_MSG(fed_auth_parse(bad[i], &p, &err) == MXDB_ESIGNATURE, "accepted: %s", bad[i]);

	char longv[600];
	memset(longv, 'a', sizeof(longv));
	memcpy(longv, "X-Matrix key=k,sig=s,origin=", 28);
	longv[sizeof(longv) - 1] = '\0';
	CHECK(fed_auth_parse(longv, &p, &err) == MXDB_ESIGNATURE);
}

static void test_no_destination(void)
{
	/* Servers before v1.3 send no destination but sign ours. */
	mx_key k = vector_key();
	char *hdr = NULL;
	mxdb_error err;
	CHECK(fed_auth_header(&k, "o.example", "us.example", "GET", "/_matrix/federation/v1/version",
	                      NULL, &hdr, &err) == MXDB_OK);
	char old[512];
	snprintf(old, sizeof(old), "X-Matrix origin=o.example,key=\"ed25519:k1\",%s",
	         strstr(hdr, "sig="));
	CHECK(verify_text(old, "us.example", "GET", "/_matrix/federation/v1/version", NULL, k.pk) ==
	      MXDB_OK);
	CHECK(verify_text(old, "them.example", "GET", "/_matrix/federation/v1/version", NULL, k.pk) ==
	      MXDB_ESIGNATURE);
	free(hdr);
	CHECK(fed_auth_header(&k, "o\"x", "us", "GET", "/x", NULL, &hdr, &err) == MXDB_EINVAL);
	CHECK(fed_auth_header(&k, "o", "us", "GET", "x", NULL, &hdr, &err) == MXDB_EINVAL);
}

int main(void)
{
	test_vector();
	test_grammar();
	test_no_destination();
	return test_summary("test_fed_auth");
}
