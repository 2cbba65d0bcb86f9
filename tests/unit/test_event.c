/* test_event.c: the event format: room-version table, redaction per
 * version, content hash, event IDs (against values computed independently
 * with Python's canonicaljson + hashlib), the v12 room ID, every rejection
 * of ev_from_json, and the spec's event-signing test vectors. */
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "cjson.h"
#include "ev.h"
#include "testutil.h"

static json_t *parse(const char *text)
{
	json_t *v = NULL;
	mxdb_error err;
	mxdb_status st = cj_parse(text, strlen(text), &v, &err);
	CHECK_MSG(st == MXDB_OK, "parse %s: %s", text, err.message);
	return v;
}

static const mx_room_version *V(const char *id)
{
	const mx_room_version *rv = rv_get(id);
	CHECK_MSG(rv != NULL, "room version %s", id);
	return rv;
}

/* ---- room versions ---------------------------------------------------- */

static void test_room_versions(void)
{
	const char *const *ids = rv_supported();
	size_t n = 0;
	for (; ids[n] != NULL; n++) {
		const mx_room_version *rv = rv_get(ids[n]);
		CHECK_MSG(rv != NULL && strcmp(rv->id, ids[n]) == 0, "%s", ids[n]);
	}
	CHECK(n == 3);
	CHECK(rv_get("9") == NULL);
	CHECK(rv_get("1") == NULL);
	CHECK(rv_get("") == NULL);
	CHECK(rv_get(NULL) == NULL);
	CHECK(rv_get("10 ") == NULL);
	CHECK(rv_default() == rv_get("12"));
	CHECK(V("10")->stateres == MX_STATERES_V2);
	CHECK(V("11")->stateres == MX_STATERES_V2);
	CHECK(V("12")->stateres == MX_STATERES_V2_1);
	CHECK(!V("10")->redacts_in_content && V("11")->redacts_in_content);
	CHECK(V("10")->create_has_creator_key && !V("11")->create_has_creator_key);
	CHECK(!V("11")->room_id_from_create && V("12")->room_id_from_create);
	CHECK(!V("11")->creators_infinite_power && V("12")->creators_infinite_power);
}

/* ---- redaction -------------------------------------------------------- */

/* Redacts the event text under version v and compares with want (canonical). */
static void expect_redacted(const char *v, const char *event, const char *want)
{
	json_t *pdu = parse(event);
	json_t *red = ev_redact(pdu, V(v));
	char *got = NULL;
	size_t len;
	mxdb_error err;
	CHECK_MSG(red != NULL && cj_dump(red, &got, &len, &err) == MXDB_OK, "v%s: %s", v, event);
	if (got != NULL)
		CHECK_MSG(strcmp(got, want) == 0, "v%s redact %s\n   got  %s\n   want %s", v, event,
		          got, want);
	free(got);
	json_decref(red);
	json_decref(pdu);
}

#define BASE "\"room_id\":\"!r:x\",\"sender\":\"@a:x\",\"depth\":4,\"origin_server_ts\":7," \
             "\"prev_events\":[\"$p\"],\"auth_events\":[\"$a\"]"
#define BASE_CANON "\"auth_events\":[\"$a\"],\"depth\":4,\"origin_server_ts\":7," \
                   "\"prev_events\":[\"$p\"],\"room_id\":\"!r:x\",\"sender\":\"@a:x\""

static void test_redact_top_level(void)
{
	const char *ev = "{" BASE ",\"type\":\"m.room.message\",\"content\":{\"body\":\"hi\"},"
	                 "\"origin\":\"x\",\"membership\":\"join\",\"prev_state\":[],"
	                 "\"unsigned\":{\"age\":1},\"age_ts\":3,\"foo\":1,\"event_id\":\"$e\","
	                 "\"hashes\":{\"sha256\":\"h\"},\"signatures\":{\"x\":{\"k\":\"s\"}}}";
	const char *v10 = "{" BASE_CANON ",\"content\":{},\"event_id\":\"$e\",\"hashes\":{\"sha256\":\"h\"},"
	                  "\"membership\":\"join\",\"origin\":\"x\",\"prev_state\":[],"
	                  "\"signatures\":{\"x\":{\"k\":\"s\"}},\"type\":\"m.room.message\"}";
	const char *v11 = "{" BASE_CANON ",\"content\":{},\"event_id\":\"$e\",\"hashes\":{\"sha256\":\"h\"},"
	                  "\"signatures\":{\"x\":{\"k\":\"s\"}},\"type\":\"m.room.message\"}";
	/* The canonical form sorts keys, so fix the expectations' order. */
	json_t *w10 = parse(v10), *w11 = parse(v11);
	char *c10, *c11;
	size_t len;
	cj_dump(w10, &c10, &len, NULL);
	cj_dump(w11, &c11, &len, NULL);
	expect_redacted("10", ev, c10);
	expect_redacted("11", ev, c11);
	expect_redacted("12", ev, c11);
	free(c10);
	free(c11);
	json_decref(w10);
	json_decref(w11);
}

/* One event type with a content; the kept content per version. */
static const struct content_case {
	const char *type, *content, *v10, *v11; /* v12 redacts as v11 */
} content_cases[] = {
	{"m.room.member",
	 "{\"membership\":\"invite\",\"join_authorised_via_users_server\":\"@b:x\",\"displayname\":\"A\","
	 "\"third_party_invite\":{\"display_name\":\"A\",\"signed\":{\"mxid\":\"@a:x\",\"token\":\"t\"}}}",
	 "{\"join_authorised_via_users_server\":\"@b:x\",\"membership\":\"invite\"}",
	 "{\"join_authorised_via_users_server\":\"@b:x\",\"membership\":\"invite\","
	 "\"third_party_invite\":{\"signed\":{\"mxid\":\"@a:x\",\"token\":\"t\"}}}"},
	/* third_party_invite without signed, or not an object: dropped. */
	{"m.room.member", "{\"membership\":\"join\",\"third_party_invite\":{\"display_name\":\"A\"}}",
	 "{\"membership\":\"join\"}", "{\"membership\":\"join\"}"},
	{"m.room.member", "{\"membership\":\"join\",\"third_party_invite\":\"signed\"}",
	 "{\"membership\":\"join\"}", "{\"membership\":\"join\"}"},
	{"m.room.create",
	 "{\"creator\":\"@a:x\",\"room_version\":\"10\",\"m.federate\":false,\"predecessor\":{\"room_id\":\"!o:x\"}}",
	 "{\"creator\":\"@a:x\"}",
	 "{\"creator\":\"@a:x\",\"m.federate\":false,\"predecessor\":{\"room_id\":\"!o:x\"},\"room_version\":\"10\"}"},
	{"m.room.join_rules",
	 "{\"join_rule\":\"restricted\",\"allow\":[{\"type\":\"m.room_membership\",\"room_id\":\"!o:x\"}],\"x\":1}",
	 "{\"allow\":[{\"room_id\":\"!o:x\",\"type\":\"m.room_membership\"}],\"join_rule\":\"restricted\"}",
	 "{\"allow\":[{\"room_id\":\"!o:x\",\"type\":\"m.room_membership\"}],\"join_rule\":\"restricted\"}"},
	{"m.room.power_levels",
	 "{\"ban\":50,\"events\":{\"m.room.name\":100},\"events_default\":0,\"invite\":0,\"kick\":50,"
	 "\"redact\":50,\"state_default\":50,\"users\":{\"@a:x\":100},\"users_default\":0,"
	 "\"notifications\":{\"room\":50},\"historical\":100}",
	 "{\"ban\":50,\"events\":{\"m.room.name\":100},\"events_default\":0,\"kick\":50,\"redact\":50,"
	 "\"state_default\":50,\"users\":{\"@a:x\":100},\"users_default\":0}",
	 "{\"ban\":50,\"events\":{\"m.room.name\":100},\"events_default\":0,\"invite\":0,\"kick\":50,"
	 "\"redact\":50,\"state_default\":50,\"users\":{\"@a:x\":100},\"users_default\":0}"},
	{"m.room.history_visibility", "{\"history_visibility\":\"shared\",\"x\":1}",
	 "{\"history_visibility\":\"shared\"}", "{\"history_visibility\":\"shared\"}"},
	{"m.room.redaction", "{\"redacts\":\"$e\",\"reason\":\"spam\"}", "{}", "{\"redacts\":\"$e\"}"},
	{"m.room.message", "{\"body\":\"hi\",\"msgtype\":\"m.text\"}", "{}", "{}"},
	{"com.example.todo", "{\"title\":\"milk\",\"membership\":\"join\"}", "{}", "{}"},
	{"m.room.name", "{\"name\":\"n\"}", "{}", "{}"},
};

static void test_redact_content(void)
{
	for (size_t i = 0; i < sizeof(content_cases) / sizeof(content_cases[0]); i++) {
		const struct content_case *c = &content_cases[i];
		char ev[1024], want[1024];
		snprintf(ev, sizeof(ev), "{" BASE ",\"type\":\"%s\",\"state_key\":\"\",\"content\":%s}",
		         c->type, c->content);
		const char *per_version[] = {"10", c->v10, "11", c->v11, "12", c->v11};
		for (size_t k = 0; k < 6; k += 2) {
			snprintf(want, sizeof(want),
			         "{" BASE_CANON ",\"content\":%s,\"state_key\":\"\",\"type\":\"%s\"}",
			         per_version[k + 1], c->type);
			/* Canonicalize want: "content" sorts between the BASE keys. */
			json_t *w = parse(want);
			char *canon;
			size_t len;
			cj_dump(w, &canon, &len, NULL);
			expect_redacted(per_version[k], ev, canon);
			free(canon);
			json_decref(w);
		}
	}
}

static void test_redact_is_a_copy(void)
{
	json_t *pdu = parse("{" BASE ",\"type\":\"m.room.power_levels\",\"state_key\":\"\","
	                    "\"content\":{\"users\":{\"@a:x\":100}}}");
	json_t *red = ev_redact(pdu, V("11"));
	json_object_set_new(json_object_get(json_object_get(red, "content"), "users"), "@b:x",
	                    json_integer(1));
	CHECK(json_object_size(json_object_get(json_object_get(pdu, "content"), "users")) == 1);
	json_decref(red);
	CHECK(ev_redact(json_array_get(json_object_get(pdu, "prev_events"), 0), V("11")) == NULL);
	json_decref(pdu);
}

/* ---- event IDs ---------------------------------------------------------- */

static void id_of(const char *v, json_t *pdu, char out[EV_ID_SIZE])
{
	mxdb_error err;
	mxdb_status st = ev_compute_id(pdu, V(v), out, &err);
	CHECK_MSG(st == MXDB_OK, "ev_compute_id: %s", err.message);
	if (st != MXDB_OK)
		out[0] = '\0';
}

/* Expected IDs computed with tests/integration/test_event_id.py's
 * event_id() (Python canonicaljson + hashlib, its own redaction code). */
static const struct known_id {
	const char *version, *event, *id;
} known_ids[] = {
	{"10",
	 "{\"auth_events\":[\"$a1\",\"$a2\"],\"content\":{\"displayname\":\"A\",\"membership\":\"join\","
	 "\"third_party_invite\":{\"display_name\":\"A\",\"signed\":{\"mxid\":\"@a:x.org\",\"token\":\"t\"}}},"
	 "\"depth\":5,\"hashes\":{\"sha256\":\"abc\"},\"membership\":\"join\",\"origin\":\"x.org\","
	 "\"origin_server_ts\":1700000000000,\"prev_events\":[\"$p1\"],\"room_id\":\"!r:x.org\","
	 "\"sender\":\"@a:x.org\",\"signatures\":{\"x.org\":{\"ed25519:a\":\"sig\"}},"
	 "\"state_key\":\"@a:x.org\",\"type\":\"m.room.member\",\"unsigned\":{\"age\":5}}",
	 "$WxLN1nDHtR_A76eIdoRtBOXdyZTasVhfFdF4LKhSXDo"},
	{"11", NULL, "$0Z7aShWCREXItqnHjlzDs3t9zLg4lX2SQCYGiytn79g"}, /* NULL: same event */
	{"12", NULL, "$0Z7aShWCREXItqnHjlzDs3t9zLg4lX2SQCYGiytn79g"},
	{"10",
	 "{\"auth_events\":[],\"content\":{\"body\":\"hi\",\"msgtype\":\"m.text\"},\"depth\":9,"
	 "\"hashes\":{\"sha256\":\"aGFzaA\"},\"origin_server_ts\":5,\"prev_events\":[\"$x\"],"
	 "\"room_id\":\"!r:x.org\",\"sender\":\"@u:x.org\",\"type\":\"m.room.message\"}",
	 "$HxjicoUyadAVW9i5AhlATMUSGAvpY1NAnG8wBF04qPQ"},
	{"12", NULL, "$HxjicoUyadAVW9i5AhlATMUSGAvpY1NAnG8wBF04qPQ"},
};

/* A real event: the create event of a room version 5 room on jki.re (2019),
 * as published with its ID in matrix-org/gomatrixserverlib's test data.
 * Rooms v5 and v10 redact a create event alike, so the v10 ID must match,
 * and its content hash was computed by Synapse. */
static const char real_v5_create[] =
	"{\"auth_events\": [], \"prev_events\": [], \"type\": \"m.room.create\", "
	"\"room_id\": \"!uXDCzlYgCTHtiWCkEx:jki.re\", \"sender\": \"@erikj:jki.re\", "
	"\"content\": {\"room_version\": \"5\", \"predecessor\": {\"room_id\": "
	"\"!gdRMqOrTFdOCYHNwOo:half-shot.uk\", \"event_id\": "
	"\"$LP7ROBc4b+cMc1UE9haIz8q5AK2AIW4eJ90FfKLvyZI\"}, \"creator\": \"@erikj:jki.re\"}, "
	"\"depth\": 1, \"prev_state\": [], \"state_key\": \"\", \"origin\": \"jki.re\", "
	"\"origin_server_ts\": 1560284621137, \"hashes\": {\"sha256\": "
	"\"IX6zuNiJpJPNf70BLleL3HSCpjKeq9Uhu7uUpyDjBmc\"}, \"signatures\": {\"jki.re\": "
	"{\"ed25519:auto\": \"O4IyFfF2PPtGp5uaDm8t57dZbdh8vc8Q64LgCwvzYRVItAMI0uisfiAFaxkVT7MRpzh6N2QNN5NMRXZKmgPYDA\"}}, "
	"\"unsigned\": {\"age\": 1321650}}";

static void test_real_event(void)
{
	json_t *pdu = parse(real_v5_create);
	char id[EV_ID_SIZE];
	mxdb_error err;
	id_of("10", pdu, id);
	CHECK_MSG(strcmp(id, "$RrGxF28UrHLmoASHndYb9Jb_1SFww2ptmtur9INS438") == 0, "got %s", id);
	CHECK_MSG(ev_check_content_hash(pdu, &err) == MXDB_OK, "%s", err.message);
	/* v11 redacts it differently (no origin, the whole content). */
	id_of("11", pdu, id);
	CHECK(strcmp(id, "$RrGxF28UrHLmoASHndYb9Jb_1SFww2ptmtur9INS438") != 0);
	json_decref(pdu);
}

static const char v12_create[] =
	"{\"auth_events\":[],\"content\":{\"additional_creators\":[\"@bob:node2.example\"],"
	"\"m.federate\":true,\"room_version\":\"12\"},\"depth\":1,\"hashes\":{\"sha256\":\"Ym9ndXM\"},"
	"\"origin_server_ts\":1764000000000,\"prev_events\":[],\"sender\":\"@alice:node1.example\","
	"\"signatures\":{\"node1.example\":{\"ed25519:a_1\":\"c2ln\"}},\"state_key\":\"\","
	"\"type\":\"m.room.create\",\"unsigned\":{\"age_ts\":1}}";
#define V12_CREATE_ID "9_AbP97-RT8PglHCVUkt1gFBWQvVzbLra3gtlLgkYsc"

static void test_known_ids(void)
{
	const char *event = NULL;
	for (size_t i = 0; i < sizeof(known_ids) / sizeof(known_ids[0]); i++) {
		const struct known_id *k = &known_ids[i];
		if (k->event != NULL)
			event = k->event;
		json_t *pdu = parse(event);
		char id[EV_ID_SIZE];
		id_of(k->version, pdu, id);
		CHECK_MSG(strcmp(id, k->id) == 0, "v%s: got %s want %s", k->version, id, k->id);
		/* ev_from_json computes the same ID. */
		ev_t *ev = NULL;
		mxdb_error err;
		CHECK_MSG(ev_from_json(pdu, NULL, V(k->version), &ev, &err) == MXDB_OK, "%s", err.message);
		CHECK(ev != NULL && strcmp(ev->event_id, k->id) == 0);
		ev_free(ev);
		json_decref(pdu);
	}
	json_t *create = parse(v12_create);
	char id[EV_ID_SIZE];
	id_of("12", create, id);
	CHECK(strcmp(id, "$" V12_CREATE_ID) == 0);
	json_decref(create);
}

static void test_id_stability(void)
{
	json_t *pdu = parse("{" BASE ",\"type\":\"m.room.power_levels\",\"state_key\":\"\","
	                    "\"content\":{\"ban\":50,\"note\":\"x\"}}");
	mxdb_error err;
	CHECK(ev_add_content_hash(pdu, &err) == MXDB_OK);
	for (int v = 10; v <= 12; v++) {
		char ver[4], id0[EV_ID_SIZE], id1[EV_ID_SIZE];
		snprintf(ver, sizeof(ver), "%d", v);
		json_t *e = json_deep_copy(pdu);
		id_of(ver, e, id0);
		CHECK(id0[0] == '$' && strlen(id0) == 44);
		CHECK(strchr(id0, '+') == NULL && strchr(id0, '/') == NULL && strchr(id0, '=') == NULL);
		/* unsigned and signatures do not count. */
		json_object_set_new(e, "unsigned", json_pack("{s:i}", "age", 5));
		json_object_set_new(e, "signatures", json_pack("{s:{s:s}}", "x", "ed25519:a", "AAAA"));
		id_of(ver, e, id1);
		CHECK_MSG(strcmp(id0, id1) == 0, "v%s: unsigned/signatures changed the ID", ver);
		/* A key the redaction drops, without rehashing: same ID. */
		json_object_set_new(json_object_get(e, "content"), "note", json_string("y"));
		id_of(ver, e, id1);
		CHECK_MSG(strcmp(id0, id1) == 0, "v%s: a dropped content key changed the ID", ver);
		/* ... but the content hash sees it, and the ID follows the hash. */
		CHECK(ev_check_content_hash(e, &err) == MXDB_EHASH);
		CHECK(ev_add_content_hash(e, &err) == MXDB_OK);
		CHECK(ev_check_content_hash(e, &err) == MXDB_OK);
		id_of(ver, e, id1);
		CHECK_MSG(strcmp(id0, id1) != 0, "v%s: the content hash did not change the ID", ver);
		/* A kept key changes the ID even with the old hash. */
		json_decref(e);
		e = json_deep_copy(pdu);
		json_object_set_new(json_object_get(e, "content"), "ban", json_integer(51));
		id_of(ver, e, id1);
		CHECK_MSG(strcmp(id0, id1) != 0, "v%s: a kept content key did not change the ID", ver);
		json_decref(e);
	}
	/* origin counts in v10 and not from v11. */
	char a[EV_ID_SIZE], b[EV_ID_SIZE];
	json_t *e = json_deep_copy(pdu);
	id_of("10", e, a);
	json_object_set_new(e, "origin", json_string("x"));
	id_of("10", e, b);
	CHECK(strcmp(a, b) != 0);
	id_of("11", pdu, a);
	id_of("11", e, b);
	CHECK(strcmp(a, b) == 0);
	json_decref(e);
	json_decref(pdu);
}

static void test_content_hash(void)
{
	json_t *pdu = parse("{\"a\":1,\"hashes\":{\"sha256\":\"zz\",\"other\":\"k\"},"
	                    "\"signatures\":{},\"unsigned\":{\"x\":1}}");
	unsigned char got[32], want[32];
	mxdb_error err;
	CHECK(ev_content_hash(pdu, got, &err) == MXDB_OK);
	crypto_hash_sha256(want, (const unsigned char *)"{\"a\":1}", 7);
	CHECK(memcmp(got, want, 32) == 0);
	CHECK(ev_check_content_hash(pdu, &err) == MXDB_EHASH);
	CHECK(ev_add_content_hash(pdu, &err) == MXDB_OK);
	char text[B64_ENCODED_SIZE(32)];
	b64_encode(want, 32, text);
	CHECK(strcmp(json_string_value(json_object_get(json_object_get(pdu, "hashes"), "sha256")),
	             text) == 0);
	CHECK(strchr(text, '=') == NULL && strlen(text) == 43);
	CHECK(json_object_get(json_object_get(pdu, "hashes"), "other") != NULL);
	CHECK(ev_check_content_hash(pdu, &err) == MXDB_OK);
	json_object_del(pdu, "hashes");
	CHECK(ev_check_content_hash(pdu, &err) == MXDB_EHASH);
	json_object_set_new(pdu, "hashes", json_pack("{s:s}", "sha256", "not base64!"));
	CHECK(ev_check_content_hash(pdu, &err) == MXDB_EHASH);
	json_decref(pdu);
}

static void test_v12_room_id(void)
{
	json_t *create = parse(v12_create);
	char room[EV_ID_SIZE];
	mxdb_error err;
	CHECK_MSG(ev_room_id_from_create(create, V("12"), room, &err) == MXDB_OK, "%s", err.message);
	CHECK_MSG(strcmp(room, "!" V12_CREATE_ID) == 0, "got %s", room);
	CHECK(ev_room_id_from_create(create, V("11"), room, &err) == MXDB_EVERSION);
	/* A v12 create event with a room_id is rejected by the auth rules (1.2). */
	json_object_set_new(create, "room_id", json_string("!x:y"));
	CHECK(ev_room_id_from_create(create, V("12"), room, &err) == MXDB_EBADJSON);
	json_object_del(create, "room_id");
	json_object_set_new(create, "type", json_string("m.room.member"));
	CHECK(ev_room_id_from_create(create, V("12"), room, &err) == MXDB_EBADJSON);
	json_decref(create);

	/* ev_from_json: room_id may be absent only for a v12 create event. */
	create = parse(v12_create);
	ev_t *ev = NULL;
	CHECK(ev_from_json(create, NULL, V("12"), &ev, &err) == MXDB_OK);
	CHECK(ev != NULL && ev->room_id == NULL && strcmp(ev->event_id, "$" V12_CREATE_ID) == 0);
	ev_free(ev);
	CHECK(ev_from_json(create, NULL, V("11"), &ev, &err) == MXDB_EBADJSON && ev == NULL);
	CHECK(strstr(err.message, "room_id") != NULL);
	json_object_set_new(create, "type", json_string("m.room.member"));
	CHECK(ev_from_json(create, NULL, V("12"), &ev, &err) == MXDB_EBADJSON);
	json_decref(create);
}

/* ---- signing (spec appendices, "Cryptographic Test Vectors") ------------ */

static void spec_key(mx_key *key)
{
	unsigned char seed[32];
	const char *seed_b64 = "YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1";
	CHECK(b64_decode(seed_b64, strlen(seed_b64), seed, sizeof(seed)) == 32);
	CHECK(key_from_seed(key, seed, "1", NULL) == MXDB_OK);
	CHECK(strcmp(key->key_id, "ed25519:1") == 0);
}

static const char *sig_of(const json_t *pdu, const char *server, const char *key_id)
{
	return json_string_value(
		json_object_get(json_object_get(json_object_get(pdu, "signatures"), server), key_id));
}

/* Signs the spec's input event and compares every byte with its output. */
static void expect_spec_signing(const char *in, const char *want_out, const char *want_hash,
                                const char *want_sig)
{
	mx_key key;
	mxdb_error err;
	spec_key(&key);
	json_t *pdu = parse(in);
	CHECK_MSG(ev_hash_and_sign(pdu, V("10"), &key, "domain", &err) == MXDB_OK, "%s", err.message);
	const char *hash = json_string_value(json_object_get(json_object_get(pdu, "hashes"), "sha256"));
	CHECK_MSG(hash != NULL && strcmp(hash, want_hash) == 0, "hash %s", hash);
	const char *sig = sig_of(pdu, "domain", "ed25519:1");
	CHECK_MSG(sig != NULL && strcmp(sig, want_sig) == 0, "signature %s", sig);
	json_t *want = parse(want_out);
	CHECK(json_equal(pdu, want));
	/* And it verifies, whole and redacted, with the public key alone. */
	CHECK(ev_check_content_hash(pdu, &err) == MXDB_OK);
	CHECK_MSG(ev_check_signature(pdu, V("10"), "domain", "ed25519:1", key.pk, &err) == MXDB_OK,
	          "%s", err.message);
	json_t *red = ev_redact(pdu, V("10"));
	CHECK(ev_check_signature(red, V("10"), "domain", "ed25519:1", key.pk, &err) == MXDB_OK);
	json_decref(red);
	json_decref(want);
	json_decref(pdu);
}

static void test_spec_signing_vectors(void)
{
	expect_spec_signing(
		"{\"room_id\":\"!x:domain\",\"sender\":\"@a:domain\",\"origin\":\"domain\","
		"\"origin_server_ts\":1000000,\"signatures\":{},\"hashes\":{},\"type\":\"X\","
		"\"content\":{},\"prev_events\":[],\"auth_events\":[],\"depth\":3,"
		"\"unsigned\":{\"age_ts\":1000000}}",
		"{\"auth_events\":[],\"content\":{},\"depth\":3,"
		"\"hashes\":{\"sha256\":\"5jM4wQpv6lnBo7CLIghJuHdW+s2CMBJPUOGOC89ncos\"},"
		"\"origin\":\"domain\",\"origin_server_ts\":1000000,\"prev_events\":[],"
		"\"room_id\":\"!x:domain\",\"sender\":\"@a:domain\",\"signatures\":{\"domain\":{"
		"\"ed25519:1\":\"KxwGjPSDEtvnFgU00fwFz+l6d2pJM6XBIaMEn81SXPTRl16AqLAYqfIReFGZlHi5KLjAWbOoMszkwsQma+lYAg\"}},"
		"\"type\":\"X\",\"unsigned\":{\"age_ts\":1000000}}",
		"5jM4wQpv6lnBo7CLIghJuHdW+s2CMBJPUOGOC89ncos",
		"KxwGjPSDEtvnFgU00fwFz+l6d2pJM6XBIaMEn81SXPTRl16AqLAYqfIReFGZlHi5KLjAWbOoMszkwsQma+lYAg");
	expect_spec_signing(
		"{\"content\":{\"body\":\"Here is the message content\"},\"event_id\":\"$0:domain\","
		"\"origin\":\"domain\",\"origin_server_ts\":1000000,\"type\":\"m.room.message\","
		"\"room_id\":\"!r:domain\",\"sender\":\"@u:domain\",\"signatures\":{},"
		"\"unsigned\":{\"age_ts\":1000000}}",
		"{\"content\":{\"body\":\"Here is the message content\"},\"event_id\":\"$0:domain\","
		"\"hashes\":{\"sha256\":\"onLKD1bGljeBWQhWZ1kaP9SorVmRQNdN5aM2JYU2n/g\"},"
		"\"origin\":\"domain\",\"origin_server_ts\":1000000,\"type\":\"m.room.message\","
		"\"room_id\":\"!r:domain\",\"sender\":\"@u:domain\",\"signatures\":{\"domain\":{"
		"\"ed25519:1\":\"Wm+VzmOUOz08Ds+0NTWb1d4CZrVsJSikkeRxh6aCcUwu6pNC78FunoD7KNWzqFn241eYHYMGCA5McEiVPdhzBA\"}},"
		"\"unsigned\":{\"age_ts\":1000000}}",
		"onLKD1bGljeBWQhWZ1kaP9SorVmRQNdN5aM2JYU2n/g",
		"Wm+VzmOUOz08Ds+0NTWb1d4CZrVsJSikkeRxh6aCcUwu6pNC78FunoD7KNWzqFn241eYHYMGCA5McEiVPdhzBA");
}

/* What a signature covers, per version, and what breaks it. */
static void test_sign_and_check(void)
{
	mx_key key, other;
	mxdb_error err;
	spec_key(&key);
	CHECK(key_generate(&other, NULL) == MXDB_OK);
	for (int v = 10; v <= 12; v++) {
		char ver[4];
		snprintf(ver, sizeof(ver), "%d", v);
		json_t *pdu = parse("{" BASE ",\"type\":\"m.room.member\",\"state_key\":\"@a:x\","
		                    "\"origin\":\"x\",\"content\":{\"membership\":\"join\",\"displayname\":\"A\"}}");
		CHECK(ev_hash_and_sign(pdu, V(ver), &key, "x", &err) == MXDB_OK);
		CHECK(ev_hash_and_sign(pdu, V(ver), &other, "y", &err) == MXDB_OK);
		/* Both signatures sit side by side, and each verifies. */
		CHECK(ev_check_signature(pdu, V(ver), "x", "ed25519:1", key.pk, &err) == MXDB_OK);
		CHECK(ev_check_signature(pdu, V(ver), "y", other.key_id, other.pk, &err) == MXDB_OK);
		CHECK(ev_check_signature(pdu, V(ver), "x", "ed25519:1", other.pk, &err) == MXDB_ESIGNATURE);
		CHECK(ev_check_signature(pdu, V(ver), "z", "ed25519:1", key.pk, &err) == MXDB_ESIGNATURE);
		/* The signature is over the redacted form, independently checked. */
		json_t *red = ev_redact(pdu, V(ver));
		CHECK(key_verify_json(red, "x", "ed25519:1", key.pk, &err) == MXDB_OK);
		json_decref(red);
		/* A key the redaction drops: signature holds, content hash breaks. */
		json_object_set_new(json_object_get(pdu, "content"), "displayname", json_string("B"));
		CHECK(ev_check_signature(pdu, V(ver), "x", "ed25519:1", key.pk, &err) == MXDB_OK);
		CHECK(ev_check_content_hash(pdu, &err) == MXDB_EHASH);
		/* origin: covered in v10 only. */
		json_object_set_new(pdu, "origin", json_string("evil"));
		CHECK_MSG(ev_check_signature(pdu, V(ver), "x", "ed25519:1", key.pk, &err) ==
		                  (v == 10 ? MXDB_ESIGNATURE : MXDB_OK), "v%s origin", ver);
		json_object_set_new(pdu, "origin", json_string("x"));
		/* A kept key breaks it. */
		json_object_set_new(json_object_get(pdu, "content"), "membership", json_string("leave"));
		CHECK(ev_check_signature(pdu, V(ver), "x", "ed25519:1", key.pk, &err) == MXDB_ESIGNATURE);
		json_decref(pdu);
	}
	/* The same event signed under v10 and v11 differs by the origin key. */
	json_t *a = parse("{" BASE ",\"type\":\"X\",\"origin\":\"x\",\"content\":{}}");
	json_t *b = json_deep_copy(a);
	CHECK(ev_hash_and_sign(a, V("10"), &key, "x", &err) == MXDB_OK);
	CHECK(ev_hash_and_sign(b, V("11"), &key, "x", &err) == MXDB_OK);
	CHECK(strcmp(sig_of(a, "x", "ed25519:1"), sig_of(b, "x", "ed25519:1")) != 0);
	json_decref(a);
	json_decref(b);
	/* Bad input. */
	json_t *arr = json_array();
	CHECK(ev_hash_and_sign(arr, V("11"), &key, "x", &err) == MXDB_EBADJSON);
	CHECK(ev_hash_and_sign(arr, NULL, &key, "x", &err) == MXDB_EINVAL);
	CHECK(ev_check_signature(arr, V("11"), "x", "ed25519:1", key.pk, &err) == MXDB_EBADJSON);
	json_decref(arr);
}

/* The ID that signing hands back is the reference hash, whatever the
 * event carries besides (unsigned, age_ts, keys redaction drops, another
 * server's signature). */
static void test_sign_id(void)
{
	mx_key key, other;
	mxdb_error err;
	spec_key(&key);
	CHECK(key_generate(&other, NULL) == MXDB_OK);
	for (int v = 10; v <= 12; v++) {
		char ver[4], id[EV_ID_SIZE], want[EV_ID_SIZE];
		snprintf(ver, sizeof(ver), "%d", v);
		json_t *pdu = parse("{" BASE ",\"type\":\"m.room.member\",\"state_key\":\"@a:x\","
		                    "\"origin\":\"x\",\"age_ts\":5,\"unsigned\":{\"age\":3},\"junk\":1,"
		                    "\"content\":{\"membership\":\"join\",\"displayname\":\"A\"}}");
		CHECK(ev_hash_and_sign(pdu, V(ver), &other, "y", &err) == MXDB_OK);
		CHECK(ev_hash_and_sign_id(pdu, V(ver), &key, "x", id, &err) == MXDB_OK);
		CHECK(ev_compute_id(pdu, V(ver), want, &err) == MXDB_OK);
		CHECK_MSG(strcmp(id, want) == 0, "v%s: %s != %s", ver, id, want);
		CHECK(ev_check_signature(pdu, V(ver), "x", "ed25519:1", key.pk, &err) == MXDB_OK);
		json_decref(pdu);
	}
}

/* ---- ev_from_json ------------------------------------------------------- */

static const char good_event[] =
	"{\"type\":\"m.room.member\",\"state_key\":\"@a:x\",\"sender\":\"@a:x\",\"room_id\":\"!r:x\","
	"\"content\":{\"membership\":\"join\"},\"depth\":3,\"origin_server_ts\":1000,"
	"\"prev_events\":[\"$p1\",\"$p2\"],\"auth_events\":[\"$a1\"],"
	"\"hashes\":{\"sha256\":\"h\"},\"signatures\":{},\"unsigned\":{}}";

static void test_parse_good(void)
{
	json_t *pdu = parse(good_event);
	ev_t *ev = NULL;
	mxdb_error err;
	CHECK(ev_from_json(pdu, NULL, V("11"), &ev, &err) == MXDB_OK);
	if (ev == NULL) {
		json_decref(pdu);
		return;
	}
	CHECK(ev->json == pdu && pdu->refcount == 2);
	CHECK(strcmp(ev->type, "m.room.member") == 0 && strcmp(ev->state_key, "@a:x") == 0);
	CHECK(strcmp(ev->sender, "@a:x") == 0 && strcmp(ev->room_id, "!r:x") == 0);
	CHECK(ev->depth == 3 && ev->origin_server_ts == 1000);
	CHECK(ev->n_prev == 2 && strcmp(ev->prev_events[1], "$p2") == 0);
	CHECK(ev->n_auth == 1 && strcmp(ev->auth_events[0], "$a1") == 0);
	CHECK(json_is_object(ev->content) && ev->redacts == NULL && ev_is_state(ev));
	CHECK(ev->rv == V("11") && !ev->rejected && ev->nid == 0);
	char id[EV_ID_SIZE];
	id_of("11", pdu, id);
	CHECK(strcmp(ev->event_id, id) == 0);
	ev_free(ev);
	CHECK(pdu->refcount == 1);
	/* A given event_id is kept as is. */
	CHECK(ev_from_json(pdu, "$given:x", V("11"), &ev, &err) == MXDB_OK);
	CHECK(ev != NULL && strcmp(ev->event_id, "$given:x") == 0);
	ev_free(ev);
	/* Not a state event; empty prev/auth; no hashes/signatures yet. */
	json_object_del(pdu, "state_key");
	json_object_del(pdu, "hashes");
	json_object_del(pdu, "signatures");
	json_object_set_new(pdu, "prev_events", json_array());
	json_object_set_new(pdu, "auth_events", json_array());
	CHECK(ev_from_json(pdu, NULL, V("10"), &ev, &err) == MXDB_OK);
	CHECK(ev != NULL && !ev_is_state(ev) && ev->n_prev == 0 && ev->n_auth == 0);
	ev_free(ev);
	json_decref(pdu);
}

static void test_redacts(void)
{
	const char *top = "{" BASE ",\"type\":\"m.room.redaction\",\"redacts\":\"$top\","
	                  "\"content\":{\"redacts\":\"$in\"}}";
	json_t *pdu = parse(top);
	ev_t *ev = NULL;
	mxdb_error err;
	CHECK(ev_from_json(pdu, NULL, V("10"), &ev, &err) == MXDB_OK);
	CHECK(ev != NULL && strcmp(ev->redacts, "$top") == 0);
	ev_free(ev);
	CHECK(ev_from_json(pdu, NULL, V("11"), &ev, &err) == MXDB_OK);
	CHECK(ev != NULL && strcmp(ev->redacts, "$in") == 0);
	ev_free(ev);
	/* Only redaction events redact. */
	json_object_set_new(pdu, "type", json_string("m.room.message"));
	CHECK(ev_from_json(pdu, NULL, V("11"), &ev, &err) == MXDB_OK && ev->redacts == NULL);
	ev_free(ev);
	/* A redacted v10 redaction lost its redacts: still an event. */
	json_object_set_new(pdu, "type", json_string("m.room.redaction"));
	json_object_del(pdu, "redacts");
	CHECK(ev_from_json(pdu, NULL, V("10"), &ev, &err) == MXDB_OK && ev->redacts == NULL);
	ev_free(ev);
	json_object_set_new(json_object_get(pdu, "content"), "redacts", json_integer(1));
	CHECK(ev_from_json(pdu, NULL, V("12"), &ev, &err) == MXDB_EBADJSON);
	CHECK(strstr(err.message, "redacts") != NULL);
	json_decref(pdu);
}

/* Applies a change to the good event and expects ev_from_json to fail. */
static void expect_reject(const char *what, const char *key, json_t *value, mxdb_status code,
                          const char *needle)
{
	json_t *pdu = parse(good_event);
	if (value == NULL)
		json_object_del(pdu, key);
	else
		json_object_set_new(pdu, key, value);
	ev_t *ev = (ev_t *)1;
	mxdb_error err;
	mx_clear(&err);
	mxdb_status st = ev_from_json(pdu, NULL, V("11"), &ev, &err);
	CHECK_MSG(st == code, "%s: got %s want %s (%s)", what, mxdb_status_name(st),
	          mxdb_status_name(code), err.message);
	CHECK_MSG(strstr(err.message, needle) != NULL, "%s: message '%s' lacks '%s'", what,
	          err.message, needle);
	CHECK(ev == NULL);
	CHECK(pdu->refcount == 1);
	json_decref(pdu);
}

static json_t *string_of(size_t n, char c)
{
	char *s = malloc(n + 1);
	memset(s, c, n);
	s[n] = '\0';
	json_t *v = json_string(s);
	free(s);
	return v;
}

static json_t *ids_of(size_t n, size_t len)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, string_of(len, '$'));
	return a;
}

static void test_parse_rejections(void)
{
	const char *required[] = {"type", "sender", "room_id", "content", "depth",
	                          "origin_server_ts", "prev_events", "auth_events"};
	for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++)
		expect_reject(required[i], required[i], NULL, MXDB_EBADJSON, required[i]);

	/* Wrong types. */
	expect_reject("type int", "type", json_integer(1), MXDB_EBADJSON, "type must be a string");
	expect_reject("sender null", "sender", json_null(), MXDB_EBADJSON, "sender");
	expect_reject("room_id obj", "room_id", json_object(), MXDB_EBADJSON, "room_id");
	expect_reject("state_key int", "state_key", json_integer(0), MXDB_EBADJSON, "state_key");
	expect_reject("content array", "content", json_array(), MXDB_EBADJSON, "content must be an object");
	expect_reject("content string", "content", json_string("{}"), MXDB_EBADJSON, "content");
	expect_reject("depth string", "depth", json_string("3"), MXDB_EBADJSON, "depth must be an integer");
	expect_reject("depth real", "depth", json_real(3.0), MXDB_EBADJSON, "depth");
	expect_reject("depth negative", "depth", json_integer(-1), MXDB_EBADJSON, "depth is out of range");
	expect_reject("depth 2^53", "depth", json_integer(CJ_MAX_INT + 1), MXDB_EBADJSON, "depth");
	expect_reject("ts bool", "origin_server_ts", json_true(), MXDB_EBADJSON, "origin_server_ts");
	expect_reject("ts big", "origin_server_ts", json_integer(-CJ_MAX_INT - 1), MXDB_EBADJSON,
	              "origin_server_ts is out of range");
	expect_reject("prev object", "prev_events", json_object(), MXDB_EBADJSON, "prev_events must be an array");
	expect_reject("prev ints", "prev_events", json_pack("[i]", 1), MXDB_EBADJSON, "prev_events must be a string");
	expect_reject("auth nested", "auth_events", json_pack("[[s]]", "$a"), MXDB_EBADJSON, "auth_events");
	expect_reject("hashes string", "hashes", json_string("h"), MXDB_EBADJSON, "hashes must be an object");
	expect_reject("signatures array", "signatures", json_array(), MXDB_EBADJSON, "signatures");
	expect_reject("unsigned int", "unsigned", json_integer(1), MXDB_EBADJSON, "unsigned");
	expect_reject("NUL in type", "type", json_stringn("a\0b", 3), MXDB_EBADJSON, "NUL");

	/* Sizes: 255 bytes is the limit for type, state_key and IDs. */
	expect_reject("long type", "type", string_of(256, 't'), MXDB_ETOOLARGE, "type is 256 bytes");
	expect_reject("long state_key", "state_key", string_of(256, 's'), MXDB_ETOOLARGE, "state_key");
	expect_reject("long sender", "sender", string_of(256, '@'), MXDB_ETOOLARGE, "sender");
	expect_reject("long room_id", "room_id", string_of(256, '!'), MXDB_ETOOLARGE, "room_id");
	expect_reject("long prev id", "prev_events", ids_of(1, 256), MXDB_ETOOLARGE, "prev_events");
	expect_reject("21 prev", "prev_events", ids_of(21, 10), MXDB_ETOOLARGE, "prev_events has 21");
	expect_reject("11 auth", "auth_events", ids_of(11, 10), MXDB_ETOOLARGE, "auth_events has 11");
	/* The whole PDU: 65,536 bytes of canonical JSON. */
	json_t *content = json_pack("{s:s}", "membership", "join");
	json_object_set_new(content, "pad", string_of(65536, 'p'));
	expect_reject("oversize", "content", content, MXDB_ETOOLARGE, "65536");
	/* Not JSON Matrix accepts, deep inside. */
	expect_reject("real in content", "content", json_pack("{s:f}", "x", 1.5), MXDB_EBADJSON, "floating");

	/* At the limits: accepted. */
	json_t *pdu = parse(good_event);
	json_object_set_new(pdu, "type", string_of(255, 't'));
	json_object_set_new(pdu, "state_key", string_of(255, 's'));
	json_object_set_new(pdu, "prev_events", ids_of(20, 255));
	json_object_set_new(pdu, "auth_events", ids_of(10, 255));
	char *text;
	size_t len;
	cj_dump(pdu, &text, &len, NULL);
	free(text);
	json_t *c = json_object_get(pdu, "content");
	json_object_set_new(c, "pad", string_of(0, 'p'));
	cj_dump(pdu, &text, &len, NULL);
	free(text);
	json_object_set_new(c, "pad", string_of(65536 - len, 'p')); /* exactly 65,536 bytes */
	ev_t *ev = NULL;
	mxdb_error err;
	CHECK_MSG(ev_from_json(pdu, NULL, V("11"), &ev, &err) == MXDB_OK, "%s", err.message);
	ev_free(ev);
	json_object_set_new(c, "pad", string_of(65536 - len + 1, 'p'));
	CHECK(ev_from_json(pdu, NULL, V("11"), &ev, &err) == MXDB_ETOOLARGE);
	json_decref(pdu);

	/* Not an object; no version. */
	json_t *arr = json_array();
	CHECK(ev_from_json(arr, NULL, V("11"), &ev, &err) == MXDB_EBADJSON && ev == NULL);
	CHECK(ev_from_json(arr, NULL, NULL, &ev, &err) == MXDB_EINVAL);
	json_decref(arr);
}

int main(void)
{
	test_room_versions();
	test_redact_top_level();
	test_redact_content();
	test_redact_is_a_copy();
	test_known_ids();
	test_real_event();
	test_id_stability();
	test_content_hash();
	test_v12_room_id();
	test_parse_good();
	test_redacts();
	test_parse_rejections();
	test_spec_signing_vectors();
	test_sign_and_check();
	test_sign_id();
	return test_summary("test_event");
}
