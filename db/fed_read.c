/*
 * fed_read.c: what the federation endpoints read from the room engine: is
 * an event here (and is it an outlier), the servers of a room, the state
 * before an event (or the current state) with its auth chain. Reader
 * connections only (the server list query also runs on the writer's, for
 * its cache in fed_join.c); never writes.
 */
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "fed_room.h"

static const char SQL_SERVERS[] =
	"SELECT DISTINCT substr(user_id, instr(user_id, ':') + 1) FROM memberships"
	" WHERE room_nid = ? AND membership = 'join'";
static const char SQL_OUTLIER[] = "SELECT outlier FROM events WHERE event_id = ?";

mxdb_status fed_room_has_event(mxdb *db, const char *event_id, bool *has, mxdb_error *err)
{
	store_conn *c = store_reader(db->st);
	int64_t pos = 0;
	mxdb_status s = fed_event_pos(c, event_id, &pos, NULL, err);
	store_release(c);
	*has = pos != 0;
	return s;
}

mxdb_status fed_room_is_outlier(mxdb *db, const char *event_id, bool *outlier, mxdb_error *err)
{
	store_conn *c = store_reader(db->st);
	sqlite3_stmt *st = store_stmt(c, SQL_OUTLIER, err);
	mxdb_status s = st ? MXDB_OK : MXDB_EIO;
	*outlier = false;
	if (st != NULL) {
		sqlite3_bind_text(st, 1, event_id, -1, SQLITE_STATIC);
		int rc = sqlite3_step(st);
		*outlier = rc == SQLITE_ROW && sqlite3_column_int(st, 0);
		if (rc != SQLITE_ROW && rc != SQLITE_DONE)
			s = store_fail(c, err, "outlier");
		sqlite3_reset(st);
	}
	store_release(c);
	return s;
}

mxdb_status fed_servers_query(store_conn *c, int64_t room_nid, char ***servers, size_t *n,
                              mxdb_error *err)
{
	*servers = NULL;
	*n = 0;
	sqlite3_stmt *st = store_stmt(c, SQL_SERVERS, err);
	if (st == NULL)
		return MXDB_EIO;
	sqlite3_bind_int64(st, 1, room_nid);
	mxdb_status s = MXDB_OK;
	int rc;
	while (s == MXDB_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		char **grown = realloc(*servers, (*n + 1) * sizeof(char *));
		char *name = store_col_str(st, 0);
		if (grown != NULL)
			*servers = grown;
		if (grown == NULL || name == NULL) {
			free(name);
			s = mx_fail(err, MXDB_ENOMEM, "servers");
		} else {
			(*servers)[(*n)++] = name;
		}
	}
	if (s == MXDB_OK && rc != SQLITE_DONE)
		s = store_fail(c, err, "servers");
	sqlite3_reset(st);
	if (s != MXDB_OK) {
		fed_servers_free(*servers, *n);
		*servers = NULL;
		*n = 0;
	}
	return s;
}

void fed_servers_free(char **servers, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(servers[i]);
	free(servers);
}

mxdb_status fed_room_servers(mxdb *db, const char *room_id, char ***servers, size_t *n,
                             mxdb_error *err)
{
	*servers = NULL;
	*n = 0;
	store_conn *c = store_reader(db->st);
	int64_t nid;
	mxdb_status s = rd_room_nid(c, room_id, &nid, NULL, err);
	if (s == MXDB_OK)
		s = fed_servers_query(c, nid, servers, n, err);
	store_release(c);
	return s;
}

/* pos 0: a row state resolution left without an event. */
static const char SQL_CUR_POS[] = "SELECT pos FROM cur_state WHERE room_nid = ? AND pos <> 0";
/* The group of the state before an event: a state event's own group is
 * the state after it (before it: the parent), a rejected event's and a
 * non-state event's is the state before it. An outlier has none. */
static const char SQL_BEFORE[] =
	"SELECT e.room_nid, e.outlier, CASE WHEN e.state_key IS NOT NULL AND NOT EXISTS"
	" (SELECT 1 FROM fed_rejected x WHERE x.event_id = e.event_id) THEN g.parent ELSE e.sg END"
	" FROM events e LEFT JOIN state_groups g ON g.sg = e.sg WHERE e.event_id = ?";

/* Adds the PDU at pos (or its ID) to arr, and its auth events to the work
 * list of the chain walk. */
static mxdb_status add_pdu(store_conn *c, int64_t pos, bool ids_only, json_t *arr, json_t *todo,
                           mxdb_error *err)
{
	json_t *pdu;
	char *id;
	mxdb_status s = rd_pdu(c, pos, &pdu, &id, err);
	if (s != MXDB_OK)
		return s;
	if (todo)
		json_array_extend(todo, json_object_get(pdu, "auth_events"));
	json_array_append_new(arr, ids_only ? json_string(id) : json_incref(pdu));
	json_decref(pdu);
	free(id);
	return MXDB_OK;
}

/* The positions of the state before event_id (NULL: the current state). */
static mxdb_status state_positions(store_conn *c, int64_t nid, const char *room_id,
                                   const char *event_id, json_t *list, mxdb_error *err)
{
	sqlite3_stmt *st = store_stmt(c, event_id ? SQL_BEFORE : SQL_CUR_POS, err);
	if (st == NULL)
		return MXDB_EIO;
	if (event_id == NULL) {
		sqlite3_bind_int64(st, 1, nid);
		while (sqlite3_step(st) == SQLITE_ROW)
			json_array_append_new(list, json_integer(sqlite3_column_int64(st, 0)));
		sqlite3_reset(st);
		return MXDB_OK;
	}
	sqlite3_bind_text(st, 1, event_id, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	int64_t ev_room = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	bool outlier = rc == SQLITE_ROW && sqlite3_column_int(st, 1);
	int64_t sg = rc == SQLITE_ROW ? sqlite3_column_int64(st, 2) : 0;
	sqlite3_reset(st);
	if (ev_room != nid)
		return mx_fail(err, MXDB_ENOTFOUND, "no event %s in %s", event_id, room_id);
	if (outlier)
		return mx_fail(err, MXDB_ENOTFOUND, "the state at %s is not known here", event_id);
	mx_map *m = NULL;
	mxdb_status s = sg_load(c, sg, &m, err);
	size_t it = 0, kl;
	const char *k;
	void *v;
	while (s == MXDB_OK && map_next(m, &it, &k, &kl, &v))
		json_array_append_new(list, json_integer((int64_t)(intptr_t)v));
	if (m)
		map_free(m, NULL);
	return s;
}

mxdb_status fed_room_state_before(mxdb *db, const char *room_id, const char *event_id,
                                  bool ids_only, const json_t *also_auth, json_t **state,
                                  json_t **auth_chain, mxdb_error *err)
{
	*state = json_array();
	if (auth_chain)
		*auth_chain = json_array();
	json_t *todo = auth_chain ? json_array() : NULL, *list = json_array();
	mx_map *seen = map_new(256);
	store_conn *c = store_reader(db->st);
	int64_t nid;
	mxdb_status s = *state && seen && list && (!auth_chain || (*auth_chain && todo))
	                    ? rd_room_nid(c, room_id, &nid, NULL, err) : mx_fail(err, MXDB_ENOMEM, "state");
	if (s == MXDB_OK)
		s = state_positions(c, nid, room_id, event_id, list, err);
	size_t i;
	json_t *p;
	json_array_foreach(list, i, p) {
		if (s == MXDB_OK)
			s = add_pdu(c, json_integer_value(p), ids_only, *state, todo, err);
	}
	if (todo && also_auth)
		json_array_extend(todo, (json_t *)also_auth);
	/* The auth chain: every event reachable through auth_events. */
	for (i = 0; s == MXDB_OK && todo && i < json_array_size(todo); i++) {
		const char *id = json_string_value(json_array_get(todo, i));
		int64_t pos;
		if (id == NULL || map_has(seen, id, strlen(id)))
			continue;
		map_put(seen, id, strlen(id), NULL, NULL);
		if ((s = fed_event_pos(c, id, &pos, NULL, err)) == MXDB_OK && pos != 0)
			s = add_pdu(c, pos, ids_only, *auth_chain, todo, err);
	}
	store_release(c);
	if (seen)
		map_free(seen, NULL);
	json_decref(todo);
	json_decref(list);
	if (s != MXDB_OK) {
		json_decref(*state);
		*state = NULL;
		if (auth_chain) {
			json_decref(*auth_chain);
			*auth_chain = NULL;
		}
	}
	return s;
}

mxdb_status fed_room_state(mxdb *db, const char *room_id, const char *event_id, bool ids_only,
                           json_t **state, json_t **auth_chain, mxdb_error *err)
{
	return fed_room_state_before(db, room_id, event_id, ids_only, NULL, state, auth_chain, err);
}
