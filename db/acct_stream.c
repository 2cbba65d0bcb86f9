/*
 * acct_stream.c: the accounts data that /sync streams by position: account
 * data, to-device messages, receipts, device keys (their changes), plus one-
 * time and fallback keys. Every change takes the next acct position and
 * wakes the long-polls after its lock is released.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acct_int.h"

static mxdb_status begin(acct_db *a, mxdb_error *err)
{
	return acct_exec(a, err, "BEGIN IMMEDIATE", "");
}

static mxdb_status end(acct_db *a, mxdb_status st, mxdb_error *err)
{
	if (st == MXDB_OK)
		return acct_exec(a, err, "COMMIT", "");
	acct_exec(a, NULL, "ROLLBACK", "");
	return st;
}

uint64_t acct_pos(acct_db *a)
{
	pthread_mutex_lock(&a->mu);
	uint64_t p = a->pos;
	pthread_mutex_unlock(&a->mu);
	return p;
}

/* ---- account data ---- */

mxdb_status acct_data_put(acct_db *a, const char *user_id, const char *room_id, const char *type,
                          const json_t *content, mxdb_error *err)
{
	char *text = json_dumps(content, JSON_COMPACT);
	if (text == NULL)
		return mx_fail(err, MXDB_ENOMEM, "out of memory");
	pthread_mutex_lock(&a->mu);
	mxdb_status st = acct_exec(a, err,
	                           "INSERT OR REPLACE INTO acct_account_data(user_id, room_id, type,"
	                           " content, pos) VALUES(?, ?, ?, ?, ?)",
	                           "ssssi", user_id, room_id ? room_id : "", type, text,
	                           (int64_t)acct_next_pos(a));
	pthread_mutex_unlock(&a->mu);
	free(text);
	acct_notify(a);
	return st;
}

mxdb_status acct_data_get(acct_db *a, const char *user_id, const char *room_id, const char *type,
                          json_t **out, mxdb_error *err)
{
	*out = NULL;
	pthread_mutex_lock(&a->mu);
	sqlite3_stmt *q = acct_stmt(a, err,
	                            "SELECT content FROM acct_account_data WHERE user_id = ?"
	                            " AND room_id = ? AND type = ?",
	                            "sss", user_id, room_id ? room_id : "", type);
	if (q != NULL && sqlite3_step(q) == SQLITE_ROW)
		*out = acct_col_json(q, 0);
	sqlite3_finalize(q);
	pthread_mutex_unlock(&a->mu);
	if (*out == NULL)
		return mx_fail(err, MXDB_ENOTFOUND, "no account data of type %s", type);
	return MXDB_OK;
}

/* ---- to-device ---- */

static mxdb_status to_device_one(acct_db *a, const char *sender, const char *type,
                                 const char *user, const char *device, const char *text,
                                 mxdb_error *err)
{
	if (strcmp(device, "*") != 0)
		return acct_exec(a, err,
		                 "INSERT INTO acct_to_device(pos, user_id, device_id, sender, type,"
		                 " content) SELECT ?1, ?2, ?3, ?4, ?5, ?6 WHERE EXISTS (SELECT 1 FROM"
		                 " acct_devices WHERE user_id = ?2 AND device_id = ?3)",
		                 "isssss", (int64_t)acct_next_pos(a), user, device, sender, type, text);
	sqlite3_stmt *q =
		acct_stmt(a, err, "SELECT device_id FROM acct_devices WHERE user_id = ?", "s", user);
	if (q == NULL)
		return MXDB_EIO;
	mxdb_status st = MXDB_OK;
	while (st == MXDB_OK && sqlite3_step(q) == SQLITE_ROW) {
		char *dev = acct_col_str(q, 0);
		st = to_device_one(a, sender, type, user, dev, text, err);
		free(dev);
	}
	sqlite3_finalize(q);
	return st;
}

mxdb_status acct_to_device_send(acct_db *a, const char *sender, const char *type,
                                const json_t *messages, mxdb_error *err)
{
	if (!json_is_object(messages))
		return mx_fail(err, MXDB_EBADJSON, "messages must be an object");
	pthread_mutex_lock(&a->mu);
	mxdb_status st = begin(a, err);
	const char *user, *dev;
	json_t *devs, *content;
	json_object_foreach((json_t *)messages, user, devs) {
		if (!json_is_object(devs)) {
			st = mx_fail(err, MXDB_EBADJSON, "messages.%s must be an object", user);
			break;
		}
		json_object_foreach(devs, dev, content) {
			if (!json_is_object(content)) {
				st = mx_fail(err, MXDB_EBADJSON, "a to-device message must be an object");
				break;
			}
			char *text = json_dumps(content, JSON_COMPACT);
			if (st == MXDB_OK)
				st = to_device_one(a, sender, type, user, dev, text, err);
			free(text);
		}
		if (st != MXDB_OK)
			break;
	}
	st = end(a, st, err);
	pthread_mutex_unlock(&a->mu);
	acct_notify(a);
	return st;
}

/* ---- receipts ---- */

mxdb_status acct_receipt_put(acct_db *a, const char *room_id, const char *user_id,
                             const char *type, const char *event_id, const char *thread_id,
                             mxdb_error *err)
{
	pthread_mutex_lock(&a->mu);
	mxdb_status st = acct_exec(a, err,
	                           "INSERT OR REPLACE INTO acct_receipts(room_id, user_id, type,"
	                           " thread_id, event_id, ts, pos) VALUES(?, ?, ?, ?, ?, ?, ?)",
	                           "sssssii", room_id, user_id, type, thread_id ? thread_id : "",
	                           event_id, acct_now_ms(), (int64_t)acct_next_pos(a));
	pthread_mutex_unlock(&a->mu);
	acct_notify(a);
	return st;
}

/* Adds one receipt row (room, user, type, thread, event, ts) under rooms. */
static void receipt_add(json_t *rooms, sqlite3_stmt *q)
{
	const char *room = (const char *)sqlite3_column_text(q, 0);
	const char *user = (const char *)sqlite3_column_text(q, 1);
	const char *type = (const char *)sqlite3_column_text(q, 2);
	const char *thread = (const char *)sqlite3_column_text(q, 3);
	const char *ev = (const char *)sqlite3_column_text(q, 4);
	json_t *content = json_object_get(rooms, room);
	if (content == NULL)
		json_object_set_new(rooms, room, content = json_object());
	json_t *e = json_object_get(content, ev);
	if (e == NULL)
		json_object_set_new(content, ev, e = json_object());
	json_t *t = json_object_get(e, type);
	if (t == NULL)
		json_object_set_new(e, type, t = json_object());
	json_t *r = json_pack("{s:I}", "ts", (json_int_t)sqlite3_column_int64(q, 5));
	if (thread[0])
		json_object_set_new(r, "thread_id", json_string(thread));
	json_object_set_new(t, user, r);
}

mxdb_status acct_receipts_room(acct_db *a, const char *room_id, const char *viewer, json_t **out,
                               mxdb_error *err)
{
	json_t *rooms = json_object();
	pthread_mutex_lock(&a->mu);
	sqlite3_stmt *q = acct_stmt(a, err,
	                            "SELECT room_id, user_id, type, thread_id, event_id, ts"
	                            " FROM acct_receipts WHERE room_id = ?"
	                            " AND (type != 'm.read.private' OR user_id = ?)",
	                            "ss", room_id, viewer);
	while (q != NULL && sqlite3_step(q) == SQLITE_ROW)
		receipt_add(rooms, q);
	sqlite3_finalize(q);
	pthread_mutex_unlock(&a->mu);
	json_t *c = json_object_get(rooms, room_id);
	*out = c != NULL ? json_incref(c) : json_object();
	json_decref(rooms);
	return MXDB_OK;
}

/* ---- sync ---- */

mxdb_status acct_sync(acct_db *a, const char *user_id, const char *device_id, uint64_t since,
                      uint64_t upto, bool initial, json_t **out, mxdb_error *err)
{
	json_t *global = json_array(), *rooms = json_object(), *todev = json_array(),
	       *receipts = json_object(), *devlists = json_array();
	pthread_mutex_lock(&a->mu);
	/* Deleting is a write that would contend with the engine's writer on the
	 * shared file: look first (a read), delete only when there is something. */
	sqlite3_stmt *q = acct_stmt(a, err,
	                            "SELECT 1 FROM acct_to_device WHERE user_id = ? AND device_id = ?"
	                            " AND pos <= ? LIMIT 1",
	                            "ssi", user_id, device_id, (int64_t)since);
	bool delivered = q != NULL && sqlite3_step(q) == SQLITE_ROW;
	sqlite3_finalize(q);
	if (delivered) {
		acct_save_pos(a, NULL);
		acct_exec(a, NULL,
		          "DELETE FROM acct_to_device WHERE user_id = ? AND device_id = ? AND pos <= ?",
		          "ssi", user_id, device_id, (int64_t)since);
	}
	q = acct_stmt(a, err,
	              "SELECT room_id, type, content FROM acct_account_data"
	              " WHERE user_id = ? AND pos > ? AND pos <= ? ORDER BY pos",
	              "sii", user_id, (int64_t)since, (int64_t)upto);
	while (q != NULL && sqlite3_step(q) == SQLITE_ROW) {
		const char *room = (const char *)sqlite3_column_text(q, 0);
		json_t *content = acct_col_json(q, 2);
		json_t *ev = json_pack("{s:s, s:o}", "type", (const char *)sqlite3_column_text(q, 1),
		                       "content", content ? content : json_object());
		if (room[0] == '\0') {
			json_array_append_new(global, ev);
		} else {
			json_t *list = json_object_get(rooms, room);
			if (list == NULL)
				json_object_set_new(rooms, room, list = json_array());
			json_array_append_new(list, ev);
		}
	}
	sqlite3_finalize(q);
	q = acct_stmt(a, err,
	              "SELECT sender, type, content FROM acct_to_device WHERE user_id = ?"
	              " AND device_id = ? AND pos > ? AND pos <= ? ORDER BY pos",
	              "ssii", user_id, device_id, (int64_t)since, (int64_t)upto);
	while (q != NULL && sqlite3_step(q) == SQLITE_ROW) {
		json_t *content = acct_col_json(q, 2);
		json_array_append_new(todev, json_pack("{s:s, s:s, s:o}", "sender",
		                                       (const char *)sqlite3_column_text(q, 0), "type",
		                                       (const char *)sqlite3_column_text(q, 1), "content",
		                                       content ? content : json_object()));
	}
	sqlite3_finalize(q);
	if (!initial) {
		q = acct_stmt(a, err,
		              "SELECT room_id, user_id, type, thread_id, event_id, ts FROM acct_receipts"
		              " WHERE pos > ? AND pos <= ? AND (type != 'm.read.private' OR user_id = ?)",
		              "iis", (int64_t)since, (int64_t)upto, user_id);
		while (q != NULL && sqlite3_step(q) == SQLITE_ROW)
			receipt_add(receipts, q);
		sqlite3_finalize(q);
	}
	pthread_mutex_unlock(&a->mu);
	if (!initial) {
		json_decref(devlists);
		if (acct_keys_changed(a, since, upto, &devlists, err) != MXDB_OK)
			devlists = json_array();
	}
	*out = json_pack("{s:o, s:o, s:o, s:o, s:o}", "account_data", global, "rooms", rooms,
	                 "to_device", todev, "receipts", receipts, "device_lists", devlists);
	return MXDB_OK;
}

/* ---- end-to-end keys ---- */

/* Splits "algorithm:key_id"; false when there is no colon. */
static bool split_key_id(const char *full, char *alg, size_t cap, const char **id)
{
	const char *colon = strchr(full, ':');
	if (colon == NULL || (size_t)(colon - full) >= cap)
		return false;
	memcpy(alg, full, (size_t)(colon - full));
	alg[colon - full] = '\0';
	*id = colon + 1;
	return true;
}

static mxdb_status store_keys(acct_db *a, const char *user, const char *dev, const json_t *keys,
                              bool fallback, mxdb_error *err)
{
	const char *full;
	json_t *k;
	mxdb_status st = MXDB_OK;
	json_object_foreach((json_t *)keys, full, k) {
		char alg[128];
		const char *id;
		if (!split_key_id(full, alg, sizeof(alg), &id))
			return mx_fail(err, MXDB_EBADJSON, "key ID %s has no algorithm", full);
		char *text = json_dumps(k, JSON_COMPACT | JSON_ENCODE_ANY);
		if (fallback)
			st = acct_exec(a, err,
			               "INSERT OR REPLACE INTO acct_fallback_keys(user_id, device_id,"
			               " algorithm, key_id, key, used) VALUES(?, ?, ?, ?, ?, 0)",
			               "sssss", user, dev, alg, id, text);
		else
			st = acct_exec(a, err,
			               "INSERT OR IGNORE INTO acct_otks(user_id, device_id, algorithm,"
			               " key_id, key) VALUES(?, ?, ?, ?, ?)",
			               "sssss", user, dev, alg, id, text);
		free(text);
		if (st != MXDB_OK)
			break;
	}
	return st;
}

static mxdb_status counts_locked(acct_db *a, const char *user, const char *dev, json_t **counts,
                                 mxdb_error *err)
{
	json_t *c = json_pack("{s:i}", "signed_curve25519", 0);
	sqlite3_stmt *q = acct_stmt(a, err,
	                            "SELECT algorithm, count(*) FROM acct_otks WHERE user_id = ?"
	                            " AND device_id = ? GROUP BY algorithm",
	                            "ss", user, dev);
	while (q != NULL && sqlite3_step(q) == SQLITE_ROW)
		json_object_set_new(c, (const char *)sqlite3_column_text(q, 0),
		                    json_integer(sqlite3_column_int64(q, 1)));
	sqlite3_finalize(q);
	*counts = c;
	return q != NULL ? MXDB_OK : MXDB_EIO;
}

mxdb_status acct_keys_upload(acct_db *a, const char *user_id, const char *device_id,
                             const json_t *device_keys, const json_t *one_time_keys,
                             const json_t *fallback_keys, json_t **counts, mxdb_error *err)
{
	bool dk = json_is_object(device_keys);
	pthread_mutex_lock(&a->mu);
	mxdb_status st = begin(a, err);
	if (st == MXDB_OK && dk) {
		char *text = json_dumps(device_keys, JSON_COMPACT);
		st = acct_exec(a, err,
		               "INSERT OR REPLACE INTO acct_device_keys(user_id, device_id, keys, pos)"
		               " VALUES(?, ?, ?, ?)",
		               "sssi", user_id, device_id, text, (int64_t)acct_next_pos(a));
		free(text);
	}
	if (st == MXDB_OK && json_is_object(one_time_keys))
		st = store_keys(a, user_id, device_id, one_time_keys, false, err);
	if (st == MXDB_OK && json_is_object(fallback_keys))
		st = store_keys(a, user_id, device_id, fallback_keys, true, err);
	st = end(a, st, err);
	if (st == MXDB_OK)
		st = counts_locked(a, user_id, device_id, counts, err);
	pthread_mutex_unlock(&a->mu);
	if (dk)
		acct_notify(a);
	return st;
}

mxdb_status acct_otk_counts(acct_db *a, const char *user_id, const char *device_id,
                            json_t **counts, mxdb_error *err)
{
	pthread_mutex_lock(&a->mu);
	mxdb_status st = counts_locked(a, user_id, device_id, counts, err);
	pthread_mutex_unlock(&a->mu);
	return st;
}

mxdb_status acct_fallback_unused(acct_db *a, const char *user_id, const char *device_id,
                                 json_t **algs, mxdb_error *err)
{
	json_t *list = json_array();
	pthread_mutex_lock(&a->mu);
	sqlite3_stmt *q = acct_stmt(a, err,
	                            "SELECT algorithm FROM acct_fallback_keys WHERE user_id = ?"
	                            " AND device_id = ? AND used = 0",
	                            "ss", user_id, device_id);
	while (q != NULL && sqlite3_step(q) == SQLITE_ROW)
		json_array_append_new(list, json_string((const char *)sqlite3_column_text(q, 0)));
	sqlite3_finalize(q);
	pthread_mutex_unlock(&a->mu);
	*algs = list;
	return MXDB_OK;
}

mxdb_status acct_keys_query(acct_db *a, const json_t *query, json_t **out, mxdb_error *err)
{
	if (!json_is_object(query))
		return mx_fail(err, MXDB_EBADJSON, "device_keys must be an object");
	json_t *res = json_object();
	const char *user;
	json_t *devs;
	pthread_mutex_lock(&a->mu);
	json_object_foreach((json_t *)query, user, devs) {
		json_t *u = json_object();
		json_object_set_new(res, user, u);
		sqlite3_stmt *q = acct_stmt(a, err,
		                            "SELECT k.device_id, k.keys, d.display_name FROM"
		                            " acct_device_keys k LEFT JOIN acct_devices d ON"
		                            " d.user_id = k.user_id AND d.device_id = k.device_id"
		                            " WHERE k.user_id = ?",
		                            "s", user);
		while (q != NULL && sqlite3_step(q) == SQLITE_ROW) {
			const char *dev = (const char *)sqlite3_column_text(q, 0);
			bool wanted = !json_is_array(devs) || json_array_size(devs) == 0;
			size_t i;
			json_t *d;
			json_array_foreach(devs, i, d) if (json_is_string(d) &&
			                                   strcmp(json_string_value(d), dev) == 0) wanted =
				true;
			json_t *keys = wanted ? acct_col_json(q, 1) : NULL;
			if (keys == NULL)
				continue;
			if (sqlite3_column_type(q, 2) != SQLITE_NULL) {
				json_t *uns = json_object_get(keys, "unsigned");
				if (!json_is_object(uns))
					json_object_set_new(keys, "unsigned", uns = json_object());
				json_object_set_new(uns, "device_display_name",
				                    json_string((const char *)sqlite3_column_text(q, 2)));
			}
			json_object_set_new(u, dev, keys);
		}
		sqlite3_finalize(q);
	}
	pthread_mutex_unlock(&a->mu);
	*out = res;
	return MXDB_OK;
}

/* Takes one key for (user, dev, alg): a one-time key, else the fallback key. */
static json_t *claim_one(acct_db *a, const char *user, const char *dev, const char *alg)
{
	json_t *res = NULL;
	sqlite3_stmt *q = acct_stmt(a, NULL,
	                            "DELETE FROM acct_otks WHERE rowid = (SELECT rowid FROM acct_otks"
	                            " WHERE user_id = ? AND device_id = ? AND algorithm = ? LIMIT 1)"
	                            " RETURNING key_id, key",
	                            "sss", user, dev, alg);
	if (q != NULL && sqlite3_step(q) != SQLITE_ROW) {
		sqlite3_finalize(q);
		q = acct_stmt(a, NULL,
		              "UPDATE acct_fallback_keys SET used = 1 WHERE user_id = ? AND device_id = ?"
		              " AND algorithm = ? RETURNING key_id, key",
		              "sss", user, dev, alg);
		if (q != NULL && sqlite3_step(q) != SQLITE_ROW) {
			sqlite3_finalize(q);
			return NULL;
		}
	}
	if (q == NULL)
		return NULL;
	char full[512];
	snprintf(full, sizeof(full), "%s:%s", alg, (const char *)sqlite3_column_text(q, 0));
	json_t *key = json_loads((const char *)sqlite3_column_text(q, 1), JSON_DECODE_ANY, NULL);
	if (key != NULL)
		res = json_pack("{s:o}", full, key);
	/* Step to completion so the change is applied before finalizing. */
	while (sqlite3_step(q) == SQLITE_ROW)
		;
	sqlite3_finalize(q);
	return res;
}

mxdb_status acct_keys_claim(acct_db *a, const json_t *claim, json_t **out, mxdb_error *err)
{
	if (!json_is_object(claim))
		return mx_fail(err, MXDB_EBADJSON, "one_time_keys must be an object");
	json_t *res = json_object();
	const char *user, *dev;
	json_t *devs, *alg;
	pthread_mutex_lock(&a->mu);
	json_object_foreach((json_t *)claim, user, devs) {
		if (!json_is_object(devs))
			continue;
		json_object_foreach(devs, dev, alg) {
			if (!json_is_string(alg))
				continue;
			json_t *k = claim_one(a, user, dev, json_string_value(alg));
			if (k == NULL)
				continue;
			json_t *u = json_object_get(res, user);
			if (u == NULL)
				json_object_set_new(res, user, u = json_object());
			json_object_set_new(u, dev, k);
		}
	}
	pthread_mutex_unlock(&a->mu);
	*out = res;
	return MXDB_OK;
}

mxdb_status acct_keys_changed(acct_db *a, uint64_t since, uint64_t upto, json_t **users,
                              mxdb_error *err)
{
	json_t *list = json_array();
	pthread_mutex_lock(&a->mu);
	sqlite3_stmt *q = acct_stmt(a, err,
	                            "SELECT DISTINCT user_id FROM acct_device_keys WHERE pos > ?"
	                            " AND pos <= ?",
	                            "ii", (int64_t)since, (int64_t)upto);
	while (q != NULL && sqlite3_step(q) == SQLITE_ROW)
		json_array_append_new(list, json_string((const char *)sqlite3_column_text(q, 0)));
	sqlite3_finalize(q);
	pthread_mutex_unlock(&a->mu);
	if (q == NULL) {
		json_decref(list);
		return MXDB_EIO;
	}
	*users = list;
	return MXDB_OK;
}
