/*
 * room_ops.c: the public write entries of mxdb.h. One generic write
 * (mxdb_write_event) checks its input on the caller's thread, then runs
 * do_write on the writer thread (transaction IDs, compare-and-set, the
 * redaction rule); put/delete/send/redact/membership are thin wrappers.
 * Also createRoom's input checks, aliases and directory visibility.
 */
#include <stdlib.h>
#include <string.h>

#include "cjson.h"
#include "engine.h"

typedef struct write_arg {
	const mxdb_write *w;
	json_t *content;
} write_arg;

static const char SQL_TXN[] =
	"SELECT e.event_id, t.pos, t.seq FROM txns t JOIN events e ON e.pos = t.pos"
	" WHERE t.sender = ? AND t.txn_id = ? AND t.room_nid = ?";
static const char SQL_REDACT_TARGET[] =
	"SELECT sender FROM events WHERE event_id = ? AND room_nid = ?";

/* A repeated transaction ID (per sender and room) answers the first write's result. */
static int txn_seen(mxdb *db, eng_room *room, const mxdb_write *w, mxdb_write_result *res,
                    mxdb_error *err)
{
	sqlite3_stmt *st = store_stmt(&db->st->writer, SQL_TXN, err);
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, w->sender, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, w->txn_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, room->nid);
	int found = sqlite3_step(st) == SQLITE_ROW;
	if (found) {
		snprintf(res->event_id, sizeof(res->event_id), "%s", sqlite3_column_text(st, 0));
		res->pos = (uint64_t)sqlite3_column_int64(st, 1);
		res->seq = (uint64_t)sqlite3_column_int64(st, 2);
	}
	sqlite3_reset(st);
	return found;
}

/* Rooms v3+: a redaction applies when its sender sent the original, or has
 * the power level "redact" (the auth rules themselves no longer check it). */
static mxdb_status redaction_allowed(mxdb *db, eng_room *room, const mxdb_write *w,
                                     mxdb_error *err)
{
	sqlite3_stmt *st = store_stmt(&db->st->writer, SQL_REDACT_TARGET, err);
	if (st == NULL)
		return MXDB_EIO;
	sqlite3_bind_text(st, 1, w->redacts, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, room->nid);
	char *orig = sqlite3_step(st) == SQLITE_ROW ? store_col_str(st, 0) : NULL;
	sqlite3_reset(st);
	if (orig == NULL)
		return mx_fail(err, MXDB_ENOTFOUND, "no event %s in this room", w->redacts);
	bool same = strcmp(orig, w->sender) == 0;
	free(orig);
	if (same)
		return MXDB_OK;
	auth_state as;
	eng_auth_state(room, &as);
	const ev_t *pl = as.get(as.ctx, "m.room.power_levels", "");
	json_t *lv = pl ? json_object_get(pl->content, "redact") : NULL;
	int64_t need = json_is_integer(lv) ? json_integer_value(lv) : 50;
	if (auth_user_power(&as, room->rv, w->sender) < need)
		return mx_fail(err, MXDB_EFORBIDDEN, "%s may not redact others' events", w->sender);
	return MXDB_OK;
}

static mxdb_status do_write(mxdb *db, eng_req *req, void *argp, mxdb_error *err)
{
	write_arg *a = argp;
	const mxdb_write *w = a->w;
	eng_room *room;
	mxdb_status s = eng_room_get(db, w->room, &room, err);
	if (s != MXDB_OK)
		return s;
	if (w->txn_id != NULL) {
		int seen = txn_seen(db, room, w, &req->res, err);
		if (seen != 0)
			return seen > 0 ? MXDB_OK : MXDB_EIO;
	}
	eng_row cur = {0};
	if (w->state_key != NULL) {
		if ((s = eng_row_get(db, room, w->type, w->state_key, &cur, err)) != MXDB_OK)
			return s;
		bool live = cur.event_id != NULL && !cur.tombstone;
		if (w->if_none_match && live)
			s = mx_fail(err, MXDB_ECONFLICT, "the row exists (version %s)", cur.event_id);
		else if (w->if_match != NULL && strcmp(w->if_match, "*") == 0 && !live)
			s = mx_fail(err, MXDB_ECONFLICT, "the row does not exist");
		else if (w->if_match != NULL && strcmp(w->if_match, "*") != 0 &&
		         (!live || strcmp(w->if_match, cur.event_id) != 0))
			s = mx_fail(err, MXDB_ECONFLICT, "the row's version is %s, not %s",
			            cur.event_id && !cur.tombstone ? cur.event_id : "none", w->if_match);
	}
	if (s == MXDB_OK && w->redacts != NULL)
		s = redaction_allowed(db, room, w, err);
	/* A join to a restricted room names the user of ours who lets it in. */
	if (s == MXDB_OK && w->state_key != NULL && strcmp(w->type, "m.room.member") == 0 &&
	    strcmp(w->state_key, w->sender) == 0)
		s = eng_join_authorise(db, room, w->sender, a->content, err);
	if (s == MXDB_OK) {
		eng_spec spec = {.sender = w->sender, .type = w->type, .state_key = w->state_key,
		                 .redacts = w->redacts, .txn_id = w->txn_id, .content = a->content};
		s = eng_emit(db, req, room, &spec, w->state_key ? &cur : NULL, &req->res, err);
	}
	free(cur.event_id);
	return s;
}

static mxdb_status check_str(const char *what, const char *v, bool required, mxdb_error *err)
{
	if (v == NULL)
		return required ? mx_fail(err, MXDB_EINVAL, "%s is required", what) : MXDB_OK;
	if (strlen(v) > EV_MAX_ID)
		return mx_fail(err, MXDB_EINVAL, "%s is longer than %d bytes", what, EV_MAX_ID);
	json_t *probe = json_string(v); /* NULL when not valid UTF-8 */
	json_decref(probe);
	return probe ? MXDB_OK : mx_fail(err, MXDB_EINVAL, "%s is not valid UTF-8", what);
}

mxdb_status mxdb_write_event(mxdb *db, const mxdb_write *w, mxdb_write_result *res,
                             mxdb_error *err)
{
	mxdb_status s;
	if (db == NULL || w == NULL)
		return mx_fail(err, MXDB_EINVAL, "no database or request");
	if ((s = check_str("room", w->room, true, err)) != MXDB_OK ||
	    (s = check_str("type", w->type, true, err)) != MXDB_OK ||
	    (s = check_str("state_key", w->state_key, false, err)) != MXDB_OK ||
	    (s = check_str("redacts", w->redacts, false, err)) != MXDB_OK ||
	    (s = check_str("if_match", w->if_match, false, err)) != MXDB_OK ||
	    (s = check_str("txn_id", w->txn_id, false, err)) != MXDB_OK ||
	    (s = check_str("sender", w->sender, true, err)) != MXDB_OK ||
	    (s = eng_check_user(db, w->sender, err)) != MXDB_OK)
		return s;
	if (w->state_key == NULL && (w->if_match != NULL || w->if_none_match))
		return mx_fail(err, MXDB_EINVAL, "compare-and-set needs a row (state_key)");
	if ((w->redacts != NULL) != (strcmp(w->type, "m.room.redaction") == 0))
		return mx_fail(err, MXDB_EINVAL, "m.room.redaction and redacts go together");
	if (strcmp(w->type, "m.room.create") == 0)
		return mx_fail(err, MXDB_EINVAL, "m.room.create is sent by mxdb_create_table only");
	const char *text = w->content ? w->content : "{}";
	size_t len = w->content && w->content_len ? w->content_len : strlen(text);
	if (len > EV_MAX_BYTES)
		return mx_fail(err, MXDB_ETOOLARGE, "content is %zu bytes, over %d", len, EV_MAX_BYTES);
	json_t *content;
	if ((s = cj_parse(text, len, &content, err)) != MXDB_OK)
		return s;
	if (!json_is_object(content)) {
		json_decref(content);
		return mx_fail(err, MXDB_EBADJSON, "content must be a JSON object");
	}
	write_arg a = {w, content};
	mxdb_write_result r;
	s = eng_submit(db, do_write, &a, res ? res : &r, err);
	json_decref(content);
	return s;
}

mxdb_status mxdb_put(mxdb *db, const char *room, const char *sender, const char *type,
                     const char *state_key, const char *content, const char *if_match,
                     mxdb_write_result *res, mxdb_error *err)
{
	if (state_key == NULL)
		return mx_fail(err, MXDB_EINVAL, "a row needs a state_key");
	mxdb_write w = {.room = room, .sender = sender, .type = type, .state_key = state_key,
	                .content = content, .if_match = if_match};
	return mxdb_write_event(db, &w, res, err);
}

mxdb_status mxdb_delete(mxdb *db, const char *room, const char *sender, const char *type,
                        const char *state_key, const char *if_match, mxdb_write_result *res,
                        mxdb_error *err)
{
	return mxdb_put(db, room, sender, type, state_key, "{}", if_match, res, err);
}

mxdb_status mxdb_send(mxdb *db, const char *room, const char *sender, const char *type,
                      const char *content, const char *txn_id, mxdb_write_result *res,
                      mxdb_error *err)
{
	mxdb_write w = {.room = room, .sender = sender, .type = type, .content = content,
	                .txn_id = txn_id};
	return mxdb_write_event(db, &w, res, err);
}

mxdb_status mxdb_redact(mxdb *db, const char *room, const char *sender, const char *event_id,
                        const char *reason, const char *txn_id, mxdb_write_result *res,
                        mxdb_error *err)
{
	json_t *c = reason ? json_pack("{s:s}", "reason", reason) : json_object();
	char *text = eng_dumps(c);
	json_decref(c);
	if (text == NULL)
		return mx_fail(err, MXDB_EINVAL, "bad reason");
	mxdb_write w = {.room = room, .sender = sender, .type = "m.room.redaction",
	                .content = text, .redacts = event_id, .txn_id = txn_id};
	mxdb_status s = event_id ? mxdb_write_event(db, &w, res, err)
	                         : mx_fail(err, MXDB_EINVAL, "which event?");
	free(text);
	return s;
}

static const char *const member_values[] = {
	[MXDB_INVITE] = "invite", [MXDB_JOIN] = "join", [MXDB_LEAVE] = "leave", [MXDB_KICK] = "leave",
	[MXDB_BAN] = "ban",       [MXDB_UNBAN] = "leave", [MXDB_KNOCK] = "knock",
};

mxdb_status mxdb_membership(mxdb *db, const char *room, const char *sender, const char *target,
                            mxdb_member_op op, const char *reason, const char *content,
                            mxdb_write_result *res, mxdb_error *err)
{
	if ((unsigned)op >= sizeof(member_values) / sizeof(member_values[0]))
		return mx_fail(err, MXDB_EINVAL, "unknown membership operation");
	if (target == NULL)
		target = sender;
	if ((op == MXDB_JOIN || op == MXDB_LEAVE || op == MXDB_KNOCK) && sender && target &&
	    strcmp(sender, target) != 0)
		return mx_fail(err, MXDB_EINVAL, "only %s can do that for themselves", target);
	if (op == MXDB_UNBAN) {
		char m[16];
		mxdb_status s = mxdb_member_of(db, room, target, m, err);
		if (s == MXDB_OK && strcmp(m, "ban") != 0)
			s = mx_fail(err, MXDB_EINVAL, "%s is not banned", target);
		if (s != MXDB_OK)
			return s;
	}
	json_t *c = NULL;
	mxdb_status s = MXDB_OK;
	if (content != NULL && (s = cj_parse(content, strlen(content), &c, err)) != MXDB_OK)
		return s;
	if (c == NULL)
		c = json_object();
	if (!json_is_object(c)) {
		json_decref(c);
		return mx_fail(err, MXDB_EBADJSON, "member content must be an object");
	}
	json_object_set_new(c, "membership", json_string(member_values[op]));
	if (reason != NULL)
		json_object_set_new(c, "reason", json_string(reason));
	char *text = eng_dumps(c);
	json_decref(c);
	if (text == NULL)
		return mx_fail(err, MXDB_EBADJSON, "bad member content");
	mxdb_write w = {.room = room, .sender = sender, .type = "m.room.member",
	                .state_key = target, .content = text};
	s = mxdb_write_event(db, &w, res, err);
	free(text);
	return s;
}

/* ---- createRoom ---- */

static mxdb_status create_fn(mxdb *db, eng_req *req, void *arg, mxdb_error *err)
{
	return eng_create_room(db, req, arg, err);
}

static mxdb_status parse_opt(const char *what, const char *text, bool array, json_t **out,
                             mxdb_error *err)
{
	*out = NULL;
	if (text == NULL)
		return MXDB_OK;
	mxdb_status s = cj_parse(text, strlen(text), out, err);
	if (s == MXDB_OK && (array ? !json_is_array(*out) : !json_is_object(*out))) {
		json_decref(*out);
		*out = NULL;
		s = mx_fail(err, MXDB_EBADJSON, "%s must be a JSON %s", what, array ? "array" : "object");
	}
	return s;
}

mxdb_status mxdb_create_table(mxdb *db, const mxdb_table_options *opt, char **room_id,
                              mxdb_error *err)
{
	if (db == NULL || opt == NULL || room_id == NULL)
		return mx_fail(err, MXDB_EINVAL, "no database or options");
	*room_id = NULL;
	eng_create c = {.opt = opt, .rv = opt->room_version ? rv_get(opt->room_version)
	                                                     : db->default_rv};
	if (c.rv == NULL)
		return mx_fail(err, MXDB_EVERSION, "room version %s is not supported", opt->room_version);
	if ((unsigned)opt->preset > MXDB_PRESET_TRUSTED_PRIVATE_CHAT)
		return mx_fail(err, MXDB_EINVAL, "unknown preset");
	mxdb_status s = eng_check_user(db, opt->creator, err);
	for (size_t i = 0; s == MXDB_OK && i < opt->n_invite; i++)
		if (opt->invite[i] == NULL || opt->invite[i][0] != '@' || strlen(opt->invite[i]) > EV_MAX_ID)
			s = mx_fail(err, MXDB_EINVAL, "bad invitee");
	for (size_t i = 0; s == MXDB_OK && i < opt->n_writers; i++)
		if (opt->writers[i].user_id == NULL || opt->writers[i].user_id[0] != '@')
			s = mx_fail(err, MXDB_EINVAL, "bad writer");
	if (s == MXDB_OK && opt->alias != NULL && (opt->alias[0] == '\0' || strchr(opt->alias, ':')))
		s = mx_fail(err, MXDB_EINVAL, "alias is the local part only");
	if (s == MXDB_OK)
		s = parse_opt("power_level_content_override", opt->power_level_content_override, false,
		              &c.pl_override, err);
	if (s == MXDB_OK)
		s = parse_opt("creation_content", opt->creation_content, false, &c.creation, err);
	if (s == MXDB_OK)
		s = parse_opt("initial_state", opt->initial_state, true, &c.initial, err);
	if (s == MXDB_OK && c.initial == NULL && (c.initial = json_array()) == NULL)
		s = mx_fail(err, MXDB_ENOMEM, "initial_state");
	if (s == MXDB_OK)
		s = eng_submit_atomic(db, create_fn, &c, NULL, err);
	json_decref(c.pl_override);
	json_decref(c.creation);
	json_decref(c.initial);
	if (s == MXDB_OK)
		*room_id = c.room_id;
	else
		free(c.room_id);
	return s;
}
