/*
 * fed_pdu.c: receipt checks of a remote PDU: format, signatures, content
 * hash. Never stores anything and never decides on authorization.
 */
#include <string.h>

#include "fed_pdu.h"

const char *fed_server_of(const char *user_id)
{
	const char *colon = user_id ? strchr(user_id, ':') : NULL;
	return colon && colon[1] ? colon + 1 : NULL;
}

/* Every signature of server made with a key we know (valid at ts) must
 * verify, and at least one must be there. */
static mxdb_status check_server(const json_t *pdu, const mx_room_version *rv, const char *server,
                                long long ts, fed_key_fn keys, void *ctx, mxdb_error *err)
{
	json_t *sigs = json_object_get(json_object_get(pdu, "signatures"), server);
	const char *key_id;
	json_t *sig;
	int good = 0;
	json_object_foreach(sigs, key_id, sig) {
		unsigned char pk[32];
		if (strncmp(key_id, "ed25519:", 8) != 0)
			continue;
		mxdb_status st = keys(ctx, server, key_id, ts, pk, err);
		if (st == MXDB_ENOTFOUND)
			continue;
		if (st != MXDB_OK)
			return st;
		st = ev_check_signature(pdu, rv, server, key_id, pk, err);
		if (st != MXDB_OK)
			return st;
		good++;
	}
	if (good == 0)
		return mx_fail(err, MXDB_ESIGNATURE, "no valid signature of %s", server);
	return MXDB_OK;
}

mxdb_status fed_pdu_signed_by(const json_t *pdu, const mx_room_version *rv, const char *server,
                              fed_key_fn keys, void *ctx, mxdb_error *err)
{
	json_t *ts = json_object_get(pdu, "origin_server_ts");
	if (!json_is_integer(ts))
		return mx_fail(err, MXDB_EBADJSON, "no origin_server_ts");
	return check_server(pdu, rv, server, json_integer_value(ts), keys, ctx, err);
}

mxdb_status fed_pdu_check(json_t *pdu, const mx_room_version *rv, fed_key_fn keys, void *ctx,
                          ev_t **out, int *redacted, mxdb_error *err)
{
	*out = NULL;
	*redacted = 0;
	ev_t *ev = NULL;
	mxdb_status st = ev_from_json(pdu, NULL, rv, &ev, err);
	if (st != MXDB_OK)
		return st;
	if (!json_is_object(json_object_get(pdu, "signatures")) ||
	    !json_is_object(json_object_get(pdu, "hashes"))) {
		st = mx_fail(err, MXDB_EBADJSON, "event %s lacks hashes or signatures", ev->event_id);
		ev_free(ev);
		return st;
	}
	/* The sender's server, and for a restricted join the server that
	 * vouched for it (rooms v8+, checked again by the auth rules). */
	const char *servers[2] = {fed_server_of(ev->sender), NULL};
	const char *via = json_string_value(json_object_get(ev->content, "join_authorised_via_users_server"));
	if (via && ev->type && strcmp(ev->type, "m.room.member") == 0)
		servers[1] = fed_server_of(via);
	if (servers[0] == NULL)
		st = mx_fail(err, MXDB_EBADJSON, "sender %s has no server", ev->sender);
	for (int i = 0; i < 2 && st == MXDB_OK; i++)
		if (servers[i] && (i == 0 || strcmp(servers[1], servers[0]) != 0))
			st = check_server(pdu, rv, servers[i], ev->origin_server_ts, keys, ctx, err);
	if (st != MXDB_OK) {
		ev_free(ev);
		return st;
	}
	if (ev_check_content_hash(pdu, NULL) == MXDB_OK) {
		*out = ev;
		return MXDB_OK;
	}
	/* Spec: assume we were given a redacted copy and keep only that. The
	 * event ID covers the redacted form, so it stays the same. */
	json_t *red = ev_redact(pdu, rv);
	ev_free(ev);
	if (red == NULL)
		return mx_fail(err, MXDB_ENOMEM, "redacting");
	st = ev_from_json(red, NULL, rv, out, err);
	json_decref(red);
	if (st == MXDB_OK)
		*redacted = 1;
	return st;
}
