/*
 * fed_merge.c: fork merging at the cost of what changed. The states at a
 * room's extremities are state groups that share most rows: sg_diff finds
 * the keys K where they (and the current state) may differ, with each
 * group's event there; sr_resolve_part resolves K exactly as sr_resolve
 * would resolve the whole states, given the rest summarised:
 *  - the event at a key outside K, by a keyed lookup in a state group;
 *  - the auth events cited by the rows outside K (the auth difference only
 *    needs their auth chains). These come from fed_cites.c, the count of
 *    citations of each auth event by the rows of one state group (the
 *    room's current state at the last merge): the rows outside K are that
 *    group's too, so the count less its rows in K is theirs. Each merge
 *    rolls it forward to the new current group in its own transaction.
 * Only the rows whose winner changed are written. Never decides the auth
 * rules or the resolution itself (stateres.c).
 */
#include <stdlib.h>
#include <string.h>

#include "fed_cites.h"
#include "fed_merge.h"

static const char SQL_KEY_NAME[] = "SELECT type, state_key FROM cur_state WHERE nid = ?";
static const char SQL_KEY_NID[] =
	"SELECT nid FROM cur_state WHERE room_nid = ? AND type = ? AND state_key = ?";
static const char SQL_EV_ID[] = "SELECT event_id FROM events WHERE pos = ?";
static const char SQL_SET_CUR[] = "UPDATE cur_state SET pos = ? WHERE nid = ?";
static const char SQL_NEW_CUR[] =
	"INSERT INTO cur_state(room_nid, type, state_key, pos) VALUES (?, ?, ?, ?)";
static const char SQL_MERGE_CHANGE[] =
	"INSERT INTO changes(seq, room_nid, room_seq, pos, prev_pos, cause) VALUES (?,?,?,?,?,?)";
static const char SQL_NO_MEMBER[] = "DELETE FROM memberships WHERE user_id = ? AND room_nid = ?";
/* A row no current state ever held (an event that lost its merge, stored
 * over a new key) gets no version. */
static const char SQL_CLEAR_CUR[] = "UPDATE cur_state SET pos = 0 WHERE nid = ? AND pos <> 0";
/* The room's current group, read back (room_write.c) while the room's
 * newest event stays its newest. */
static const char SQL_ROOM_SG[] = "INSERT OR REPLACE INTO fed_room_sg(room_nid, pos, sg)"
                                  " VALUES (?1, (SELECT max(pos) FROM events WHERE room_nid = ?1), ?2)";

#define KEY_CAP (2 * EV_MAX_ID + 8)

static mxdb_status step(store_conn *w, sqlite3_stmt *st, const char *what, mxdb_error *err)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? MXDB_OK : store_fail(w, err, what);
}

static void *i64_get(const mx_map *m, int64_t k)
{
	return map_get(m, (const char *)&k, sizeof(k));
}

/* ---- one merge's working set ---- */

typedef struct mkey {
	int64_t nid;
	size_t len;
	char key[KEY_CAP]; /* map_state_key form */
} mkey;

typedef struct merge {
	mxdb *db;
	store_conn *w;
	eng_room *room;
	const sr_lookup *lookup;
	size_t n;           /* state sets: groups[0..n) */
	int64_t *groups;    /* the sets, then the current group, then fed_cites' */
	size_t n_groups, cur, cites_at;
	mx_map **vals;      /* per group: key_nid -> pos over K */
	mx_map *keys;       /* state key -> mkey* (K) */
	mx_map *ids;        /* pos -> char * event ID */
	mx_map *outside;    /* state key -> char * event ID (or NULL) outside K */
	mx_map **parts;     /* per set: state key -> char * event ID over K */
	mx_map *cites;      /* fed_cites as loaded: event ID -> count */
	mx_map *rest;       /* the same for the rows outside K */
	char **auth_ids;
	size_t n_auth_ids;
	mx_map *resolved;
	bool lookup_failed; /* outside_get could not read the store */
	mxdb_error *err;
} merge;

static void merge_free(merge *m)
{
	free(m->groups);
	for (size_t i = 0; m->vals && i < m->n_groups; i++)
		map_free(m->vals[i], NULL);
	free(m->vals);
	for (size_t i = 0; m->parts && i < m->n; i++)
		map_free(m->parts[i], free);
	free(m->parts);
	map_free(m->keys, free);
	map_free(m->ids, free);
	map_free(m->outside, free);
	map_free(m->cites, NULL);
	map_free(m->rest, NULL);
	free(m->auth_ids);
	map_free(m->resolved, free);
}

static mxdb_status oom(merge *m)
{
	return mx_fail(m->err, MXDB_ENOMEM, "merge: out of memory");
}

/* The event ID at pos (cached; NULL for 0). */
static mxdb_status id_of(merge *m, int64_t pos, const char **out)
{
	*out = NULL;
	if (pos == 0)
		return MXDB_OK;
	if ((*out = i64_get(m->ids, pos)) != NULL)
		return MXDB_OK;
	sqlite3_stmt *st = store_stmt(m->w, SQL_EV_ID, m->err);
	if (st == NULL)
		return MXDB_EIO;
	sqlite3_bind_int64(st, 1, pos);
	int rc = sqlite3_step(st);
	char *id = rc == SQLITE_ROW ? store_col_str(st, 0) : NULL;
	sqlite3_reset(st);
	if (id == NULL)
		return rc == SQLITE_ROW || rc == SQLITE_DONE
		           ? mx_fail(m->err, MXDB_EINTERNAL, "state names unstored event %lld", (long long)pos)
		           : store_fail(m->w, m->err, "event");
	if (map_put(m->ids, (const char *)&pos, sizeof(pos), id, NULL) != 0) {
		free(id);
		return oom(m);
	}
	*out = id;
	return MXDB_OK;
}

/* fed_cites of the room into m->cites (and its group), built once from
 * the current group when the room has none. */
static mxdb_status cites_load(merge *m, int64_t build_sg)
{
	mx_map *loaded = NULL;
	mxdb_status s = fed_cites_load(m->w, m->room->nid, build_sg, &loaded, &m->groups[m->cites_at],
	                               m->err);
	if (s == MXDB_OK) {
		map_free(m->cites, NULL);
		m->cites = loaded;
	}
	return s;
}

/* The key of K named by key_nid. */
static mxdb_status name_key(merge *m, int64_t nid)
{
	sqlite3_stmt *st = store_stmt(m->w, SQL_KEY_NAME, m->err);
	if (st == NULL)
		return MXDB_EIO;
	sqlite3_bind_int64(st, 1, nid);
	int rc = sqlite3_step(st);
	mkey *k = rc == SQLITE_ROW ? calloc(1, sizeof(*k)) : NULL;
	if (k != NULL) {
		k->nid = nid;
		k->len = map_state_key(k->key, sizeof(k->key), (const char *)sqlite3_column_text(st, 0),
		                       (const char *)sqlite3_column_text(st, 1));
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW)
		return rc == SQLITE_DONE ? mx_fail(m->err, MXDB_EINTERNAL, "state key %lld unknown", (long long)nid)
		                         : store_fail(m->w, m->err, "state key");
	void *old = NULL;
	if (k == NULL || k->len == 0 || map_put(m->keys, k->key, k->len, k, &old) != 0) {
		free(k);
		return oom(m);
	}
	free(old); /* two nids of one key string (never in one room): the first goes */
	return MXDB_OK;
}

/* The event outside K at key: the same in every group, so ask the first. */
static const char *outside_get(void *ctx, const char *key, size_t klen)
{
	merge *m = ctx;
	if (map_has(m->keys, key, klen))
		return NULL; /* in K and in no set */
	if (map_has(m->outside, key, klen))
		return map_get(m->outside, key, klen);
	const char *type, *sk;
	map_state_key_split(key, klen, &type, &sk);
	sqlite3_stmt *st = store_stmt(m->w, SQL_KEY_NID, NULL);
	if (st == NULL) {
		m->lookup_failed = true;
		return NULL;
	}
	sqlite3_bind_int64(st, 1, m->room->nid);
	sqlite3_bind_text(st, 2, type, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, sk, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	int64_t nid = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0, pos = 0;
	sqlite3_reset(st);
	const char *id = NULL;
	if ((rc != SQLITE_ROW && rc != SQLITE_DONE) ||
	    (nid != 0 && (sg_lookup(m->w, m->groups[0], nid, &pos, NULL) != MXDB_OK ||
	                  id_of(m, pos, &id) != MXDB_OK))) {
		m->lookup_failed = true;
		return NULL;
	}
	char *dup = id ? strdup(id) : NULL;
	if (map_put(m->outside, key, klen, dup, NULL) != 0)
		free(dup);
	return id;
}

/* Loads K and the sets over it, summarises the rest, and resolves. */
static mxdb_status merge_resolve(merge *m)
{
	mxdb_status s = MXDB_OK;
	m->vals = calloc(m->n_groups, sizeof(*m->vals));
	m->parts = calloc(m->n, sizeof(*m->parts));
	m->keys = map_new(64);
	m->ids = map_new(64);
	m->outside = map_new(16);
	m->cites = map_new(64);
	if (!m->vals || !m->parts || !m->keys || !m->ids || !m->outside || !m->cites)
		return oom(m);
	if ((s = cites_load(m, m->groups[m->cur])) != MXDB_OK ||
	    (s = sg_diff(m->w, m->groups, m->n_groups, m->vals, m->err)) != MXDB_OK)
		return s;
	size_t it = 0, kl;
	const char *k;
	while (s == MXDB_OK && map_next(m->vals[0], &it, &k, &kl, NULL)) {
		int64_t nid;
		memcpy(&nid, k, sizeof(nid));
		s = name_key(m, nid);
	}
	/* The sets over K; the citations of the rows outside it: fed_cites' less
	 * its group's rows in K, then (for the auth difference only) plus the
	 * rows of K every set agrees on. */
	mx_map *ids = NULL;
	if (s == MXDB_OK && ((m->rest = map_new(map_count(m->cites) + 8)) == NULL))
		s = oom(m);
	void *v;
	it = 0;
	while (s == MXDB_OK && map_next(m->cites, &it, &k, &kl, &v))
		if (map_put(m->rest, k, kl, v, NULL) != 0)
			s = oom(m);
	for (size_t i = 0; s == MXDB_OK && i < m->n; i++)
		if ((m->parts[i] = map_new(map_count(m->keys) + 1)) == NULL)
			s = oom(m);
	it = 0;
	while (s == MXDB_OK && map_next(m->keys, &it, &k, &kl, &v)) {
		mkey *key = v;
		for (size_t i = 0; s == MXDB_OK && i < m->n; i++) {
			int64_t pos = (int64_t)(intptr_t)i64_get(m->vals[i], key->nid);
			const char *id;
			char *dup = NULL;
			if ((s = id_of(m, pos, &id)) != MXDB_OK || id == NULL)
				continue;
			if ((dup = strdup(id)) == NULL || map_put(m->parts[i], k, kl, dup, NULL) != 0) {
				free(dup);
				s = oom(m);
			}
		}
		if (s == MXDB_OK)
			s = fed_cite(m->w, m->rest, (int64_t)(intptr_t)i64_get(m->vals[m->cites_at], key->nid), -1,
			         m->err);
	}
	if (s == MXDB_OK && (ids = map_new(map_count(m->rest) + 8)) == NULL)
		s = oom(m);
	it = 0;
	while (s == MXDB_OK && map_next(m->rest, &it, &k, &kl, &v))
		if ((intptr_t)v > 0 && map_put(ids, k, kl, v, NULL) != 0)
			s = oom(m);
	it = 0;
	while (s == MXDB_OK && map_next(m->keys, &it, &k, &kl, &v)) {
		mkey *key = v;
		int64_t first = (int64_t)(intptr_t)i64_get(m->vals[0], key->nid);
		bool agree = first != 0;
		for (size_t i = 1; agree && i < m->n; i++)
			agree = (int64_t)(intptr_t)i64_get(m->vals[i], key->nid) == first;
		if (agree)
			s = fed_cite(m->w, ids, first, 1, m->err);
	}
	if (s == MXDB_OK && (m->auth_ids = calloc(map_count(ids) + 1, sizeof(char *))) == NULL)
		s = oom(m);
	it = 0;
	while (s == MXDB_OK && map_next(ids, &it, &k, &kl, NULL))
		m->auth_ids[m->n_auth_ids++] = (char *)k; /* keys live as long as ids */
	sr_base base = {.get = outside_get, .ctx = m, .auth_ids = m->auth_ids,
	                .n_auth_ids = m->n_auth_ids};
	if (s == MXDB_OK)
		s = sr_resolve_part(m->room->rv, m->parts, m->n, &base, m->lookup, &m->resolved, m->err);
	if (s == MXDB_OK && m->lookup_failed)
		s = mx_fail(m->err, MXDB_EIO, "merge: a state lookup failed");
	/* auth_ids points into ids' keys: gone with it. */
	free(m->auth_ids);
	m->auth_ids = NULL;
	m->n_auth_ids = 0;
	map_free(ids, NULL);
	return s;
}

static mxdb_status merge_init(merge *m, mxdb *db, eng_room *room, const sr_lookup *lookup,
                              char *const *ext, size_t n, int64_t cur_sg, mxdb_error *err)
{
	memset(m, 0, sizeof(*m));
	m->db = db;
	m->w = &db->st->writer;
	m->room = room;
	m->lookup = lookup;
	m->err = err;
	if (n == 0)
		return mx_fail(err, MXDB_EINVAL, "merge of no state");
	if ((m->groups = calloc(n + 2, sizeof(*m->groups))) == NULL)
		return oom(m);
	m->n = n;
	for (size_t i = 0; i < n; i++) {
		int64_t pos;
		mxdb_status s = fed_event_pos(m->w, ext[i], &pos, &m->groups[i], err);
		if (s == MXDB_OK && (pos == 0 || m->groups[i] == 0)) /* unknown, or an outlier */
			s = mx_fail(err, MXDB_ENOTFOUND, "the state after %s is not known", ext[i]);
		if (s != MXDB_OK)
			return s;
	}
	m->cur = n;
	m->cites_at = n + 1;
	m->groups[m->cur] = cur_sg;
	m->n_groups = n + 2;
	return MXDB_OK;
}

/* The cur_state row of a key, made (at pos) when missing. */
mxdb_status fed_key_row(mxdb *db, eng_room *room, const char *type, const char *sk, int64_t pos,
                        eng_row *row, mxdb_error *err)
{
	mxdb_status s = eng_row_get(db, room, type, sk, row, err);
	if (s != MXDB_OK || row->key_nid != 0)
		return s;
	store_conn *w = &db->st->writer;
	sqlite3_stmt *st = store_stmt(w, SQL_NEW_CUR, err);
	if (st == NULL)
		return MXDB_EIO;
	sqlite3_bind_int64(st, 1, room->nid);
	sqlite3_bind_text(st, 2, type, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, sk, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, pos);
	if ((s = step(w, st, "current state", err)) == MXDB_OK)
		row->key_nid = sqlite3_last_insert_rowid(w->db);
	return s;
}

/* Makes the event at pos the room's current row at key, which held was:
 * cur_state, then fed_row_changed's record (cause merge), membership and
 * callbacks. pos 0: the resolution left the row without any event; its
 * cur_state row stays at pos 0, and its record names the version it loses
 * as both the new and the replaced one, content null (change.c). */
static mxdb_status set_row(merge *m, eng_req *req, int64_t key_nid, int64_t was, int64_t pos)
{
	const char *id, *prev;
	mxdb_status s;
	if ((s = id_of(m, pos ? pos : was, &id)) != MXDB_OK || (s = id_of(m, was, &prev)) != MXDB_OK)
		return s;
	const ev_t *win = id ? m->lookup->get(m->lookup->ctx, id) : NULL;
	if (win == NULL || win->state_key == NULL)
		return mx_fail(m->err, MXDB_EINTERNAL, "row event %s not found", id ? id : "");
	sqlite3_stmt *st = store_stmt(m->w, SQL_SET_CUR, m->err);
	if (st == NULL)
		return MXDB_EIO;
	sqlite3_bind_int64(st, 1, pos);
	sqlite3_bind_int64(st, 2, key_nid);
	if ((s = step(m->w, st, "current state", m->err)) != MXDB_OK)
		return s;
	mxdb_cause saved = req->cause;
	req->cause = MXDB_CAUSE_MERGE;
	if (pos != 0) {
		s = fed_row_changed(m->db, req, m->room, win, pos, was, prev, m->err);
		req->cause = saved;
		return s;
	}
	uint64_t seq = m->db->next_seq;
	if ((st = store_stmt(m->w, SQL_MERGE_CHANGE, m->err)) == NULL)
		s = MXDB_EIO;
	if (s == MXDB_OK) {
		sqlite3_bind_int64(st, 1, (int64_t)seq);
		sqlite3_bind_int64(st, 2, m->room->nid);
		sqlite3_bind_int64(st, 3, (int64_t)m->room->room_seq + 1);
		sqlite3_bind_int64(st, 4, was);
		sqlite3_bind_int64(st, 5, was);
		sqlite3_bind_int(st, 6, MXDB_CAUSE_MERGE);
		s = step(m->w, st, "change", m->err);
	}
	if (s == MXDB_OK && strcmp(win->type, "m.room.member") == 0) {
		if ((st = store_stmt(m->w, SQL_NO_MEMBER, m->err)) == NULL)
			s = MXDB_EIO;
		if (s == MXDB_OK) {
			sqlite3_bind_text(st, 1, win->state_key, -1, SQLITE_STATIC);
			sqlite3_bind_int64(st, 2, m->room->nid);
			s = step(m->w, st, "membership", m->err);
			fed_room_servers_changed(m->room);
		}
	}
	if (s == MXDB_OK && eng_change_add(req, m->room, win, prev, "{}", seq, (uint64_t)was) != MXDB_OK)
		s = oom(m);
	req->cause = saved;
	if (s == MXDB_OK) {
		m->db->next_seq++;
		m->room->room_seq++;
	}
	return s;
}

static mxdb_status clear_row(merge *m, int64_t key_nid)
{
	sqlite3_stmt *st = store_stmt(m->w, SQL_CLEAR_CUR, m->err);
	if (st == NULL)
		return MXDB_EIO;
	sqlite3_bind_int64(st, 1, key_nid);
	return step(m->w, st, "current state", m->err);
}

static int add_entry(sg_entry **e, size_t *n, size_t *cap, int64_t key_nid, int64_t pos)
{
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 16;
		sg_entry *ne = realloc(*e, nc * sizeof(*ne));
		if (ne == NULL)
			return -1;
		*e = ne;
		*cap = nc;
	}
	(*e)[(*n)++] = (sg_entry){key_nid, pos};
	return 0;
}

/* The rows where the resolution differs from group `from` (its values over
 * K; outside K it holds none of the keys the resolution adds), as entries of
 * a delta against it (event 0: unset). req: also make each the room's
 * current row. */
static mxdb_status changed_rows(merge *m, eng_req *req, size_t from, sg_entry **out, size_t *n_out)
{
	size_t it = 0, kl, n = 0, cap = 0;
	const char *k;
	void *v;
	sg_entry *e = NULL;
	mxdb_status s = MXDB_OK;
	while (s == MXDB_OK && map_next(m->resolved, &it, &k, &kl, &v)) {
		mkey *key = map_get(m->keys, k, kl);
		int64_t was = key ? (int64_t)(intptr_t)i64_get(m->vals[from], key->nid) : 0, pos;
		if ((s = fed_event_pos(m->w, v, &pos, NULL, m->err)) != MXDB_OK || pos == was)
			continue;
		const char *type, *sk;
		map_state_key_split(k, kl, &type, &sk);
		eng_row row = {0};
		int64_t nid = key ? key->nid : 0;
		if (nid == 0 && (s = fed_key_row(m->db, m->room, type, sk, pos, &row, m->err)) == MXDB_OK)
			nid = row.key_nid;
		free(row.event_id);
		if (s == MXDB_OK && add_entry(&e, &n, &cap, nid, pos) != 0)
			s = oom(m);
		if (s == MXDB_OK && req)
			s = set_row(m, req, nid, was, pos);
	}
	/* Keys of K the resolution leaves without an event. */
	it = 0;
	while (s == MXDB_OK && map_next(m->keys, &it, &k, &kl, &v)) {
		mkey *key = v;
		int64_t was = (int64_t)(intptr_t)i64_get(m->vals[from], key->nid);
		if (map_has(m->resolved, k, kl))
			continue;
		if (was != 0 && add_entry(&e, &n, &cap, key->nid, 0) != 0)
			s = oom(m);
		else if (was != 0 && req)
			s = set_row(m, req, key->nid, was, 0);
		else if (was == 0 && req)
			s = clear_row(m, key->nid);
	}
	if (s != MXDB_OK) {
		free(e);
		return s;
	}
	*out = e;
	*n_out = n;
	return MXDB_OK;
}

static mxdb_status add_group(merge *m, int64_t parent, const sg_entry *e, size_t n, int64_t *sg)
{
	int64_t depth = -1; /* sg_add looks the parent's depth up */
	*sg = m->db->next_sg++;
	return sg_add(m->w, *sg, m->room->nid, parent, e, n, &depth, m->err);
}

mxdb_status fed_merge_before(mxdb *db, eng_room *room, char *const *prev, size_t n,
                             const sr_lookup *lookup, int64_t *sg, mxdb_error *err)
{
	int64_t pos;
	if (n <= 1) {
		mxdb_status s = n == 0 ? MXDB_OK : fed_event_pos(&db->st->writer, prev[0], &pos, sg, err);
		if (n == 0)
			*sg = 0;
		if (s == MXDB_OK && n == 1 && (pos == 0 || *sg == 0))
			s = mx_fail(err, MXDB_ENOTFOUND, "the state after %s is not known", prev[0]);
		return s;
	}
	merge m;
	sg_entry *e = NULL;
	size_t ne = 0;
	mxdb_status s = merge_init(&m, db, room, lookup, prev, n, room->sg, err);
	if (s == MXDB_OK)
		s = merge_resolve(&m);
	/* A delta against prev[0]'s group; the keys it adds get their rows. */
	if (s == MXDB_OK)
		s = changed_rows(&m, NULL, 0, &e, &ne);
	if (s == MXDB_OK)
		s = add_group(&m, m.groups[0], e, ne, sg);
	free(e);
	merge_free(&m);
	return s;
}

mxdb_status fed_merge_current(mxdb *db, eng_req *req, eng_room *room, char *const *ext, size_t n,
                              int64_t cur_sg, const sr_lookup *lookup, mxdb_error *err)
{
	merge m;
	sg_entry *e = NULL;
	size_t ne = 0;
	int64_t sg = 0;
	mx_map *next = NULL;
	mxdb_status s = merge_init(&m, db, room, lookup, ext, n, cur_sg, err);
	if (s == MXDB_OK)
		s = merge_resolve(&m);
	if (s == MXDB_OK)
		s = changed_rows(&m, req, m.cur, &e, &ne);
	if (s == MXDB_OK)
		s = add_group(&m, cur_sg, e, ne, &sg);
	sqlite3_stmt *st;
	if (s == MXDB_OK && (st = store_stmt(m.w, SQL_ROOM_SG, err)) != NULL) {
		sqlite3_bind_int64(st, 1, room->nid);
		sqlite3_bind_int64(st, 2, sg);
		s = step(m.w, st, "room state group", err);
	} else if (s == MXDB_OK) {
		s = MXDB_EIO;
	}
	/* fed_cites rolled forward to the new group: the rows outside K are
	 * unchanged; over K it holds the current group's rows with the
	 * changes applied. */
	if (s == MXDB_OK && (next = map_new(map_count(m.rest) + 8)) == NULL)
		s = oom(&m);
	size_t it = 0, kl;
	const char *k;
	void *v;
	while (s == MXDB_OK && map_next(m.rest, &it, &k, &kl, &v))
		if (map_put(next, k, kl, v, NULL) != 0)
			s = oom(&m);
	mx_map *changed = s == MXDB_OK ? map_new(64) : NULL;
	if (s == MXDB_OK && changed == NULL)
		s = oom(&m);
	for (size_t i = 0; s == MXDB_OK && i < ne; i++) {
		if (map_put(changed, (const char *)&e[i].key_nid, sizeof(int64_t), (void *)1, NULL) != 0)
			s = oom(&m);
		else
			s = fed_cite(m.w, next, e[i].event_nid, 1, err);
	}
	it = 0;
	while (s == MXDB_OK && map_next(m.keys, &it, &k, &kl, &v)) {
		mkey *key = v;
		if (!i64_get(changed, key->nid))
			s = fed_cite(m.w, next, (int64_t)(intptr_t)i64_get(m.vals[m.cur], key->nid), 1, err);
	}
	if (s == MXDB_OK)
		s = fed_cites_save(m.w, room->nid, m.cites, next, sg, err);
	map_free(changed, NULL);
	map_free(next, NULL);
	free(e);
	merge_free(&m);
	return s;
}

/* ---- auth state over a state group, by key ---- */

static const ev_t *group_get(void *ctx, const char *type, const char *state_key)
{
	fed_group_ctx *g = ctx;
	store_conn *w = &g->db->st->writer;
	sqlite3_stmt *st = store_stmt(w, SQL_KEY_NID, NULL);
	if (st == NULL)
		return NULL;
	sqlite3_bind_int64(st, 1, g->room->nid);
	sqlite3_bind_text(st, 2, type, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, state_key, -1, SQLITE_STATIC);
	int64_t nid = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0, pos = 0;
	sqlite3_reset(st);
	if (nid == 0 || sg_lookup(w, g->sg, nid, &pos, NULL) != MXDB_OK || pos == 0 ||
	    (st = store_stmt(w, SQL_EV_ID, NULL)) == NULL)
		return NULL;
	sqlite3_bind_int64(st, 1, pos);
	char id[EV_ID_SIZE] = "";
	if (sqlite3_step(st) == SQLITE_ROW)
		snprintf(id, sizeof(id), "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_reset(st);
	return id[0] ? g->lookup->get(g->lookup->ctx, id) : NULL;
}

static const ev_t *group_event(void *ctx, const char *event_id)
{
	fed_group_ctx *g = ctx;
	return g->lookup->get(g->lookup->ctx, event_id);
}

void fed_group_auth_state(fed_group_ctx *ctx, mxdb *db, eng_room *room, int64_t sg,
                          const sr_lookup *lookup, auth_state *out)
{
	*ctx = (fed_group_ctx){db, room, sg, lookup};
	*out = (auth_state){.get = group_get, .event = group_event, .ctx = ctx,
	                    .room_id = room->room_id};
}
