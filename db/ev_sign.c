/*
 * ev_sign.c: signing an event and checking its signature (spec:
 * server-server-api, "Signing Events"): both work on the REDACTED event, so
 * a signature survives redaction. The signing itself is keys.c's; this file
 * only chooses what is signed and where the signature goes.
 */
#include "b64.h"
#include "ev.h"

/* pdu.signatures[server_name][key_id] = sig, creating the objects on the way. */
static mxdb_status copy_signature(json_t *pdu, const char *server_name, const char *key_id,
                                  json_t *sig, mxdb_error *err)
{
	json_t *all = json_object_get(pdu, "signatures");
	if (!json_is_object(all) && json_object_set_new(pdu, "signatures", json_object()) != 0)
		return mx_fail(err, MXDB_ENOMEM, "out of memory");
	all = json_object_get(pdu, "signatures");
	json_t *mine = json_object_get(all, server_name);
	if (!json_is_object(mine) && json_object_set_new(all, server_name, json_object()) != 0)
		return mx_fail(err, MXDB_ENOMEM, "out of memory");
	mine = json_object_get(all, server_name);
	if (json_object_set(mine, key_id, sig) != 0)
		return mx_fail(err, MXDB_ENOMEM, "out of memory");
	return MXDB_OK;
}

mxdb_status ev_hash_and_sign(json_t *pdu, const mx_room_version *rv, const mx_key *key,
                             const char *server_name, mxdb_error *err)
{
	return ev_hash_and_sign_id(pdu, rv, key, server_name, NULL, err);
}

/* The bytes signed are the redacted event without signatures and unsigned;
 * the reference hash covers the redacted event without signatures, unsigned
 * and age_ts, which redaction has already dropped: the same bytes, so their
 * sha256 is the event ID. */
mxdb_status ev_hash_and_sign_id(json_t *pdu, const mx_room_version *rv, const mx_key *key,
                                const char *server_name, char id[EV_ID_SIZE], mxdb_error *err)
{
	if (rv == NULL || key == NULL || server_name == NULL)
		return mx_fail(err, MXDB_EINVAL, "ev_hash_and_sign: missing argument");
	mxdb_status s = ev_add_content_hash(pdu, err);
	if (s != MXDB_OK)
		return s;
	json_t *redacted;
	if ((s = ev_redact_shared(pdu, rv, &redacted, err)) != MXDB_OK)
		return s;
	/* Dropped so that key_sign_json starts a fresh object instead of writing
	 * into the one shared with pdu. */
	json_object_del(redacted, "signatures");
	unsigned char ref[32];
	s = key_sign_json_sha256(key, server_name, redacted, ref, err);
	if (s == MXDB_OK && id != NULL) {
		id[0] = '$';
		b64_encode_url(ref, sizeof(ref), id + 1);
	}
	if (s == MXDB_OK) {
		json_t *sig = json_object_get(json_object_get(json_object_get(redacted, "signatures"),
		                                              server_name), key->key_id);
		s = sig != NULL ? copy_signature(pdu, server_name, key->key_id, sig, err)
		                : mx_fail(err, MXDB_EINTERNAL, "key_sign_json left no signature");
	}
	json_decref(redacted);
	return s;
}

mxdb_status ev_check_signature(const json_t *pdu, const mx_room_version *rv,
                               const char *server_name, const char *key_id,
                               const unsigned char pk[32], mxdb_error *err)
{
	json_t *redacted;
	mxdb_status s = ev_redact_shared(pdu, rv, &redacted, err);
	if (s != MXDB_OK)
		return s;
	s = key_verify_json(redacted, server_name, key_id, pk, err);
	json_decref(redacted);
	return s;
}
