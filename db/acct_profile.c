/*
 * acct_profile.c: the accounts store's per-user records that are not
 * streamed: profiles, the user directory search, filters and transaction
 * IDs. The connection, users, devices and tokens live in acct.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acct_int.h"

/* ---- profiles ---- */

mxdb_status acct_profile_get(acct_db *a, const char *user_id, json_t **out, mxdb_error *err)
{
	mxdb_status st = MXDB_OK;
	pthread_mutex_lock(&a->mu);
	sqlite3_stmt *q = acct_stmt(a, err,
	                            "SELECT displayname, avatar_url FROM acct_users WHERE user_id = ?",
	                            "s", user_id);
	if (q == NULL) {
		st = MXDB_EIO;
	} else if (sqlite3_step(q) != SQLITE_ROW) {
		st = mx_fail(err, MXDB_ENOTFOUND, "no such user");
	} else {
		json_t *p = json_object();
		acct_set_col(p, "displayname", q, 0);
		acct_set_col(p, "avatar_url", q, 1);
		*out = p;
	}
	sqlite3_finalize(q);
	pthread_mutex_unlock(&a->mu);
	return st;
}

mxdb_status acct_profile_set(acct_db *a, const char *user_id, const char *field,
                             const char *value, mxdb_error *err)
{
	const char *sql;
	if (strcmp(field, "displayname") == 0)
		sql = "UPDATE acct_users SET displayname = ? WHERE user_id = ?";
	else if (strcmp(field, "avatar_url") == 0)
		sql = "UPDATE acct_users SET avatar_url = ? WHERE user_id = ?";
	else
		return mx_fail(err, MXDB_EINVAL, "unknown profile field %s", field);
	pthread_mutex_lock(&a->mu);
	mxdb_status st = acct_exec(a, err, sql, "ns", value, user_id);
	int changed = sqlite3_changes(a->db);
	pthread_mutex_unlock(&a->mu);
	if (st == MXDB_OK && changed == 0)
		return mx_fail(err, MXDB_ENOTFOUND, "no such user");
	return st;
}

mxdb_status acct_user_search(acct_db *a, const char *term, int64_t limit, json_t **out,
                             mxdb_error *err)
{
	char pattern[600];
	snprintf(pattern, sizeof(pattern), "%%%s%%", term);
	json_t *list = json_array();
	pthread_mutex_lock(&a->mu);
	sqlite3_stmt *q = acct_stmt(a, err,
	                            "SELECT user_id, displayname, avatar_url FROM acct_users"
	                            " WHERE user_id LIKE ?1 OR displayname LIKE ?1"
	                            " ORDER BY user_id LIMIT ?2",
	                            "si", pattern, limit + 1);
	while (q != NULL && sqlite3_step(q) == SQLITE_ROW) {
		json_t *u = json_pack("{s:s}", "user_id", (const char *)sqlite3_column_text(q, 0));
		acct_set_col(u, "display_name", q, 1);
		acct_set_col(u, "avatar_url", q, 2);
		json_array_append_new(list, u);
	}
	sqlite3_finalize(q);
	pthread_mutex_unlock(&a->mu);
	if (q == NULL) {
		json_decref(list);
		return MXDB_EIO;
	}
	*out = list;
	return MXDB_OK;
}

/* ---- filters ---- */

mxdb_status acct_filter_put(acct_db *a, const char *user_id, const json_t *filter, char **id,
                            mxdb_error *err)
{
	char *text = json_dumps(filter, JSON_COMPACT);
	if (text == NULL)
		return mx_fail(err, MXDB_ENOMEM, "out of memory");
	int64_t fid = 0;
	pthread_mutex_lock(&a->mu);
	sqlite3_stmt *q = acct_stmt(a, err,
	                            "INSERT INTO acct_filters(user_id, filter_id, filter)"
	                            " VALUES(?1, (SELECT coalesce(max(filter_id), -1) + 1"
	                            " FROM acct_filters WHERE user_id = ?1), ?2) RETURNING filter_id",
	                            "ss", user_id, text);
	bool ok = q != NULL && sqlite3_step(q) == SQLITE_ROW;
	if (ok)
		fid = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	pthread_mutex_unlock(&a->mu);
	free(text);
	if (!ok)
		return mx_fail(err, MXDB_EIO, "cannot store the filter");
	char buf[32];
	snprintf(buf, sizeof(buf), "%lld", (long long)fid);
	*id = strdup(buf);
	return MXDB_OK;
}

mxdb_status acct_filter_get(acct_db *a, const char *user_id, const char *id, json_t **out,
                            mxdb_error *err)
{
	char *end;
	long long fid = strtoll(id, &end, 10);
	if (*id == '\0' || *end != '\0' || fid < 0)
		return mx_fail(err, MXDB_ENOTFOUND, "no such filter");
	*out = NULL;
	pthread_mutex_lock(&a->mu);
	sqlite3_stmt *q = acct_stmt(a, err,
	                            "SELECT filter FROM acct_filters WHERE user_id = ? AND filter_id = ?",
	                            "si", user_id, (int64_t)fid);
	if (q != NULL && sqlite3_step(q) == SQLITE_ROW)
		*out = acct_col_json(q, 0);
	sqlite3_finalize(q);
	pthread_mutex_unlock(&a->mu);
	if (*out == NULL)
		return mx_fail(err, MXDB_ENOTFOUND, "no such filter");
	return MXDB_OK;
}

/* ---- transaction IDs ---- */

mxdb_status acct_txn_get(acct_db *a, const char *user_id, const char *device_id,
                         const char *txn_id, char **event_id)
{
	mxdb_status st = MXDB_ENOTFOUND;
	pthread_mutex_lock(&a->mu);
	sqlite3_stmt *q = acct_stmt(a, NULL,
	                            "SELECT event_id FROM acct_txns WHERE user_id = ?"
	                            " AND device_id = ? AND txn_id = ?",
	                            "sss", user_id, device_id ? device_id : "", txn_id);
	if (q != NULL && sqlite3_step(q) == SQLITE_ROW) {
		*event_id = acct_col_str(q, 0);
		st = MXDB_OK;
	}
	sqlite3_finalize(q);
	pthread_mutex_unlock(&a->mu);
	return st;
}

mxdb_status acct_txn_put(acct_db *a, const char *user_id, const char *device_id,
                         const char *txn_id, const char *event_id, mxdb_error *err)
{
	pthread_mutex_lock(&a->mu);
	mxdb_status st = acct_exec(a, err,
	                           "INSERT OR REPLACE INTO acct_txns(user_id, device_id, txn_id,"
	                           " event_id, ts) VALUES(?, ?, ?, ?, ?)",
	                           "ssssi", user_id, device_id ? device_id : "", txn_id, event_id,
	                           acct_now_ms());
	pthread_mutex_unlock(&a->mu);
	return st;
}
