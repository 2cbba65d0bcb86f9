/*
 * room_build.c: building a local event (DESIGN.md "Local write", steps 2-4):
 * prev_events = the forward extremities, auth_events chosen by the auth
 * rules' selection, depth, origin_server_ts; then content hash, signature and
 * event ID; then the auth rules against the current state. Hands the event
 * to eng_persist. Runs on the writer thread; never writes SQL itself.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "engine.h"

/* The auth events of an event about to be built, by the spec's selection. */
json_t *eng_auth_events_for(eng_room *room, const eng_spec *spec)
{
	auth_key keys[16];
	size_t n = auth_types_for_event(room->rv, spec->type, spec->state_key, spec->sender,
	                                spec->content, keys, 16);
	auth_state as;
	eng_auth_state(room, &as);
	json_t *arr = json_array();
	for (size_t i = 0; arr != NULL && i < n; i++) {
		const ev_t *ev = as.get(as.ctx, keys[i].type, keys[i].state_key);
		if (ev == NULL)
			continue;
		bool dup = false;
		for (size_t j = 0; j < json_array_size(arr); j++)
			dup = dup || strcmp(json_string_value(json_array_get(arr, j)), ev->event_id) == 0;
		if (!dup)
			json_array_append_new(arr, json_string(ev->event_id));
	}
	return arr;
}

/* Hash, sign, parse and authorize a built PDU (takes pdu). */
static mxdb_status seal(mxdb *db, eng_room *room, json_t *pdu, ev_t **out, mxdb_error *err)
{
	char id[EV_ID_SIZE];
	mxdb_status s = ev_hash_and_sign_id(pdu, room->rv, &db->key, db->server_name, id, err);
	if (s == MXDB_OK)
		s = ev_from_json(pdu, id, room->rv, out, err);
	json_decref(pdu);
	return s;
}

static mxdb_status authorize(eng_room *room, ev_t *ev, mxdb_error *err)
{
	auth_state as;
	eng_auth_state(room, &as);
	mxdb_status s = auth_check(ev, &as, err);
	if (s != MXDB_OK)
		ev_free(ev);
	return s;
}

mxdb_status eng_emit(mxdb *db, eng_req *req, eng_room *room, const eng_spec *spec,
                     const eng_row *cur, mxdb_write_result *res, mxdb_error *err)
{
	json_t *content = spec->content;
	json_t *pdu = json_object();
	if (pdu == NULL)
		return mx_fail(err, MXDB_ENOMEM, "event");
	if (spec->redacts != NULL && room->rv->redacts_in_content) {
		content = json_copy(content);
		json_object_set_new(content, "redacts", json_string(spec->redacts));
	} else {
		json_incref(content);
	}
	if (spec->redacts != NULL && !room->rv->redacts_in_content)
		json_object_set_new(pdu, "redacts", json_string(spec->redacts));
	json_t *prev = json_array();
	for (size_t i = 0; i < room->n_extrem; i++)
		json_array_append_new(prev, json_string(room->extrem[i]));
	json_object_set_new(pdu, "auth_events", eng_auth_events_for(room, spec));
	json_object_set_new(pdu, "prev_events", prev);
	json_object_set_new(pdu, "content", content);
	json_object_set_new(pdu, "depth", json_integer(room->depth + 1));
	json_object_set_new(pdu, "origin_server_ts", json_integer(eng_now_ms()));
	json_object_set_new(pdu, "room_id", json_string(room->room_id));
	json_object_set_new(pdu, "sender", json_string(spec->sender));
	json_object_set_new(pdu, "type", json_string(spec->type));
	if (spec->state_key != NULL)
		json_object_set_new(pdu, "state_key", json_string(spec->state_key));
	ev_t *ev;
	mxdb_status s = seal(db, room, pdu, &ev, err);
	if (s == MXDB_OK)
		s = authorize(room, ev, err);
	if (s != MXDB_OK)
		return s;
	return eng_persist(db, req, room, ev, spec->txn_id, cur, res, err);
}

static const char SQL_INS_ROOM[] =
	"INSERT INTO rooms(room_id, version, creator, create_pos, public) VALUES (?,?,?,?,?)";

mxdb_status eng_emit_create(mxdb *db, eng_req *req, eng_room *room, const char *sender,
                            json_t *content, int public_room, mxdb_write_result *res,
                            mxdb_error *err)
{
	char room_id[300];
	json_t *pdu = json_object();
	if (pdu == NULL)
		return mx_fail(err, MXDB_ENOMEM, "event");
	if (!room->rv->room_id_from_create) {
		/* Rooms before v12 name themselves: 18 random letters @ our server. */
		static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
		char local[19];
		for (int i = 0; i < 18; i++)
			local[i] = abc[randombytes_uniform(sizeof(abc) - 1)];
		local[18] = '\0';
		snprintf(room_id, sizeof(room_id), "!%s:%s", local, db->server_name);
		json_object_set_new(pdu, "room_id", json_string(room_id));
	}
	json_object_set_new(pdu, "auth_events", json_array());
	json_object_set_new(pdu, "prev_events", json_array());
	json_object_set_new(pdu, "content", json_incref(content));
	json_object_set_new(pdu, "depth", json_integer(1));
	json_object_set_new(pdu, "origin_server_ts", json_integer(eng_now_ms()));
	json_object_set_new(pdu, "sender", json_string(sender));
	json_object_set_new(pdu, "type", json_string("m.room.create"));
	json_object_set_new(pdu, "state_key", json_string(""));
	ev_t *ev;
	mxdb_status s = seal(db, room, pdu, &ev, err);
	if (s != MXDB_OK)
		return s;
	if (room->rv->room_id_from_create) {
		char id[EV_ID_SIZE];
		if ((s = ev_room_id_from_create(ev->json, room->rv, id, err)) != MXDB_OK) {
			ev_free(ev);
			return s;
		}
		snprintf(room_id, sizeof(room_id), "%s", id);
	}
	room->room_id = strdup(room_id);
	if (room->room_id == NULL) {
		ev_free(ev);
		return mx_fail(err, MXDB_ENOMEM, "room");
	}
	if ((s = authorize(room, ev, err)) != MXDB_OK)
		return s;
	store_conn *w = &db->st->writer;
	sqlite3_stmt *st = store_stmt(w, SQL_INS_ROOM, err);
	if (st == NULL) {
		ev_free(ev);
		return MXDB_EIO;
	}
	sqlite3_bind_text(st, 1, room_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, room->rv->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, sender, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, (int64_t)db->next_pos);
	sqlite3_bind_int(st, 5, public_room != 0);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		ev_free(ev);
		return rc == SQLITE_CONSTRAINT ? mx_fail(err, MXDB_EEXISTS, "room %s exists", room_id)
		                               : store_fail(w, err, "room");
	}
	room->nid = sqlite3_last_insert_rowid(w->db);
	room->create = ev;
	return eng_persist(db, req, room, ev, NULL, NULL, res, err);
}
