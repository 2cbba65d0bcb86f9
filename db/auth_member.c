/*
 * auth_member.c: the m.room.member rules of the Matrix authorization rules
 * (v10/v11 rule 4, v12 rule 5): join (with restricted and knock_restricted
 * rooms), invite (with third-party invites, whose signed block is verified
 * against the public keys of the m.room.third_party_invite event), leave,
 * ban and knock. Called by auth.c only; pure like it.
 */
#include <string.h>

#include "auth_int.h"
#include "b64.h"
#include "keys.h"

static bool streq(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

/* A room with no join rules event is invite-only (the rules do not say;
 * servers agree). A join rules event without a join_rule string matches no
 * rule and so refuses every join but the creator's ("Otherwise, reject";
 * Synapse would read invite there). */
static const char *join_rule(const auth_ctx *c)
{
	const ev_t *jr = auth_state_get(c, "m.room.join_rules", "");
	const char *rule = jr ? auth_str(jr->content, "join_rule") : NULL;
	return rule ? rule : (jr ? "" : "invite");
}

static bool rule_restricts(const mx_room_version *rv, const char *rule)
{
	return (rv->restricted_join && strcmp(rule, "restricted") == 0) ||
	       (rv->knock_restricted_join && strcmp(rule, "knock_restricted") == 0);
}

bool auth_join_restricted(const auth_state *state, const mx_room_version *rv,
                          const json_t **allow)
{
	const ev_t *jr = state->get ? state->get(state->ctx, "m.room.join_rules", "") : NULL;
	const char *rule = jr ? auth_str(jr->content, "join_rule") : NULL;
	json_t *list = jr ? json_object_get(jr->content, "allow") : NULL;
	*allow = json_is_array(list) ? list : NULL;
	return rule != NULL && rule_restricts(rv, rule);
}

static bool rule_allows_knock(const auth_ctx *c, const char *rule)
{
	return (c->rv->knock && strcmp(rule, "knock") == 0) ||
	       (c->rv->knock_restricted_join && strcmp(rule, "knock_restricted") == 0);
}

static mxdb_status check_join(auth_ctx *c, const char *target, const char *target_m)
{
	const ev_t *ev = c->ev;
	/* The creator's own first join: the room's only other event is the create. */
	if (ev->n_prev == 1 && streq(ev->prev_events[0], c->create->event_id) &&
	    streq(target, auth_room_creator(c->rv, c->create)))
		return MXDB_OK;
	if (strcmp(ev->sender, target) != 0)
		return AUTH_DENY(c, "join: sender %s does not match state_key %s", ev->sender, target);
	if (streq(target_m, "ban"))
		return AUTH_DENY(c, "join: sender is banned");
	bool invited_or_joined = streq(target_m, "invite") || streq(target_m, "join");
	const char *rule = join_rule(c);
	if (strcmp(rule, "invite") == 0 || (c->rv->knock && strcmp(rule, "knock") == 0)) {
		if (invited_or_joined)
			return MXDB_OK;
		return AUTH_DENY(c, "join: join rule is %s and sender is not invited", rule);
	}
	if (rule_restricts(c->rv, rule)) {
		if (invited_or_joined)
			return MXDB_OK;
		const char *via = auth_str(ev->content, "join_authorised_via_users_server");
		if (via == NULL)
			return AUTH_DENY(c, "join: join rule is %s and no join_authorised_via_users_server",
			                 rule);
		if (!auth_membership_is(c, via, "join"))
			return AUTH_DENY(c, "join: authorising user %s is not joined to the room", via);
		int64_t need = auth_level(c, "invite", AUTH_INVITE_DEFAULT);
		if (auth_power_of(c, via) < need)
			return AUTH_DENY(c, "join: authorising user %s is below the invite level %lld", via,
			                 (long long)need);
		return MXDB_OK;
	}
	if (strcmp(rule, "public") == 0)
		return MXDB_OK;
	return AUTH_DENY(c, "join: join rule \"%s\" does not let the sender join", rule);
}

/* Decodes a third-party invite's public key (unpadded base64, standard or
 * URL-safe) into pk; false when it is not a 32-byte key. */
static bool decode_pk(const char *text, unsigned char pk[32])
{
	unsigned char buf[64];
	size_t len = strlen(text);
	long n = b64_decode(text, len, buf, sizeof buf);
	if (n != 32)
		n = b64_decode_url(text, len, buf, sizeof buf);
	if (n != 32)
		return false;
	memcpy(pk, buf, 32);
	return true;
}

/* Does any signature in signed verify under this public key? */
static bool signed_by(const json_t *signed_obj, const char *pk_text)
{
	unsigned char pk[32];
	if (pk_text == NULL || !decode_pk(pk_text, pk))
		return false;
	json_t *sigs = json_object_get(signed_obj, "signatures");
	const char *server, *key_id;
	json_t *keys, *sig;
	json_object_foreach(json_is_object(sigs) ? sigs : NULL, server, keys) {
		json_object_foreach(json_is_object(keys) ? keys : NULL, key_id, sig) {
			if (key_verify_json(signed_obj, server, key_id, pk, NULL) == MXDB_OK)
				return true;
		}
	}
	return false;
}

static mxdb_status check_third_party_invite(auth_ctx *c, const json_t *tpi, const char *target,
                                            const char *target_m)
{
	const ev_t *ev = c->ev;
	if (streq(target_m, "ban"))
		return AUTH_DENY(c, "invite: target %s is banned", target);
	json_t *signed_obj = json_object_get(tpi, "signed");
	if (!json_is_object(signed_obj))
		return AUTH_DENY(c, "invite: third_party_invite has no signed object");
	const char *mxid = auth_str(signed_obj, "mxid"), *token = auth_str(signed_obj, "token");
	if (mxid == NULL || token == NULL)
		return AUTH_DENY(c, "invite: third_party_invite.signed lacks mxid or token");
	if (strcmp(mxid, target) != 0)
		return AUTH_DENY(c, "invite: third_party_invite mxid %s does not match state_key", mxid);
	const ev_t *tpe = auth_state_get(c, "m.room.third_party_invite", token);
	if (tpe == NULL)
		return AUTH_DENY(c, "invite: no m.room.third_party_invite event for the token");
	if (strcmp(ev->sender, tpe->sender) != 0)
		return AUTH_DENY(c, "invite: sender did not send the m.room.third_party_invite");
	if (signed_by(signed_obj, auth_str(tpe->content, "public_key")))
		return MXDB_OK;
	json_t *pks = json_object_get(tpe->content, "public_keys"), *entry;
	size_t i;
	json_array_foreach(json_is_array(pks) ? pks : NULL, i, entry) {
		if (signed_by(signed_obj, auth_str(entry, "public_key")))
			return MXDB_OK;
	}
	return AUTH_DENY(c, "invite: no signature in third_party_invite.signed matches the "
	                 "m.room.third_party_invite public keys");
}

static mxdb_status check_invite(auth_ctx *c, const char *target, const char *target_m)
{
	json_t *tpi = json_object_get(c->ev->content, "third_party_invite");
	if (tpi != NULL)
		return check_third_party_invite(c, tpi, target, target_m);
	if (!auth_membership_is(c, c->ev->sender, "join"))
		return AUTH_DENY(c, "invite: sender is not joined to the room");
	if (streq(target_m, "join") || streq(target_m, "ban"))
		return AUTH_DENY(c, "invite: target %s is already %s", target,
		                 streq(target_m, "join") ? "joined" : "banned");
	int64_t need = auth_level(c, "invite", AUTH_INVITE_DEFAULT);
	if (c->sender_power < need)
		return AUTH_DENY(c, "invite: power level %lld is below the invite level %lld",
		                 (long long)c->sender_power, (long long)need);
	return MXDB_OK;
}

/* Kick and ban: the sender is joined, has the level and outranks the target. */
static mxdb_status check_power_over(auth_ctx *c, const char *action, const char *level,
                                    int64_t def, const char *target)
{
	if (!auth_membership_is(c, c->ev->sender, "join"))
		return AUTH_DENY(c, "%s: sender is not joined to the room", action);
	int64_t need = auth_level(c, level, def);
	if (c->sender_power < need)
		return AUTH_DENY(c, "%s: power level %lld is below the %s level %lld", action,
		                 (long long)c->sender_power, level, (long long)need);
	if (auth_power_of(c, target) >= c->sender_power)
		return AUTH_DENY(c, "%s: target %s has a power level not below the sender's", action,
		                 target);
	return MXDB_OK;
}

static mxdb_status check_leave(auth_ctx *c, const char *target, const char *target_m)
{
	if (strcmp(c->ev->sender, target) == 0) {
		if (streq(target_m, "invite") || streq(target_m, "join") || streq(target_m, "knock"))
			return MXDB_OK;
		return AUTH_DENY(c, "leave: sender is not invited, joined or knocking");
	}
	/* Unbanning takes the ban level as well as the kick level. */
	if (streq(target_m, "ban") && auth_membership_is(c, c->ev->sender, "join")) {
		int64_t ban = auth_level(c, "ban", AUTH_BAN_DEFAULT);
		if (c->sender_power < ban)
			return AUTH_DENY(c, "unban: power level %lld is below the ban level %lld",
			                 (long long)c->sender_power, (long long)ban);
	}
	return check_power_over(c, "kick", "kick", AUTH_KICK_DEFAULT, target);
}

static mxdb_status check_knock(auth_ctx *c, const char *target, const char *target_m)
{
	const char *rule = join_rule(c);
	if (!rule_allows_knock(c, rule))
		return AUTH_DENY(c, "knock: join rule \"%s\" does not allow knocking", rule);
	if (strcmp(c->ev->sender, target) != 0)
		return AUTH_DENY(c, "knock: sender %s does not match state_key %s", c->ev->sender,
		                 target);
	if (streq(target_m, "ban") || streq(target_m, "invite") || streq(target_m, "join"))
		return AUTH_DENY(c, "knock: sender is already %s", target_m);
	return MXDB_OK;
}

/* An event is "signed by" a server when signatures[server] holds a key. */
static bool has_signature_from(const ev_t *ev, const char *server)
{
	json_t *sigs = json_object_get(json_object_get(ev->json, "signatures"), server);
	return json_is_object(sigs) && json_object_size(sigs) > 0;
}

const char *auth_extra_signer(const ev_t *ev)
{
	if (ev == NULL || ev->rv == NULL || !ev->rv->restricted_join || ev->type == NULL ||
	    strcmp(ev->type, "m.room.member") != 0)
		return NULL;
	const char *via = auth_str(ev->content, "join_authorised_via_users_server");
	return via ? auth_user_domain(via) : NULL;
}

mxdb_status auth_check_member(auth_ctx *c)
{
	const ev_t *ev = c->ev;
	const char *target = ev->state_key;
	const char *membership = auth_str(ev->content, "membership");
	if (target == NULL || membership == NULL)
		return AUTH_DENY(c, "m.room.member needs a state_key and a content.membership string");
	json_t *via = json_object_get(ev->content, "join_authorised_via_users_server");
	if (via != NULL && c->rv->restricted_join) {
		if (!json_is_string(via) || !auth_valid_user_id(json_string_value(via)))
			return AUTH_DENY(c, "join_authorised_via_users_server is not a user ID");
		if (!has_signature_from(ev, auth_user_domain(json_string_value(via))))
			return AUTH_DENY(c, "event is not signed by the server of "
			                 "join_authorised_via_users_server");
	}
	const char *target_m = auth_membership(c, target);
	if (strcmp(membership, "join") == 0)
		return check_join(c, target, target_m);
	if (strcmp(membership, "invite") == 0)
		return check_invite(c, target, target_m);
	if (strcmp(membership, "leave") == 0)
		return check_leave(c, target, target_m);
	if (strcmp(membership, "ban") == 0)
		return check_power_over(c, "ban", "ban", AUTH_BAN_DEFAULT, target);
	if (c->rv->knock && strcmp(membership, "knock") == 0)
		return check_knock(c, target, target_m);
	return AUTH_DENY(c, "unknown membership \"%s\"", membership);
}
