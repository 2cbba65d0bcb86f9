/*
 * acct.c: the accounts store's connection and schema, users (Argon2id
 * hashes), devices and access tokens (with an in-memory cache). Profiles,
 * filters and transaction IDs live in acct_profile.c, the streamed parts in
 * acct_stream.c.
 * Never hashes a password while holding the lock.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sodium.h>

#include "acct_int.h"

#define ACCT_SCHEMA_VERSION 1

static const char schema_sql[] =
	"CREATE TABLE IF NOT EXISTS schema_versions(module TEXT PRIMARY KEY, version INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS acct_users(user_id TEXT PRIMARY KEY, password_hash TEXT,"
	" created_ts INTEGER NOT NULL, displayname TEXT, avatar_url TEXT);"
	"CREATE TABLE IF NOT EXISTS acct_devices(user_id TEXT NOT NULL, device_id TEXT NOT NULL,"
	" display_name TEXT, last_seen_ts INTEGER, PRIMARY KEY(user_id, device_id));"
	"CREATE TABLE IF NOT EXISTS acct_tokens(token TEXT PRIMARY KEY, user_id TEXT NOT NULL,"
	" device_id TEXT NOT NULL);"
	"CREATE INDEX IF NOT EXISTS acct_tokens_dev ON acct_tokens(user_id, device_id);"
	"CREATE TABLE IF NOT EXISTS acct_filters(user_id TEXT NOT NULL, filter_id INTEGER NOT NULL,"
	" filter TEXT NOT NULL, PRIMARY KEY(user_id, filter_id));"
	"CREATE TABLE IF NOT EXISTS acct_account_data(user_id TEXT NOT NULL, room_id TEXT NOT NULL,"
	" type TEXT NOT NULL, content TEXT NOT NULL, pos INTEGER NOT NULL,"
	" PRIMARY KEY(user_id, room_id, type));"
	"CREATE TABLE IF NOT EXISTS acct_to_device(pos INTEGER PRIMARY KEY, user_id TEXT NOT NULL,"
	" device_id TEXT NOT NULL, sender TEXT NOT NULL, type TEXT NOT NULL, content TEXT NOT NULL);"
	"CREATE INDEX IF NOT EXISTS acct_to_device_dev ON acct_to_device(user_id, device_id, pos);"
	"CREATE TABLE IF NOT EXISTS acct_device_keys(user_id TEXT NOT NULL, device_id TEXT NOT NULL,"
	" keys TEXT NOT NULL, pos INTEGER NOT NULL, PRIMARY KEY(user_id, device_id));"
	"CREATE TABLE IF NOT EXISTS acct_otks(user_id TEXT NOT NULL, device_id TEXT NOT NULL,"
	" algorithm TEXT NOT NULL, key_id TEXT NOT NULL, key TEXT NOT NULL,"
	" PRIMARY KEY(user_id, device_id, algorithm, key_id));"
	"CREATE TABLE IF NOT EXISTS acct_fallback_keys(user_id TEXT NOT NULL, device_id TEXT NOT NULL,"
	" algorithm TEXT NOT NULL, key_id TEXT NOT NULL, key TEXT NOT NULL, used INTEGER NOT NULL,"
	" PRIMARY KEY(user_id, device_id, algorithm));"
	"CREATE TABLE IF NOT EXISTS acct_txns(user_id TEXT NOT NULL, device_id TEXT NOT NULL,"
	" txn_id TEXT NOT NULL, event_id TEXT NOT NULL, ts INTEGER NOT NULL,"
	" PRIMARY KEY(user_id, device_id, txn_id));"
	"CREATE TABLE IF NOT EXISTS acct_receipts(room_id TEXT NOT NULL, user_id TEXT NOT NULL,"
	" type TEXT NOT NULL, thread_id TEXT NOT NULL, event_id TEXT NOT NULL, ts INTEGER NOT NULL,"
	" pos INTEGER NOT NULL, PRIMARY KEY(room_id, user_id, type, thread_id));"
	"CREATE INDEX IF NOT EXISTS acct_receipts_pos ON acct_receipts(pos);"
	"CREATE TABLE IF NOT EXISTS acct_meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);";

int64_t acct_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- SQL helpers ---- */

static sqlite3_stmt *stmt_v(acct_db *a, mxdb_error *err, const char *sql, const char *types,
                            va_list ap)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(a->db, sql, -1, &st, NULL) != SQLITE_OK) {
		mx_fail(err, MXDB_EIO, "accounts: %s", sqlite3_errmsg(a->db));
		return NULL;
	}
	for (int i = 0; types[i]; i++) {
		if (types[i] == 'i') {
			sqlite3_bind_int64(st, i + 1, va_arg(ap, int64_t));
		} else {
			const char *s = va_arg(ap, const char *);
			if (s == NULL)
				sqlite3_bind_null(st, i + 1);
			else
				sqlite3_bind_text(st, i + 1, s, -1, SQLITE_TRANSIENT);
		}
	}
	return st;
}

sqlite3_stmt *acct_stmt(acct_db *a, mxdb_error *err, const char *sql, const char *types, ...)
{
	va_list ap;
	va_start(ap, types);
	sqlite3_stmt *st = stmt_v(a, err, sql, types, ap);
	va_end(ap);
	return st;
}

mxdb_status acct_exec(acct_db *a, mxdb_error *err, const char *sql, const char *types, ...)
{
	va_list ap;
	va_start(ap, types);
	sqlite3_stmt *st = stmt_v(a, err, sql, types, ap);
	va_end(ap);
	if (st == NULL)
		return MXDB_EIO;
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return mx_fail(err, MXDB_EIO, "accounts: %s", sqlite3_errmsg(a->db));
	return MXDB_OK;
}

char *acct_col_str(sqlite3_stmt *st, int col)
{
	const unsigned char *t = sqlite3_column_text(st, col);
	return t != NULL ? strdup((const char *)t) : NULL;
}

void acct_set_col(json_t *obj, const char *key, sqlite3_stmt *st, int col)
{
	if (sqlite3_column_type(st, col) != SQLITE_NULL)
		json_object_set_new(obj, key, json_string((const char *)sqlite3_column_text(st, col)));
}

json_t *acct_col_json(sqlite3_stmt *st, int col)
{
	const void *t = sqlite3_column_text(st, col);
	if (t == NULL)
		return NULL;
	return json_loadb(t, (size_t)sqlite3_column_bytes(st, col), 0, NULL);
}

mxdb_status acct_save_pos(acct_db *a, mxdb_error *err)
{
	return acct_exec(a, err, "INSERT OR REPLACE INTO acct_meta(key, value) VALUES('pos', ?)",
	                 "i", (int64_t)a->pos);
}

uint64_t acct_next_pos(acct_db *a)
{
	return ++a->pos;
}

void acct_notify(acct_db *a)
{
	if (a->notify != NULL)
		a->notify(a->notify_arg);
}

void acct_set_notify(acct_db *a, void (*fn)(void *arg), void *arg)
{
	a->notify = fn;
	a->notify_arg = arg;
}

/* ---- open / close ---- */

static mxdb_status load_pos(acct_db *a, mxdb_error *err)
{
	sqlite3_stmt *st = acct_stmt(
		a, err,
		"SELECT max(coalesce((SELECT max(pos) FROM acct_account_data),0),"
		" coalesce((SELECT max(pos) FROM acct_to_device),0),"
		" coalesce((SELECT max(pos) FROM acct_device_keys),0),"
		" coalesce((SELECT max(pos) FROM acct_receipts),0),"
		" coalesce((SELECT value FROM acct_meta WHERE key = 'pos'),0))",
		"");
	if (st == NULL)
		return MXDB_EIO;
	if (sqlite3_step(st) == SQLITE_ROW)
		a->pos = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return MXDB_OK;
}

mxdb_status acct_open(acct_db **out, const char *path, const char *server_name, mxdb_error *err)
{
	if (sodium_init() < 0)
		return mx_fail(err, MXDB_EINTERNAL, "libsodium does not initialise");
	acct_db *a = calloc(1, sizeof(*a));
	if (a == NULL)
		return mx_fail(err, MXDB_ENOMEM, "out of memory");
	snprintf(a->server_name, sizeof(a->server_name), "%s", server_name);
	a->opslimit = crypto_pwhash_OPSLIMIT_INTERACTIVE;
	a->memlimit = crypto_pwhash_MEMLIMIT_INTERACTIVE;
	pthread_mutex_init(&a->mu, NULL);
	a->tokens = map_new(64);
	mxdb_status st = MXDB_OK;
	if (a->tokens == NULL) {
		st = mx_fail(err, MXDB_ENOMEM, "out of memory");
		goto fail;
	}
	if (sqlite3_open_v2(path, &a->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
	                                      SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		st = mx_fail(err, MXDB_EIO, "cannot open %s: %s", path,
		             a->db ? sqlite3_errmsg(a->db) : "out of memory");
		goto fail;
	}
	sqlite3_busy_timeout(a->db, 10000);
	char *msg = NULL;
	if (sqlite3_exec(a->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", NULL, NULL,
	                 &msg) != SQLITE_OK ||
	    sqlite3_exec(a->db, schema_sql, NULL, NULL, &msg) != SQLITE_OK) {
		st = mx_fail(err, MXDB_EIO, "accounts schema: %s", msg ? msg : "?");
		sqlite3_free(msg);
		goto fail;
	}
	st = acct_exec(a, err,
	               "INSERT INTO schema_versions(module, version) VALUES('acct', ?)"
	               " ON CONFLICT(module) DO NOTHING",
	               "i", (int64_t)ACCT_SCHEMA_VERSION);
	if (st != MXDB_OK || (st = load_pos(a, err)) != MXDB_OK)
		goto fail;
	*out = a;
	return MXDB_OK;
fail:
	acct_close(a);
	return st;
}

void acct_close(acct_db *a)
{
	if (a == NULL)
		return;
	if (a->db != NULL)
		sqlite3_close(a->db);
	map_free(a->tokens, free);
	pthread_mutex_destroy(&a->mu);
	free(a);
}

const char *acct_server_name(const acct_db *a)
{
	return a->server_name;
}

void acct_set_hash_cost(acct_db *a, unsigned long long opslimit, size_t memlimit)
{
	a->opslimit = opslimit < crypto_pwhash_OPSLIMIT_MIN ? crypto_pwhash_OPSLIMIT_MIN : opslimit;
	a->memlimit = memlimit < crypto_pwhash_MEMLIMIT_MIN ? crypto_pwhash_MEMLIMIT_MIN : memlimit;
}

/* ---- users ---- */

mxdb_status acct_check_localpart(const char *lp, mxdb_error *err)
{
	size_t n = strlen(lp);
	if (n == 0)
		return mx_fail(err, MXDB_EINVAL, "the username is empty");
	if (n > 200)
		return mx_fail(err, MXDB_EINVAL, "the username is too long");
	for (size_t i = 0; i < n; i++) {
		char c = lp[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || strchr("._=-/+", c)))
			return mx_fail(err, MXDB_EINVAL, "the username may only contain a-z, 0-9, ._=-/+");
	}
	return MXDB_OK;
}

static mxdb_status hash_password(acct_db *a, const char *pw, char out[crypto_pwhash_STRBYTES],
                                 mxdb_error *err)
{
	if (crypto_pwhash_str(out, pw, strlen(pw), a->opslimit, a->memlimit) != 0)
		return mx_fail(err, MXDB_ENOMEM, "cannot hash the password");
	return MXDB_OK;
}

mxdb_status acct_user_create(acct_db *a, const char *localpart, const char *password,
                             char **user_id, mxdb_error *err)
{
	mxdb_status st = acct_check_localpart(localpart, err);
	if (st != MXDB_OK)
		return st;
	char uid[512];
	snprintf(uid, sizeof(uid), "@%s:%s", localpart, a->server_name);
	if (strlen(uid) > 255)
		return mx_fail(err, MXDB_EINVAL, "the user ID is over 255 bytes");
	char hash[crypto_pwhash_STRBYTES];
	if (password != NULL && (st = hash_password(a, password, hash, err)) != MXDB_OK)
		return st;
	pthread_mutex_lock(&a->mu);
	sqlite3_stmt *q = acct_stmt(a, err,
	                            "INSERT INTO acct_users(user_id, password_hash, created_ts)"
	                            " VALUES(?, ?, ?) ON CONFLICT DO NOTHING",
	                            "sni", uid, password ? hash : NULL, acct_now_ms());
	if (q == NULL) {
		pthread_mutex_unlock(&a->mu);
		return MXDB_EIO;
	}
	int rc = sqlite3_step(q);
	int changed = sqlite3_changes(a->db);
	sqlite3_finalize(q);
	pthread_mutex_unlock(&a->mu);
	if (rc != SQLITE_DONE)
		return mx_fail(err, MXDB_EIO, "cannot store the user");
	if (changed == 0)
		return mx_fail(err, MXDB_EEXISTS, "the user ID is already taken");
	if (user_id != NULL)
		*user_id = strdup(uid);
	return MXDB_OK;
}

/* The stored hash (NULL when none); *found says whether the user exists. */
static char *user_hash(acct_db *a, const char *user_id, bool *found)
{
	*found = false;
	char *h = NULL;
	pthread_mutex_lock(&a->mu);
	sqlite3_stmt *q =
		acct_stmt(a, NULL, "SELECT password_hash FROM acct_users WHERE user_id = ?", "s", user_id);
	if (q != NULL && sqlite3_step(q) == SQLITE_ROW) {
		*found = true;
		h = acct_col_str(q, 0);
	}
	sqlite3_finalize(q);
	pthread_mutex_unlock(&a->mu);
	return h;
}

bool acct_user_exists(acct_db *a, const char *user_id)
{
	bool found;
	free(user_hash(a, user_id, &found));
	return found;
}

mxdb_status acct_password_check(acct_db *a, const char *user_id, const char *password,
                                mxdb_error *err)
{
	bool found;
	char *h = user_hash(a, user_id, &found);
	bool ok = h != NULL && crypto_pwhash_str_verify(h, password, strlen(password)) == 0;
	free(h);
	if (!ok)
		return mx_fail(err, MXDB_EFORBIDDEN, "invalid username or password");
	return MXDB_OK;
}

mxdb_status acct_password_set(acct_db *a, const char *user_id, const char *password,
                              mxdb_error *err)
{
	char hash[crypto_pwhash_STRBYTES];
	mxdb_status st = hash_password(a, password, hash, err);
	if (st != MXDB_OK)
		return st;
	pthread_mutex_lock(&a->mu);
	st = acct_exec(a, err, "UPDATE acct_users SET password_hash = ? WHERE user_id = ?", "ss",
	               hash, user_id);
	pthread_mutex_unlock(&a->mu);
	return st;
}

/* ---- devices and tokens ---- */

static void random_b64(char *out, size_t nbytes)
{
	unsigned char bin[48];
	randombytes_buf(bin, nbytes);
	sodium_bin2base64(out, sodium_base64_ENCODED_LEN(nbytes, sodium_base64_VARIANT_URLSAFE_NO_PADDING),
	                  bin, nbytes, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

static void random_device_id(char out[11])
{
	for (int i = 0; i < 10; i++)
		out[i] = (char)('A' + randombytes_uniform(26));
	out[10] = '\0';
}

mxdb_status acct_login(acct_db *a, const char *user_id, const char *device_id,
                       const char *display_name, char **device_out, char **token,
                       mxdb_error *err)
{
	char dev[11], tok[80];
	if (device_id == NULL) {
		random_device_id(dev);
		device_id = dev;
	}
	memcpy(tok, "mxdb_", 5);
	random_b64(tok + 5, 32);
	pthread_mutex_lock(&a->mu);
	mxdb_status st = acct_exec(a, err,
	                           "INSERT INTO acct_devices(user_id, device_id, display_name,"
	                           " last_seen_ts) VALUES(?, ?, ?, ?) ON CONFLICT(user_id, device_id)"
	                           " DO UPDATE SET last_seen_ts = excluded.last_seen_ts",
	                           "ssni", user_id, device_id, display_name, acct_now_ms());
	if (st == MXDB_OK)
		st = acct_exec(a, err, "INSERT INTO acct_tokens(token, user_id, device_id) VALUES(?,?,?)",
		               "sss", tok, user_id, device_id);
	pthread_mutex_unlock(&a->mu);
	if (st != MXDB_OK)
		return st;
	*device_out = strdup(device_id);
	*token = strdup(tok);
	return MXDB_OK;
}

mxdb_status acct_token_lookup(acct_db *a, const char *token, char **user_id, char **device_id)
{
	size_t tl = strlen(token);
	mxdb_status st = MXDB_ENOTFOUND;
	pthread_mutex_lock(&a->mu);
	const char *hit = map_get(a->tokens, token, tl);
	if (hit == NULL) {
		sqlite3_stmt *q = acct_stmt(a, NULL,
		                            "SELECT user_id, device_id FROM acct_tokens WHERE token = ?",
		                            "s", token);
		if (q != NULL && sqlite3_step(q) == SQLITE_ROW) {
			const char *u = (const char *)sqlite3_column_text(q, 0);
			const char *d = (const char *)sqlite3_column_text(q, 1);
			size_t ul = strlen(u), dl = strlen(d);
			char *v = malloc(ul + dl + 2);
			if (v != NULL) {
				memcpy(v, u, ul + 1);
				memcpy(v + ul + 1, d, dl + 1);
				if (map_put(a->tokens, token, tl, v, NULL) != 0)
					free(v);
				else
					hit = v;
			}
		}
		sqlite3_finalize(q);
	}
	if (hit != NULL) {
		*user_id = strdup(hit);
		*device_id = strdup(hit + strlen(hit) + 1);
		st = MXDB_OK;
	}
	pthread_mutex_unlock(&a->mu);
	return st;
}

/* Drops every cached token (after a bulk delete); caller holds mu. */
static void token_cache_clear(acct_db *a)
{
	map_free(a->tokens, free);
	a->tokens = map_new(64);
}

mxdb_status acct_logout(acct_db *a, const char *token, mxdb_error *err)
{
	pthread_mutex_lock(&a->mu);
	free(map_del(a->tokens, token, strlen(token)));
	mxdb_status st = acct_exec(a, err, "DELETE FROM acct_tokens WHERE token = ?", "s", token);
	pthread_mutex_unlock(&a->mu);
	return st;
}

mxdb_status acct_logout_all(acct_db *a, const char *user_id, mxdb_error *err)
{
	pthread_mutex_lock(&a->mu);
	token_cache_clear(a);
	mxdb_status st = acct_exec(a, err, "DELETE FROM acct_tokens WHERE user_id = ?", "s", user_id);
	pthread_mutex_unlock(&a->mu);
	return st;
}

mxdb_status acct_logout_others(acct_db *a, const char *user_id, const char *keep_token,
                               mxdb_error *err)
{
	pthread_mutex_lock(&a->mu);
	token_cache_clear(a);
	mxdb_status st = acct_exec(a, err, "DELETE FROM acct_tokens WHERE user_id = ? AND token != ?",
	                           "ss", user_id, keep_token ? keep_token : "");
	pthread_mutex_unlock(&a->mu);
	return st;
}

mxdb_status acct_device_delete(acct_db *a, const char *user_id, const char *device_id,
                               mxdb_error *err)
{
	static const char *const sql[] = {
		"DELETE FROM acct_tokens WHERE user_id = ? AND device_id = ?",
		"DELETE FROM acct_otks WHERE user_id = ? AND device_id = ?",
		"DELETE FROM acct_fallback_keys WHERE user_id = ? AND device_id = ?",
		"DELETE FROM acct_device_keys WHERE user_id = ? AND device_id = ?",
		"DELETE FROM acct_to_device WHERE user_id = ? AND device_id = ?",
		"DELETE FROM acct_devices WHERE user_id = ? AND device_id = ?",
	};
	mxdb_status st = MXDB_OK;
	pthread_mutex_lock(&a->mu);
	token_cache_clear(a);
	st = acct_save_pos(a, err);
	for (size_t i = 0; i < sizeof(sql) / sizeof(sql[0]) && st == MXDB_OK; i++)
		st = acct_exec(a, err, sql[i], "ss", user_id, device_id);
	pthread_mutex_unlock(&a->mu);
	return st;
}

mxdb_status acct_devices(acct_db *a, const char *user_id, const char *device_id, json_t **out,
                         mxdb_error *err)
{
	json_t *list = json_array();
	pthread_mutex_lock(&a->mu);
	sqlite3_stmt *q = acct_stmt(a, err,
	                            "SELECT device_id, display_name, last_seen_ts FROM acct_devices"
	                            " WHERE user_id = ? AND (?2 IS NULL OR device_id = ?2)"
	                            " ORDER BY device_id",
	                            "sn", user_id, device_id);
	while (q != NULL && sqlite3_step(q) == SQLITE_ROW) {
		/* Clients (matrix-nio) want every field, null when unknown. */
		json_t *d = json_pack("{s:s, s:n, s:n, s:I}", "device_id",
		                      (const char *)sqlite3_column_text(q, 0), "display_name",
		                      "last_seen_ip", "last_seen_ts",
		                      (json_int_t)sqlite3_column_int64(q, 2));
		acct_set_col(d, "display_name", q, 1);
		json_array_append_new(list, d);
	}
	sqlite3_finalize(q);
	pthread_mutex_unlock(&a->mu);
	if (q == NULL) {
		json_decref(list);
		return MXDB_EIO;
	}
	if (device_id != NULL && json_array_size(list) == 0) {
		json_decref(list);
		return mx_fail(err, MXDB_ENOTFOUND, "no such device");
	}
	*out = list;
	return MXDB_OK;
}

mxdb_status acct_device_rename(acct_db *a, const char *user_id, const char *device_id,
                               const char *display_name, mxdb_error *err)
{
	pthread_mutex_lock(&a->mu);
	mxdb_status st = acct_exec(a, err,
	                           "UPDATE acct_devices SET display_name = ?"
	                           " WHERE user_id = ? AND device_id = ?",
	                           "nss", display_name, user_id, device_id);
	int changed = sqlite3_changes(a->db);
	pthread_mutex_unlock(&a->mu);
	if (st == MXDB_OK && changed == 0)
		return mx_fail(err, MXDB_ENOTFOUND, "no such device");
	return st;
}
