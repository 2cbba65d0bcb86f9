/*
 * cs_user.c: the per-user stores over the client API: filters, account data
 * (global and per room), end-to-end keys (upload, query, claim, changes) and
 * to-device messages. The data lives in acct; /sync delivers it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cs.h"
#include "cs_handlers.h"

static bool own_user(http_req *r)
{
	if (strcmp(r->param[0], r->user_id) == 0)
		return true;
	http_reply_error(r, 403, "M_FORBIDDEN", "cannot act for another user");
	return false;
}

void cs_filter_post(http_req *r)
{
	if (!own_user(r))
		return;
	char *id = NULL;
	mxdb_error e;
	mxdb_status st = acct_filter_put(CS(r)->acct, r->user_id, r->body, &id, &e);
	if (st != MXDB_OK) {
		cs_fail(r, st, &e);
		return;
	}
	http_reply_json(r, 200, json_pack("{s:s}", "filter_id", id));
	free(id);
}

void cs_filter_get(http_req *r)
{
	if (!own_user(r))
		return;
	json_t *f;
	mxdb_error e;
	mxdb_status st = acct_filter_get(CS(r)->acct, r->user_id, r->param[1], &f, &e);
	if (st != MXDB_OK)
		cs_fail(r, st, &e);
	else
		http_reply_json(r, 200, f);
}

/* account_data/{type} (param 1) or rooms/{room}/account_data/{type} (1, 2). */
static void account_data(http_req *r, bool put)
{
	if (!own_user(r))
		return;
	const char *room = r->nparam == 3 ? r->param[1] : NULL;
	const char *type = r->param[r->nparam - 1];
	mxdb_error e;
	if (room != NULL) {
		mxdb_room_info info;
		if (!cs_room_resolve(r, room, &info))
			return;
	}
	if (!put) {
		json_t *v;
		mxdb_status st = acct_data_get(CS(r)->acct, r->user_id, room, type, &v, &e);
		if (st != MXDB_OK)
			cs_fail(r, st, &e);
		else
			http_reply_json(r, 200, v);
		return;
	}
	mxdb_status st = acct_data_put(CS(r)->acct, r->user_id, room, type, r->body, &e);
	cs_done(r, st, &e);
}

void cs_account_data_get(http_req *r)
{
	account_data(r, false);
}

void cs_account_data_put(http_req *r)
{
	account_data(r, true);
}

/* ---- keys ---- */

void cs_keys_upload(http_req *r)
{
	json_t *dk = json_object_get(r->body, "device_keys");
	json_t *otk = json_object_get(r->body, "one_time_keys");
	json_t *fb = json_object_get(r->body, "fallback_keys");
	if (fb == NULL)
		fb = json_object_get(r->body, "org.matrix.msc2732.fallback_keys");
	if ((dk && !json_is_object(dk)) || (otk && !json_is_object(otk)) ||
	    (fb && !json_is_object(fb))) {
		http_reply_error(r, 400, "M_BAD_JSON", "keys must be objects");
		return;
	}
	if (dk != NULL) {
		const char *u = json_string_value(json_object_get(dk, "user_id"));
		const char *d = json_string_value(json_object_get(dk, "device_id"));
		if (u == NULL || d == NULL || strcmp(u, r->user_id) || strcmp(d, r->device_id)) {
			http_reply_error(r, 400, "M_INVALID_PARAM",
			                 "device_keys must name this user and device");
			return;
		}
	}
	json_t *counts;
	mxdb_error e;
	mxdb_status st =
		acct_keys_upload(CS(r)->acct, r->user_id, r->device_id, dk, otk, fb, &counts, &e);
	if (st != MXDB_OK)
		cs_fail(r, st, &e);
	else
		http_reply_json(r, 200, json_pack("{s:o}", "one_time_key_counts", counts));
}

void cs_keys_query(http_req *r)
{
	json_t *q = json_object_get(r->body, "device_keys");
	json_t *out;
	mxdb_error e;
	mxdb_status st = acct_keys_query(CS(r)->acct, q, &out, &e);
	if (st != MXDB_OK)
		cs_fail(r, st, &e);
	else
		http_reply_json(r, 200, json_pack("{s:{}, s:o}", "failures", "device_keys", out));
}

void cs_keys_claim(http_req *r)
{
	json_t *q = json_object_get(r->body, "one_time_keys");
	json_t *out;
	mxdb_error e;
	mxdb_status st = acct_keys_claim(CS(r)->acct, q, &out, &e);
	if (st != MXDB_OK)
		cs_fail(r, st, &e);
	else
		http_reply_json(r, 200, json_pack("{s:{}, s:o}", "failures", "one_time_keys", out));
}

/* The accounts position inside a sync token "s<E>_<A>_<T>". */
static bool token_acct_pos(const char *tok, uint64_t *pos)
{
	unsigned long long e, a, t;
	if (tok == NULL || sscanf(tok, "s%llu_%llu_%llu", &e, &a, &t) != 3)
		return false;
	*pos = a;
	return true;
}

void cs_keys_changes(http_req *r)
{
	uint64_t from, to;
	if (!token_acct_pos(http_query(r, "from"), &from) ||
	    !token_acct_pos(http_query(r, "to"), &to)) {
		http_reply_error(r, 400, "M_INVALID_PARAM", "from and to must be sync tokens");
		return;
	}
	json_t *users;
	mxdb_error e;
	mxdb_status st = acct_keys_changed(CS(r)->acct, from, to, &users, &e);
	if (st != MXDB_OK)
		cs_fail(r, st, &e);
	else
		http_reply_json(r, 200, json_pack("{s:o, s:[]}", "changed", users, "left"));
}

void cs_send_to_device(http_req *r)
{
	json_t *msgs = json_object_get(r->body, "messages");
	if (!json_is_object(msgs)) {
		http_reply_error(r, 400, "M_BAD_JSON", "'messages' must be an object");
		return;
	}
	char txn[600];
	snprintf(txn, sizeof(txn), "to_device/%s", r->param[1]);
	char *seen = NULL;
	if (acct_txn_get(CS(r)->acct, r->user_id, r->device_id, txn, &seen) == MXDB_OK) {
		free(seen);
		http_reply_empty(r);
		return;
	}
	mxdb_error e;
	mxdb_status st = acct_to_device_send(CS(r)->acct, r->user_id, r->param[0], msgs, &e);
	if (st == MXDB_OK)
		st = acct_txn_put(CS(r)->acct, r->user_id, r->device_id, txn, "", &e);
	cs_done(r, st, &e);
}
