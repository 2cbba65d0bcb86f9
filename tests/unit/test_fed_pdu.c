/* test_fed_pdu.c: receipt checks of remote PDUs: good events pass, a wrong
 * content hash yields the redacted copy, forged or foreign signatures and
 * unknown keys are refused. */
#include <string.h>

#include "fed_pdu.h"
#include "testutil.h"

static mx_key key_a, key_b;

/* The key directory the checks consult: a.test and b.test with their keys. */
static mxdb_status keys(void *ctx, const char *server, const char *key_id, long long ts,
                        unsigned char pk[32], mxdb_error *err)
{
	const mx_key *k = strcmp(server, "a.test") == 0 ? &key_a : strcmp(server, "b.test") == 0 ? &key_b : NULL;
	if (k == NULL || strcmp(key_id, k->key_id) != 0)
		return mx_fail(err, MXDB_ENOTFOUND, "unknown key");
	memcpy(pk, k->pk, 32);
	return MXDB_OK;
}

static json_t *make_pdu(const char *sender, const mx_key *signer, const char *signer_name)
{
	const mx_room_version *rv = rv_get("11");
	json_t *pdu = json_pack("{s:[s], s:{s:s}, s:i, s:I, s:[s], s:s, s:s, s:s, s:s}", "auth_events",
	                        "$create", "content", "title", "buy milk", "depth", 5,
	                        "origin_server_ts", (json_int_t)1700000000000, "prev_events", "$prev",
	                        "room_id", "!r:a.test", "sender", sender, "type", "com.example.todo",
	                        "state_key", "item1");
	if (ev_hash_and_sign(pdu, rv, signer, signer_name, NULL) != MXDB_OK)
		return NULL;
	return pdu;
}

int main(void)
{
	const mx_room_version *rv = rv_get("11");
	mxdb_error err;
	CHECK(key_generate(&key_a, &err) == MXDB_OK && key_generate(&key_b, &err) == MXDB_OK);

	ev_t *ev = NULL;
	int redacted = -1;
	json_t *pdu = make_pdu("@u:a.test", &key_a, "a.test");
	CHECK(fed_pdu_check(pdu, rv, keys, NULL, &ev, &redacted, &err) == MXDB_OK);
	CHECK(ev && redacted == 0 && strcmp(json_string_value(json_object_get(ev->content, "title")), "buy milk") == 0);
	char id[EV_ID_SIZE];
	snprintf(id, sizeof(id), "%s", ev ? ev->event_id : "");
	ev_free(ev);

	/* Content changed after signing: the hash fails, the redacted copy is
	 * kept, with the same event ID. */
	json_object_set_new(json_object_get(pdu, "content"), "title", json_string("buy beer"));
	CHECK(fed_pdu_check(pdu, rv, keys, NULL, &ev, &redacted, &err) == MXDB_OK);
	CHECK(ev && redacted == 1 && json_object_size(ev->content) == 0);
	CHECK(ev && strcmp(ev->event_id, id) == 0);
	ev_free(ev);

	/* A field the signature covers changed: forged, dropped. */
	json_object_set_new(pdu, "depth", json_integer(6));
	CHECK(fed_pdu_check(pdu, rv, keys, NULL, &ev, &redacted, &err) == MXDB_ESIGNATURE && ev == NULL);
	json_decref(pdu);

	/* A sender of a.test, but only b.test signed. */
	pdu = make_pdu("@u:a.test", &key_b, "b.test");
	CHECK(fed_pdu_check(pdu, rv, keys, NULL, &ev, &redacted, &err) == MXDB_ESIGNATURE);
	json_decref(pdu);

	/* Signed under a.test's name with b's key (a key ID a.test never had:
	 * skipped as unknown, so no valid signature remains). */
	pdu = make_pdu("@u:a.test", &key_b, "a.test");
	CHECK(fed_pdu_check(pdu, rv, keys, NULL, &ev, &redacted, &err) == MXDB_ESIGNATURE);
	json_decref(pdu);

	/* The right key ID with a signature made by another key. */
	mx_key imp = key_b;
	snprintf(imp.key_id, sizeof(imp.key_id), "%s", key_a.key_id);
	pdu = make_pdu("@u:a.test", &imp, "a.test");
	CHECK(fed_pdu_check(pdu, rv, keys, NULL, &ev, &redacted, &err) == MXDB_ESIGNATURE);
	json_decref(pdu);

	/* Unknown server. */
	pdu = make_pdu("@u:c.test", &key_a, "c.test");
	CHECK(fed_pdu_check(pdu, rv, keys, NULL, &ev, &redacted, &err) == MXDB_ESIGNATURE);
	json_decref(pdu);

	/* Not signed at all / not an event. */
	pdu = make_pdu("@u:a.test", &key_a, "a.test");
	json_object_del(pdu, "signatures");
	CHECK(fed_pdu_check(pdu, rv, keys, NULL, &ev, &redacted, &err) == MXDB_EBADJSON);
	json_object_del(pdu, "sender");
	CHECK(fed_pdu_check(pdu, rv, keys, NULL, &ev, &redacted, &err) == MXDB_EBADJSON);
	json_decref(pdu);

	CHECK(fed_server_of("@u:b.test:8448") && strcmp(fed_server_of("@u:b.test:8448"), "b.test:8448") == 0);
	CHECK(fed_server_of("@u") == NULL && fed_server_of("@u:") == NULL);
	return test_summary("test_fed_pdu");
}
