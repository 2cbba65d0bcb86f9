/*
 * ev_hash.c: the hashes of an event (spec: server-server-api,
 * "Calculating the reference hash / content hash"): the content hash, the
 * event ID (reference hash) and the v12 room ID. Owns no state; the only
 * allocations are the temporary copies and buffers of one call. Signing is
 * in ev_sign.c.
 */
#include <string.h>
#include <sodium.h>

#include "b64.h"
#include "cjson.h"
#include "ev.h"

/* Keys each hash leaves out, NULL-terminated. The reference hash works on
 * the redacted event, which has already lost everything else; age_ts is an
 * old top-level spelling of unsigned.age_ts. */
static const char *const content_hash_skip[] = {"unsigned", "signatures", "hashes", NULL};
static const char *const reference_hash_skip[] = {"unsigned", "signatures", "age_ts", NULL};

/* sha256 of the canonical JSON of obj without the skip keys. */
static mxdb_status hash_without(const json_t *obj, const char *const *skip, unsigned char out[32],
                                mxdb_error *err)
{
	cj_buf buf = {0};
	mxdb_status s = cj_dump_buf_without(obj, skip, &buf, err);
	if (s == MXDB_OK)
		crypto_hash_sha256(out, (const unsigned char *)buf.data, buf.len);
	cj_buf_free(&buf);
	return s;
}

mxdb_status ev_content_hash(const json_t *pdu, unsigned char out[32], mxdb_error *err)
{
	if (!json_is_object(pdu))
		return mx_fail(err, MXDB_EBADJSON, "an event must be a JSON object");
	return hash_without(pdu, content_hash_skip, out, err);
}

mxdb_status ev_add_content_hash(json_t *pdu, mxdb_error *err)
{
	unsigned char hash[32];
	char text[B64_ENCODED_SIZE(32)];
	mxdb_status s = ev_content_hash(pdu, hash, err);
	if (s != MXDB_OK)
		return s;
	b64_encode(hash, sizeof(hash), text);
	json_t *hashes = json_object_get(pdu, "hashes");
	if (!json_is_object(hashes)) {
		hashes = json_object();
		if (hashes == NULL || json_object_set_new(pdu, "hashes", hashes) != 0)
			return mx_fail(err, MXDB_ENOMEM, "out of memory");
	}
	if (json_object_set_new(hashes, "sha256", json_string(text)) != 0)
		return mx_fail(err, MXDB_ENOMEM, "out of memory");
	return MXDB_OK;
}

mxdb_status ev_check_content_hash(const json_t *pdu, mxdb_error *err)
{
	unsigned char want[32], got[32];
	const char *text = json_string_value(json_object_get(json_object_get(pdu, "hashes"), "sha256"));
	if (text == NULL)
		return mx_fail(err, MXDB_EHASH, "event has no hashes.sha256");
	if (b64_decode(text, strlen(text), got, sizeof(got)) != (long)sizeof(got))
		return mx_fail(err, MXDB_EHASH, "hashes.sha256 is not a base64 sha256");
	mxdb_status s = ev_content_hash(pdu, want, err);
	if (s != MXDB_OK)
		return s;
	if (sodium_memcmp(want, got, sizeof(want)) != 0)
		return mx_fail(err, MXDB_EHASH, "content hash does not match");
	return MXDB_OK;
}

/* sigil + URL-safe unpadded base64 of the reference hash. */
static mxdb_status reference_id(const json_t *pdu, const mx_room_version *rv, char sigil,
                                char out[EV_ID_SIZE], mxdb_error *err)
{
	unsigned char hash[32];
	json_t *redacted;
	mxdb_status s = ev_redact_shared(pdu, rv, &redacted, err);
	if (s != MXDB_OK)
		return s;
	s = hash_without(redacted, reference_hash_skip, hash, err);
	json_decref(redacted);
	if (s != MXDB_OK)
		return s;
	out[0] = sigil;
	b64_encode_url(hash, sizeof(hash), out + 1);
	return MXDB_OK;
}

mxdb_status ev_compute_id(const json_t *pdu, const mx_room_version *rv, char out[EV_ID_SIZE],
                          mxdb_error *err)
{
	return reference_id(pdu, rv, '$', out, err);
}

mxdb_status ev_room_id_from_create(const json_t *create_pdu, const mx_room_version *rv,
                                   char out[EV_ID_SIZE], mxdb_error *err)
{
	if (rv == NULL || !rv->room_id_from_create)
		return mx_fail(err, MXDB_EVERSION, "room version %s takes its room ID from the create event's room_id",
		               rv != NULL ? rv->id : "(none)");
	const char *type = json_string_value(json_object_get(create_pdu, "type"));
	if (type == NULL || strcmp(type, "m.room.create") != 0)
		return mx_fail(err, MXDB_EBADJSON, "not an m.room.create event");
	if (json_object_get(create_pdu, "room_id") != NULL)
		return mx_fail(err, MXDB_EBADJSON, "a room version %s create event has no room_id", rv->id);
	return reference_id(create_pdu, rv, '!', out, err);
}
