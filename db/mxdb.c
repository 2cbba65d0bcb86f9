/*
 * mxdb.c: the mxdb handle: open (data directory, key, store, writer),
 * close, the accessors, waiting for new stream positions, the directory
 * (aliases, public rooms). Owns the handle's lifetime; the write path lives
 * in room_*.c, reads in room_read.c, change records in change.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cjson.h"
#include "engine.h"
#include "fed_store.h"

static char *path_join(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = malloc(n);
	if (p != NULL)
		snprintf(p, n, "%s/%s", dir, name);
	return p;
}

mxdb_status mxdb_open(const char *dir, const mxdb_options *opt, mxdb **out, mxdb_error *err)
{
	mxdb_options dflt = {0};
	if (opt == NULL)
		opt = &dflt;
	if (dir == NULL || out == NULL)
		return mx_fail(err, MXDB_EINVAL, "no directory");
	*out = NULL;
	const char *name = opt->server_name ? opt->server_name : "localhost:8008";
	if (name[0] == '\0' || strlen(name) > 200)
		return mx_fail(err, MXDB_EINVAL, "bad server name");
	const mx_room_version *rv = opt->room_version ? rv_get(opt->room_version) : rv_default();
	if (rv == NULL)
		return mx_fail(err, MXDB_EVERSION, "room version %s is not supported", opt->room_version);
	if (sodium_init() < 0)
		return mx_fail(err, MXDB_EINTERNAL, "libsodium does not start");
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return mx_fail(err, MXDB_EIO, "mkdir %s: %s", dir, strerror(errno));

	mxdb *db = calloc(1, sizeof(*db));
	if (db == NULL)
		return mx_fail(err, MXDB_ENOMEM, "mxdb");
	pthread_mutex_init(&db->qlock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&db->qcond, &ca);
	pthread_cond_init(&db->done, NULL);
	pthread_mutex_init(&db->plock, NULL);
	pthread_cond_init(&db->pcond, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&db->cblock, NULL);
	db->lock_fd = -1;
	snprintf(db->server_name, sizeof(db->server_name), "%s", name);
	db->default_rv = rv;
	db->dir = strdup(dir);
	db->db_path = path_join(dir, "mxdb.sqlite3");
	char *key_path = path_join(dir, "signing.key"), *lock_path = path_join(dir, "lock");
	mxdb_status s = MXDB_OK;
	if (db->dir == NULL || db->db_path == NULL || key_path == NULL || lock_path == NULL)
		s = mx_fail(err, MXDB_ENOMEM, "mxdb");
	/* Two writers on one file would hand out the same stream positions. */
	if (s == MXDB_OK && (db->lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0)
		s = mx_fail(err, MXDB_EIO, "%s: %s", lock_path, strerror(errno));
	if (s == MXDB_OK && flock(db->lock_fd, LOCK_EX | LOCK_NB) != 0)
		s = mx_fail(err, errno == EWOULDBLOCK ? MXDB_EEXISTS : MXDB_EIO,
		            "%s is in use by another mxdb handle or process", dir);
	free(lock_path);
	if (s == MXDB_OK)
		s = key_load_or_create(&db->key, key_path, err);
	free(key_path);
	if (s == MXDB_OK) {
		key_public_b64(&db->key, db->pk_b64);
		s = store_open(db->db_path, opt->synchronous == MXDB_SYNC_FULL,
		               opt->readers > 0 ? opt->readers : 4, &db->st, err);
	}
	if (s == MXDB_OK)
		s = fed_store_migrate(db->st->writer.db, err);
	if (s == MXDB_OK)
		s = eng_start(db, err);
	if (s != MXDB_OK) {
		mxdb_close(db);
		return s;
	}
	*out = db;
	return MXDB_OK;
}

void mxdb_close(mxdb *db)
{
	if (db == NULL)
		return;
	eng_stop(db);
	store_close(db->st);
	sodium_memzero(&db->key, sizeof(db->key));
	pthread_mutex_destroy(&db->qlock);
	pthread_cond_destroy(&db->qcond);
	pthread_cond_destroy(&db->done);
	pthread_mutex_destroy(&db->plock);
	pthread_cond_destroy(&db->pcond);
	pthread_mutex_destroy(&db->cblock);
	if (db->lock_fd >= 0)
		close(db->lock_fd); /* releases the flock */
	free(db->dir);
	free(db->db_path);
	free(db);
}

const char *mxdb_server_name(const mxdb *db)
{
	return db->server_name;
}

const char *mxdb_key_id(const mxdb *db)
{
	return db->key.key_id;
}

const char *mxdb_public_key(const mxdb *db)
{
	return db->pk_b64;
}

const char *mxdb_sqlite_path(const mxdb *db)
{
	return db->db_path;
}

const char *mxdb_default_room_version(const mxdb *db)
{
	return db->default_rv->id;
}

mxdb_status mxdb_sign_json(mxdb *db, const char *json, char **out, mxdb_error *err)
{
	json_t *obj;
	if (json == NULL || out == NULL)
		return mx_fail(err, MXDB_EINVAL, "nothing to sign");
	mxdb_status s = cj_parse(json, strlen(json), &obj, err);
	if (s != MXDB_OK)
		return s;
	if (!json_is_object(obj))
		s = mx_fail(err, MXDB_EBADJSON, "only objects are signed");
	if (s == MXDB_OK)
		s = key_sign_json(&db->key, db->server_name, obj, err);
	size_t len;
	if (s == MXDB_OK)
		s = cj_dump(obj, out, &len, err);
	json_decref(obj);
	return s;
}

uint64_t mxdb_stream_pos(mxdb *db)
{
	pthread_mutex_lock(&db->plock);
	uint64_t p = db->pos;
	pthread_mutex_unlock(&db->plock);
	return p;
}

uint64_t mxdb_last_seq(mxdb *db)
{
	pthread_mutex_lock(&db->plock);
	uint64_t s = db->seq;
	pthread_mutex_unlock(&db->plock);
	return s;
}

uint64_t mxdb_wait(mxdb *db, uint64_t after, int timeout_ms)
{
	struct timespec until;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += timeout_ms / 1000;
	until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&db->plock);
	while (db->pos <= after && db->writer_started && timeout_ms > 0)
		if (pthread_cond_timedwait(&db->pcond, &db->plock, &until) != 0)
			break;
	uint64_t p = db->pos;
	pthread_mutex_unlock(&db->plock);
	return p;
}

/* ---- the directory: aliases and public rooms (writes go through the writer) ---- */

typedef struct dir_arg {
	const char *alias, *room_id, *creator;
	int visibility;
} dir_arg;

static const char SQL_ROOM_EXISTS[] = "SELECT 1 FROM rooms WHERE room_id = ?";
static const char SQL_ALIAS_PUT[] = "INSERT INTO aliases(alias, room_id, creator) VALUES (?,?,?)";
static const char SQL_ALIAS_DEL[] = "DELETE FROM aliases WHERE alias = ?";
static const char SQL_VISIBILITY[] = "UPDATE rooms SET public = ? WHERE room_id = ?";

static mxdb_status alias_put_fn(mxdb *db, eng_req *req, void *argp, mxdb_error *err)
{
	dir_arg *a = argp;
	store_conn *w = &db->st->writer;
	sqlite3_stmt *st = store_stmt(w, SQL_ROOM_EXISTS, err);
	if (st == NULL)
		return MXDB_EIO;
	sqlite3_bind_text(st, 1, a->room_id, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_ROW)
		return rc == SQLITE_DONE ? mx_fail(err, MXDB_ENOTFOUND, "no room %s", a->room_id)
		                         : store_fail(w, err, "room");
	if ((st = store_stmt(w, SQL_ALIAS_PUT, err)) == NULL)
		return MXDB_EIO;
	sqlite3_bind_text(st, 1, a->alias, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, a->room_id, -1, SQLITE_STATIC);
	if (a->creator != NULL)
		sqlite3_bind_text(st, 3, a->creator, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc == SQLITE_CONSTRAINT)
		return mx_fail(err, MXDB_EEXISTS, "alias %s is taken", a->alias);
	return rc == SQLITE_DONE ? MXDB_OK : store_fail(w, err, "alias");
}

static mxdb_status dir_update_fn(mxdb *db, eng_req *req, void *argp, mxdb_error *err)
{
	dir_arg *a = argp;
	store_conn *w = &db->st->writer;
	sqlite3_stmt *st = store_stmt(w, a->alias ? SQL_ALIAS_DEL : SQL_VISIBILITY, err);
	if (st == NULL)
		return MXDB_EIO;
	if (a->alias != NULL) {
		sqlite3_bind_text(st, 1, a->alias, -1, SQLITE_STATIC);
	} else {
		sqlite3_bind_int(st, 1, a->visibility != 0);
		sqlite3_bind_text(st, 2, a->room_id, -1, SQLITE_STATIC);
	}
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return store_fail(w, err, "directory");
	return sqlite3_changes(w->db) == 1 ? MXDB_OK
	                                   : mx_fail(err, MXDB_ENOTFOUND, "no %s", a->alias ? a->alias : a->room_id);
}

static mxdb_status check_alias(const char *alias, mxdb_error *err)
{
	if (alias == NULL || alias[0] != '#' || strchr(alias, ':') == NULL || strlen(alias) > EV_MAX_ID)
		return mx_fail(err, MXDB_EINVAL, "an alias looks like #name:server");
	return MXDB_OK;
}

mxdb_status mxdb_alias_put(mxdb *db, const char *alias, const char *room_id, const char *creator,
                           mxdb_error *err)
{
	mxdb_status s = check_alias(alias, err);
	if (s != MXDB_OK)
		return s;
	if (room_id == NULL || room_id[0] != '!')
		return mx_fail(err, MXDB_EINVAL, "bad room ID");
	dir_arg a = {.alias = alias, .room_id = room_id, .creator = creator};
	return eng_submit(db, alias_put_fn, &a, NULL, err);
}

mxdb_status mxdb_alias_delete(mxdb *db, const char *alias, mxdb_error *err)
{
	mxdb_status s = check_alias(alias, err);
	dir_arg a = {.alias = alias};
	return s == MXDB_OK ? eng_submit(db, dir_update_fn, &a, NULL, err) : s;
}

mxdb_status mxdb_set_visibility(mxdb *db, const char *room_id, int visibility_public,
                                mxdb_error *err)
{
	if (room_id == NULL)
		return mx_fail(err, MXDB_EINVAL, "no room");
	dir_arg a = {.room_id = room_id, .visibility = visibility_public};
	return eng_submit(db, dir_update_fn, &a, NULL, err);
}
