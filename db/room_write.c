/*
 * room_write.c: the writer's room cache (what building and authorizing an
 * event needs, kept in memory) and persisting one authorized event: event,
 * edges, extremities, current state, state group, change record,
 * membership, transaction ID, redaction. Runs on the writer thread only,
 * inside the group-commit transaction (room_queue.c).
 *
 * Remote events enter here too: fed_room.c hands eng_persist events that are
 * already signed and checked, with the room set at the state before them
 * and req->cause "remote" or "merge".
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cjson.h"
#include "engine.h"

ev_t eng_absent;

int64_t eng_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

char *eng_dumps(const json_t *v)
{
	char *out = NULL;
	size_t len;
	return v != NULL && cj_dump(v, &out, &len, NULL) == MXDB_OK ? out : NULL;
}

/* ---- the room cache ---- */

static void auth_value_free(void *v)
{
	if (v != &eng_absent)
		ev_free(v);
}

/* The auth cache: state key -> event, with an index by event ID (the auth
 * rules look auth_events up by ID). Takes ev (or eng_absent). */
static int auth_cache_put(eng_room *room, const char *key, size_t kl, ev_t *ev)
{
	void *old = NULL;
	if (ev != &eng_absent &&
	    map_put(room->auth_ids, ev->event_id, strlen(ev->event_id), ev, NULL) != 0)
		return -1;
	if (map_put(room->auth, key, kl, ev, &old) != 0) {
		if (ev != &eng_absent)
			map_del(room->auth_ids, ev->event_id, strlen(ev->event_id));
		return -1;
	}
	if (old != NULL && old != &eng_absent) {
		ev_t *o = old;
		map_del(room->auth_ids, o->event_id, strlen(o->event_id));
		ev_free(o);
	}
	return 0;
}

static void auth_cache_del(eng_room *room, const char *key, size_t kl)
{
	ev_t *old = map_del(room->auth, key, kl);
	if (old != NULL && old != &eng_absent) {
		map_del(room->auth_ids, old->event_id, strlen(old->event_id));
		ev_free(old);
	}
}

void eng_room_free(eng_room *room)
{
	if (room == NULL)
		return;
	if (room->auth_ids != NULL)
		map_free(room->auth_ids, NULL);
	for (size_t i = 0; i < room->n_extrem; i++)
		free(room->extrem[i]);
	free(room->extrem);
	if (room->auth != NULL)
		map_free(room->auth, auth_value_free);
	ev_free(room->create);
	fed_room_servers_changed(room);
	free(room->room_id);
	free(room);
}

static const char SQL_ROOM[] = "SELECT nid, version, create_pos FROM rooms WHERE room_id = ?";
static const char SQL_EXTREM[] =
	"SELECT x.event_id, e.depth FROM extremities x JOIN events e ON e.event_id = x.event_id"
	" WHERE x.room_nid = ?";
/* The state after the newest event, unless a federation merge stored the
 * room's current group since (fed_room_sg, valid while pos is the newest).
 * Outliers (no state known) are not part of that history. */
static const char SQL_LAST_SG[] =
	"SELECT COALESCE((SELECT f.sg FROM fed_room_sg f WHERE f.room_nid = ?1 AND f.pos ="
	" (SELECT max(pos) FROM events WHERE room_nid = ?1 AND NOT outlier)),"
	" (SELECT sg FROM events WHERE room_nid = ?1 AND NOT outlier ORDER BY pos DESC LIMIT 1))";
static const char SQL_ROOM_SEQ[] = "SELECT max(room_seq) FROM changes WHERE room_nid = ?";

static mxdb_status load_ev(mxdb *db, const mx_room_version *rv, int64_t pos, ev_t **out,
                           mxdb_error *err)
{
	json_t *pdu;
	char *id;
	mxdb_status s = rd_pdu(&db->st->writer, pos, &pdu, &id, err);
	if (s != MXDB_OK)
		return s;
	s = ev_from_json(pdu, id, rv, out, err);
	json_decref(pdu);
	free(id);
	return s;
}

static mxdb_status int_query(store_conn *c, const char *sql, int64_t arg, int64_t *out,
                             mxdb_error *err)
{
	sqlite3_stmt *st = store_stmt(c, sql, err);
	if (st == NULL)
		return MXDB_EIO;
	sqlite3_bind_int64(st, 1, arg);
	int rc = sqlite3_step(st);
	*out = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? MXDB_OK : store_fail(c, err, sql);
}

static mxdb_status room_load(mxdb *db, const char *room_id, eng_room **out, mxdb_error *err)
{
	store_conn *w = &db->st->writer;
	sqlite3_stmt *st = store_stmt(w, SQL_ROOM, err);
	if (st == NULL)
		return MXDB_EIO;
	sqlite3_bind_text(st, 1, room_id, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(st);
		return rc == SQLITE_DONE ? mx_fail(err, MXDB_ENOTFOUND, "no table %s", room_id)
		                         : store_fail(w, err, "room");
	}
	eng_room *room = calloc(1, sizeof(*room));
	if (room == NULL) {
		sqlite3_reset(st);
		return mx_fail(err, MXDB_ENOMEM, "room");
	}
	room->db = db;
	room->nid = sqlite3_column_int64(st, 0);
	room->rv = rv_get((const char *)sqlite3_column_text(st, 1));
	int64_t create_pos = sqlite3_column_int64(st, 2);
	sqlite3_reset(st);
	room->room_id = strdup(room_id);
	room->auth = map_new(16);
	room->auth_ids = map_new(16);
	mxdb_status s = MXDB_OK;
	if (room->rv == NULL)
		s = mx_fail(err, MXDB_EVERSION, "room %s has an unsupported version", room_id);
	else if (room->room_id == NULL || room->auth == NULL || room->auth_ids == NULL)
		s = mx_fail(err, MXDB_ENOMEM, "room");
	if (s == MXDB_OK)
		s = load_ev(db, room->rv, create_pos, &room->create, err);
	if (s == MXDB_OK && (st = store_stmt(w, SQL_EXTREM, err)) == NULL)
		s = MXDB_EIO;
	if (s == MXDB_OK) {
		sqlite3_bind_int64(st, 1, room->nid);
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			char **nx = realloc(room->extrem, (room->n_extrem + 1) * sizeof(char *));
			if (nx == NULL)
				break;
			room->extrem = nx;
			room->extrem[room->n_extrem++] = store_col_str(st, 0);
			int64_t d = sqlite3_column_int64(st, 1);
			if (d > room->depth)
				room->depth = d;
		}
		sqlite3_reset(st);
		if (rc != SQLITE_DONE)
			s = store_fail(w, err, "extremities");
	}
	int64_t v = 0;
	room->sg_depth = -1;
	if (s == MXDB_OK && (s = int_query(w, SQL_LAST_SG, room->nid, &room->sg, err)) == MXDB_OK &&
	    (s = int_query(w, SQL_ROOM_SEQ, room->nid, &v, err)) == MXDB_OK)
		room->room_seq = (uint64_t)v;
	if (s != MXDB_OK) {
		eng_room_free(room);
		return s;
	}
	*out = room;
	return MXDB_OK;
}

mxdb_status eng_room_get(mxdb *db, const char *name, eng_room **out, mxdb_error *err)
{
	char *resolved;
	mxdb_status s = rd_alias(&db->st->writer, name, &resolved, err);
	if (s != MXDB_OK)
		return s;
	if (resolved != NULL)
		name = resolved;
	eng_room *room = map_get(db->rooms, name, strlen(name));
	if (room == NULL && (s = room_load(db, name, &room, err)) == MXDB_OK &&
	    map_put(db->rooms, name, strlen(name), room, NULL) != 0) {
		eng_room_free(room);
		s = mx_fail(err, MXDB_ENOMEM, "room cache");
	}
	free(resolved);
	if (s == MXDB_OK)
		*out = room;
	return s;
}

/* ---- auth state over the cache ---- */

/* The event types the auth rules read from the state (auth events). Only
 * these are kept in the cache when written: rows of other types would make
 * it grow with the table. */
static bool auth_type(const char *type)
{
	static const char *const types[] = {"m.room.create", "m.room.power_levels",
	                                    "m.room.join_rules", "m.room.member",
	                                    "m.room.third_party_invite", NULL};
	for (int i = 0; types[i] != NULL; i++)
		if (strcmp(type, types[i]) == 0)
			return true;
	return false;
}

static const char SQL_CUR[] =
	"SELECT c.nid, c.pos, e.event_id, coalesce(e.content = '{}', 0) FROM cur_state c"
	" LEFT JOIN events e ON e.pos = c.pos WHERE c.room_nid = ? AND c.type = ? AND c.state_key = ?";

mxdb_status eng_row_get(mxdb *db, eng_room *room, const char *type, const char *state_key,
                        eng_row *out, mxdb_error *err)
{
	store_conn *w = &db->st->writer;
	memset(out, 0, sizeof(*out));
	sqlite3_stmt *st = store_stmt(w, SQL_CUR, err);
	if (st == NULL)
		return MXDB_EIO;
	sqlite3_bind_int64(st, 1, room->nid);
	sqlite3_bind_text(st, 2, type, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, state_key, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		out->key_nid = sqlite3_column_int64(st, 0);
		out->pos = sqlite3_column_int64(st, 1);
		out->event_id = store_col_str(st, 2);
		out->tombstone = sqlite3_column_int(st, 3) != 0;
	}
	sqlite3_reset(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? MXDB_OK : store_fail(w, err, "current state");
}

static const ev_t *auth_get(void *ctx, const char *type, const char *state_key)
{
	eng_room *room = ctx;
	char key[2 * EV_MAX_ID + 8];
	size_t kl = map_state_key(key, sizeof(key), type, state_key);
	if (kl == 0)
		return NULL;
	if (strcmp(type, "m.room.create") == 0 && state_key[0] == '\0')
		return room->create;
	ev_t *ev = map_get(room->auth, key, kl);
	if (ev != NULL)
		return ev == &eng_absent ? NULL : ev;
	eng_row row;
	if (eng_row_get(room->db, room, type, state_key, &row, NULL) != MXDB_OK)
		return NULL;
	free(row.event_id);
	ev = &eng_absent;
	if (row.pos != 0 && load_ev(room->db, room->rv, row.pos, &ev, NULL) != MXDB_OK)
		return NULL;
	if (auth_cache_put(room, key, kl, ev) != 0) {
		auth_value_free(ev);
		return NULL;
	}
	return ev == &eng_absent ? NULL : ev;
}

static const ev_t *auth_event(void *ctx, const char *event_id)
{
	eng_room *room = ctx;
	if (room->create != NULL && strcmp(room->create->event_id, event_id) == 0)
		return room->create;
	return map_get(room->auth_ids, event_id, strlen(event_id));
}

void eng_auth_state(eng_room *room, auth_state *out)
{
	out->get = auth_get;
	out->event = auth_event;
	out->ctx = room;
	out->room_id = room->room_id;
}

/* ---- building and persisting one event ---- */

mxdb_status eng_check_user(mxdb *db, const char *user_id, mxdb_error *err)
{
	if (user_id == NULL || user_id[0] != '@' || strlen(user_id) > EV_MAX_ID)
		return mx_fail(err, MXDB_EINVAL, "bad user ID");
	const char *colon = strchr(user_id, ':');
	if (colon == NULL || colon == user_id + 1)
		return mx_fail(err, MXDB_EINVAL, "bad user ID %s", user_id);
	if (strcmp(colon + 1, db->server_name) != 0)
		return mx_fail(err, MXDB_EINVAL, "%s is not a user of %s", user_id, db->server_name);
	return MXDB_OK;
}

/* Records a change for the callbacks (strings copied), with req->cause. */
static mxdb_status change_add(eng_req *req, const eng_room *room, const char *type,
                              const char *key, const char *event, const char *prev,
                              const char *sender, int64_t ts, const char *content, uint64_t seq,
                              uint64_t pos)
{
	if (req->n_chg == req->cap_chg) {
		size_t cap = req->cap_chg ? req->cap_chg * 2 : 4;
		eng_change *nc = realloc(req->chg, cap * sizeof(*nc));
		if (nc == NULL)
			return MXDB_ENOMEM;
		req->chg = nc;
		req->cap_chg = cap;
	}
	eng_change *c = &req->chg[req->n_chg++];
	memset(c, 0, sizeof(*c));
	c->room = strdup(room->room_id);
	c->type = strdup(type);
	c->key = strdup(key);
	c->event = strdup(event);
	c->prev = prev ? strdup(prev) : NULL;
	c->sender = strdup(sender);
	c->content = strcmp(content, "{}") != 0 ? strdup(content) : NULL;
	c->c = (mxdb_change){.seq = seq, .room_seq = room->room_seq + 1, .pos = pos,
	                     .room = c->room, .type = c->type, .key = c->key, .event = c->event,
	                     .prev = c->prev, .sender = c->sender, .ts = ts,
	                     .content = c->content, .cause = req->cause};
	if (!c->room || !c->type || !c->key || !c->event || (prev && !c->prev) || !c->sender ||
	    (strcmp(content, "{}") != 0 && !c->content)) {
		eng_change_free(c);
		req->n_chg--;
		return MXDB_ENOMEM;
	}
	return MXDB_OK;
}

mxdb_status eng_change_add(eng_req *req, const eng_room *room, const ev_t *ev, const char *prev,
                           const char *content, uint64_t seq, uint64_t pos)
{
	return change_add(req, room, ev->type, ev->state_key, ev->event_id, prev, ev->sender,
	                  ev->origin_server_ts, content, seq, pos);
}

static mxdb_status step_done(store_conn *w, sqlite3_stmt *st, mxdb_error *err, const char *what)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? MXDB_OK : store_fail(w, err, what);
}

static const char SQL_INS_EVENT[] =
	"INSERT INTO events(pos, event_id, room_nid, type, state_key, sender, ts, depth, sg,"
	" redacts, txn_id, content, skel, outlier)"
	" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?9 = 0)";
static const char SQL_INS_EDGE[] = "INSERT OR IGNORE INTO event_edges(prev_id, pos) VALUES (?, ?)";
static const char SQL_UPD_EXTREM[] = "UPDATE extremities SET event_id = ? WHERE room_nid = ?";
static const char SQL_DEL_EXTREM[] = "DELETE FROM extremities WHERE room_nid = ?";
static const char SQL_INS_EXTREM[] = "INSERT INTO extremities(room_nid, event_id) VALUES (?, ?)";
static const char SQL_UPD_CUR[] = "UPDATE cur_state SET pos = ? WHERE nid = ?";
static const char SQL_INS_CUR[] =
	"INSERT INTO cur_state(room_nid, type, state_key, pos) VALUES (?, ?, ?, ?)";
static const char SQL_INS_CHANGE[] =
	"INSERT INTO changes(seq, room_nid, room_seq, pos, prev_pos, cause) VALUES (?,?,?,?,?,?)";
static const char SQL_INS_MEMBER[] =
	"INSERT OR REPLACE INTO memberships(user_id, room_nid, membership, pos) VALUES (?,?,?,?)";
static const char SQL_INS_TXN[] =
	"INSERT INTO txns(sender, txn_id, pos, seq, room_nid) VALUES (?,?,?,?,?)";
static const char SQL_TARGET[] =
	"SELECT e.pos, e.type, e.state_key, e.sender, e.ts, c.pos = e.pos FROM events e"
	" LEFT JOIN cur_state c ON c.room_nid = e.room_nid AND c.type = e.type"
	" AND c.state_key = e.state_key WHERE e.event_id = ? AND e.room_nid = ?";
static const char SQL_REDACT[] = "UPDATE events SET content = ?, redacted_by = ? WHERE pos = ?";

/* Applies a redaction to its target if we have it: the stored content
 * becomes the redacted content, for every reader from now on. When the
 * target is a row's current version, the row's value changed: that is a
 * change record (event = prev = the target, content = what is left), with
 * seq *seq (0 otherwise). taken: change records ev itself took before this
 * one (1 when the redaction is a state event too: a row of its own). */
static mxdb_status apply_redaction(mxdb *db, eng_req *req, eng_room *room, const ev_t *ev,
                                   uint64_t taken, uint64_t *seq, mxdb_error *err)
{
	*seq = 0;
	store_conn *w = &db->st->writer;
	sqlite3_stmt *st = store_stmt(w, SQL_TARGET, err);
	if (st == NULL)
		return MXDB_EIO;
	sqlite3_bind_text(st, 1, ev->redacts, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, room->nid);
	int rc = sqlite3_step(st);
	int64_t pos = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0, ts = 0;
	char key[2 * EV_MAX_ID + 8], *sender = NULL;
	size_t kl = 0;
	bool current = false;
	if (rc == SQLITE_ROW && sqlite3_column_type(st, 2) != SQLITE_NULL) {
		kl = map_state_key(key, sizeof(key), (const char *)sqlite3_column_text(st, 1),
		                   (const char *)sqlite3_column_text(st, 2));
		current = sqlite3_column_int(st, 5) != 0;
		sender = store_col_str(st, 3);
		ts = sqlite3_column_int64(st, 4);
	}
	sqlite3_reset(st);
	if (rc == SQLITE_DONE)
		return MXDB_OK; /* not here: nothing to apply */
	if (rc != SQLITE_ROW)
		return store_fail(w, err, "redaction target");
	json_t *pdu = NULL, *red = NULL;
	char *content = NULL, *target_id = NULL;
	mxdb_status s = rd_pdu(w, pos, &pdu, &target_id, err);
	/* Spec "Handling redactions" (rooms v3+): the auth rules let any
	 * redaction into the room; it is applied only when its sender is of the
	 * target sender's server or has the redact power level. */
	ev_t *target = NULL;
	auth_state as;
	eng_auth_state(room, &as);
	if (s == MXDB_OK && (ev_from_json(pdu, target_id, room->rv, &target, NULL) != MXDB_OK ||
	                     !auth_redaction_applies(ev, target, &as))) {
		ev_free(target);
		json_decref(pdu);
		free(target_id);
		free(sender);
		return MXDB_OK;
	}
	ev_free(target);
	if (s == MXDB_OK && (red = ev_redact(pdu, room->rv)) != NULL)
		content = eng_dumps(json_object_get(red, "content"));
	json_decref(pdu);
	json_decref(red);
	if (s == MXDB_OK && content == NULL)
		s = mx_fail(err, MXDB_ENOMEM, "redaction");
	if (s == MXDB_OK && (st = store_stmt(w, SQL_REDACT, err)) == NULL)
		s = MXDB_EIO;
	if (s == MXDB_OK) {
		sqlite3_bind_text(st, 1, content, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, ev->event_id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, pos);
		s = step_done(w, st, err, "redact");
	}
	if (s == MXDB_OK && kl != 0)
		auth_cache_del(room, key, kl);
	if (s == MXDB_OK && current) {
		if ((st = store_stmt(w, SQL_INS_CHANGE, err)) == NULL) {
			s = MXDB_EIO;
		} else {
			sqlite3_bind_int64(st, 1, (int64_t)(db->next_seq + taken));
			sqlite3_bind_int64(st, 2, room->nid);
			sqlite3_bind_int64(st, 3, (int64_t)(room->room_seq + taken + 1));
			sqlite3_bind_int64(st, 4, pos);
			sqlite3_bind_int64(st, 5, pos);
			sqlite3_bind_int(st, 6, req->cause);
			s = step_done(w, st, err, "change");
		}
		const char *type, *skey;
		map_state_key_split(key, kl, &type, &skey);
		if (s == MXDB_OK && change_add(req, room, type, skey, target_id, target_id, sender, ts,
		                               content, db->next_seq + taken, (uint64_t)pos) != MXDB_OK)
			s = mx_fail(err, MXDB_ENOMEM, "change");
		if (s == MXDB_OK) {
			req->chg[req->n_chg - 1].c.room_seq += taken;
			*seq = db->next_seq + taken;
		}
	}
	free(content);
	free(target_id);
	free(sender);
	return s;
}

static const char SQL_REMOTE_MEMBER[] =
	"SELECT 1 FROM memberships WHERE room_nid = ? AND membership = 'join'"
	" AND substr(user_id, instr(user_id, ':') + 1) <> ? LIMIT 1";

/* Whether a local event may have to go to other servers: a member event
 * may (its target's server), any other only when a remote server has a
 * joined member. Most tables live on one server, and this check costs a
 * fraction of fed_room_queue_local's DISTINCT over the members. */
static mxdb_status fed_gate(mxdb *db, eng_room *room, const ev_t *ev, bool *remote,
                            mxdb_error *err)
{
	*remote = true;
	if (strcmp(ev->type, "m.room.member") == 0)
		return MXDB_OK;
	store_conn *w = &db->st->writer;
	sqlite3_stmt *st = store_stmt(w, SQL_REMOTE_MEMBER, err);
	if (st == NULL)
		return MXDB_EIO;
	sqlite3_bind_int64(st, 1, room->nid);
	sqlite3_bind_text(st, 2, db->server_name, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	*remote = rc == SQLITE_ROW;
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? MXDB_OK : store_fail(w, err, "members");
}

/* Persists ev (already authorized) in room and advances the room. Takes
 * ownership of ev. Local and remote events alike (see the top). */
mxdb_status eng_insert_event(store_conn *w, int64_t pos, int64_t room_nid, const ev_t *ev, int64_t sg,
                             const char *txn_id, const char *content, const cj_buf *skel,
                             mxdb_error *err)
{
	sqlite3_stmt *st = store_stmt(w, SQL_INS_EVENT, err);
	if (st == NULL)
		return err ? err->code : MXDB_EIO;
	sqlite3_bind_int64(st, 1, pos);
	sqlite3_bind_text(st, 2, ev->event_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, room_nid);
	sqlite3_bind_text(st, 4, ev->type, -1, SQLITE_STATIC);
	if (ev->state_key != NULL)
		sqlite3_bind_text(st, 5, ev->state_key, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, ev->sender, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 7, ev->origin_server_ts);
	sqlite3_bind_int64(st, 8, ev->depth);
	sqlite3_bind_int64(st, 9, sg);
	if (ev->redacts != NULL)
		sqlite3_bind_text(st, 10, ev->redacts, -1, SQLITE_STATIC);
	if (txn_id != NULL)
		sqlite3_bind_text(st, 11, txn_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 12, content, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 13, skel->data, (int)skel->len, SQLITE_STATIC);
	return step_done(w, st, err, "event");
}

mxdb_status eng_persist(mxdb *db, eng_req *req, eng_room *room, ev_t *ev, const char *txn_id,
                        const eng_row *cur_in, mxdb_write_result *res, mxdb_error *err)
{
	store_conn *w = &db->st->writer;
	eng_row cur = {0};
	char *content = NULL;
	cj_buf skel = {0};
	static const char *const no_content[] = {"content", NULL};
	uint64_t pos = db->next_pos, seq = 0, rseq = 0; /* rseq: the redacted row's change */
	int64_t sg = room->sg, key_nid = 0, sg_depth = room->sg_depth;
	sqlite3_stmt *st;
	mxdb_status s = MXDB_OK;
	bool remote;

	if (ev_is_state(ev) && cur_in == NULL)
		s = eng_row_get(db, room, ev->type, ev->state_key, &cur, err);
	else if (cur_in != NULL)
		cur = *cur_in, cur.event_id = cur_in->event_id ? strdup(cur_in->event_id) : NULL;
	if (s == MXDB_OK && (content = eng_dumps(ev->content)) == NULL)
		s = mx_fail(err, MXDB_ENOMEM, "content");
	if (s == MXDB_OK)
		s = cj_dump_buf_without(ev->json, no_content, &skel, err);
	if (s != MXDB_OK)
		goto out;

	req->dirty = true;
	if (ev_is_state(ev) && !req->rejected) {
		key_nid = cur.key_nid;
		st = NULL;
		if (key_nid != 0 && !req->detached) {
			if ((st = store_stmt(w, SQL_UPD_CUR, err)) == NULL)
				goto io;
			sqlite3_bind_int64(st, 1, (int64_t)pos);
			sqlite3_bind_int64(st, 2, key_nid);
		} else if (key_nid == 0) {
			if ((st = store_stmt(w, SQL_INS_CUR, err)) == NULL)
				goto io;
			sqlite3_bind_int64(st, 1, room->nid);
			sqlite3_bind_text(st, 2, ev->type, -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 3, ev->state_key, -1, SQLITE_STATIC);
			/* A detached event only names the key (its state group needs
			 * one): the row stays unset until a merge makes it the winner;
			 * a late event is never one, and a losing fork event would
			 * otherwise show as the row with no change record. */
			sqlite3_bind_int64(st, 4, req->detached ? 0 : (int64_t)pos);
		}
		if (st != NULL && (s = step_done(w, st, err, "current state")) != MXDB_OK)
			goto out;
		if (key_nid == 0)
			key_nid = sqlite3_last_insert_rowid(w->db);
		sg = db->next_sg;
		sg_entry e = {key_nid, (int64_t)pos};
		if ((s = sg_add(w, sg, room->nid, room->sg, &e, 1, &sg_depth, err)) != MXDB_OK)
			goto out;
	}
	if (ev_is_state(ev) && !req->detached && !req->rejected) {
		seq = db->next_seq;
		if ((st = store_stmt(w, SQL_INS_CHANGE, err)) == NULL)
			goto io;
		sqlite3_bind_int64(st, 1, (int64_t)seq);
		sqlite3_bind_int64(st, 2, room->nid);
		sqlite3_bind_int64(st, 3, (int64_t)room->room_seq + 1);
		sqlite3_bind_int64(st, 4, (int64_t)pos);
		if (cur.pos != 0)
			sqlite3_bind_int64(st, 5, cur.pos);
		sqlite3_bind_int(st, 6, req->cause);
		if ((s = step_done(w, st, err, "change")) != MXDB_OK)
			goto out;
		if (strcmp(ev->type, "m.room.member") == 0) {
			const char *m = json_string_value(json_object_get(ev->content, "membership"));
			if ((st = store_stmt(w, SQL_INS_MEMBER, err)) == NULL)
				goto io;
			sqlite3_bind_text(st, 1, ev->state_key, -1, SQLITE_STATIC);
			sqlite3_bind_int64(st, 2, room->nid);
			sqlite3_bind_text(st, 3, m ? m : "leave", -1, SQLITE_STATIC);
			sqlite3_bind_int64(st, 4, (int64_t)pos);
			if ((s = step_done(w, st, err, "membership")) != MXDB_OK)
				goto out;
			fed_room_servers_changed(room);
		}
	}

	if ((s = eng_insert_event(w, (int64_t)pos, room->nid, ev, sg, txn_id, content, &skel, err)) != MXDB_OK)
		goto out;
	for (size_t i = 0; i < ev->n_prev; i++) {
		if ((st = store_stmt(w, SQL_INS_EDGE, err)) == NULL)
			goto io;
		sqlite3_bind_text(st, 1, ev->prev_events[i], -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, (int64_t)pos);
		if ((s = step_done(w, st, err, "edge")) != MXDB_OK)
			goto out;
	}
	/* A local event references every extremity, so it becomes the only one. */
	if (room->n_extrem == 1) {
		if ((st = store_stmt(w, SQL_UPD_EXTREM, err)) == NULL)
			goto io;
		sqlite3_bind_text(st, 1, ev->event_id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, room->nid);
	} else {
		if ((st = store_stmt(w, SQL_DEL_EXTREM, err)) == NULL)
			goto io;
		sqlite3_bind_int64(st, 1, room->nid);
		if ((s = step_done(w, st, err, "extremities")) != MXDB_OK)
			goto out;
		if ((st = store_stmt(w, SQL_INS_EXTREM, err)) == NULL)
			goto io;
		sqlite3_bind_int64(st, 1, room->nid);
		sqlite3_bind_text(st, 2, ev->event_id, -1, SQLITE_STATIC);
	}
	if ((s = step_done(w, st, err, "extremities")) != MXDB_OK)
		goto out;
	/* The row's own change first: a redaction with a state key takes seq,
	 * and the row it redacts the next one. */
	if (ev_is_state(ev) && seq != 0 &&
	    eng_change_add(req, room, ev, cur.event_id, content, seq, pos) != MXDB_OK) {
		s = mx_fail(err, MXDB_ENOMEM, "change");
		goto out;
	}
	if (ev->redacts != NULL && !req->rejected &&
	    (s = apply_redaction(db, req, room, ev, seq != 0, &rseq, err)) != MXDB_OK)
		goto out;
	if (req->cause == MXDB_CAUSE_LOCAL && (s = fed_gate(db, room, ev, &remote, err)) == MXDB_OK &&
	    remote)
		s = fed_room_queue_local(db, room, ev, err);
	if (s != MXDB_OK)
		goto out;
	if (txn_id != NULL) {
		if ((st = store_stmt(w, SQL_INS_TXN, err)) == NULL)
			goto io;
		sqlite3_bind_text(st, 1, ev->sender, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, txn_id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, (int64_t)pos);
		sqlite3_bind_int64(st, 4, (int64_t)(seq ? seq : rseq));
		sqlite3_bind_int64(st, 5, room->nid);
		if ((s = step_done(w, st, err, "transaction ID")) != MXDB_OK)
			goto out;
	}

	/* Everything is written: now advance the room and the counters. */
	char *id = strdup(ev->event_id);
	char **ex = room->n_extrem >= 1 ? room->extrem : malloc(sizeof(char *));
	if (id == NULL || ex == NULL) {
		free(id);
		s = mx_fail(err, MXDB_ENOMEM, "extremities");
		goto out;
	}
	for (size_t i = 0; i < room->n_extrem; i++)
		free(ex[i]);
	room->extrem = ex;
	room->extrem[0] = id;
	room->n_extrem = 1;
	room->depth = ev->depth;
	room->sg = sg;
	room->sg_depth = sg_depth;
	db->next_pos++;
	if (ev_is_state(ev) && !req->rejected)
		db->next_sg++;
	uint64_t taken = (seq != 0) + (rseq != 0);
	db->next_seq += taken;
	room->room_seq += taken;
	if (res != NULL) {
		snprintf(res->event_id, sizeof(res->event_id), "%s", ev->event_id);
		res->seq = seq ? seq : rseq;
		res->pos = pos;
	}
	if (ev_is_state(ev) && !req->detached && !req->rejected) {
		char key[2 * EV_MAX_ID + 8];
		size_t kl = map_state_key(key, sizeof(key), ev->type, ev->state_key);
		if (kl != 0 && strcmp(ev->type, "m.room.create") != 0 &&
		    (auth_type(ev->type) || map_has(room->auth, key, kl)) &&
		    auth_cache_put(room, key, kl, ev) == 0)
			ev = NULL; /* the cache owns it now */
		else if (kl != 0)
			auth_cache_del(room, key, kl);
	}
	goto out;
io:
	s = err ? err->code : MXDB_EIO;
out:
	if (ev != NULL && ev != room->create)
		ev_free(ev);
	free(cur.event_id);
	free(content);
	cj_buf_free(&skel);
	return s;
}
