/*
 * cs.h: the Matrix client-server API (spec "Client-Server API") over the
 * HTTP server: route tables and the shared context. Handlers live in
 * cs_*.c by endpoint family; they turn requests into calls on mxdb (rooms)
 * and acct (accounts) and never touch SQLite themselves.
 */
#ifndef MX_CS_H
#define MX_CS_H

#include <stdbool.h>
#include <jansson.h>

#include "acct.h"
#include "http.h"
#include "mxdb.h"

typedef struct cs_typing cs_typing;
typedef struct cs_wake cs_wake;

typedef struct cs_ctx {
	mxdb *db;
	acct_db *acct;
	http_server *http;
	const char *server_name;
	bool registration_open;
	cs_typing *typing;  /* in-memory typing notifications */
	cs_wake *wake;      /* wakes parked syncs after commits (cs_wake.c) */
	int commit_sub;     /* mxdb_on_commit registration */
	struct fed_service *fed; /* federation, NULL when off (joins of remote rooms) */
} cs_ctx;

/* The client API (/_matrix/client/{r0,v1,v3}), and /.well-known/matrix/client
 * with /_matrix/client/versions. */
extern const http_routes cs_client_routes;
extern const http_routes cs_wellknown_routes;

/* Sets the context up (typing, wake-ups from commits and account changes). */
mxdb_status cs_init(cs_ctx *c, mxdb_error *err);
/* Stops the wake-ups (before http_stop); cs_fini then frees the rest. */
void cs_quiesce(cs_ctx *c);
void cs_fini(cs_ctx *c);

/* The http_auth_fn for access tokens. */
mxdb_status cs_auth(void *app, const char *token, char **user, char **device);

/* ---- helpers shared by the handlers (cs_util.c) ---- */
#define CS(r) ((cs_ctx *)(r)->app)

/* A string member of the body; NULL when absent. Replies 400 and returns
 * false when present but not a string (or absent and required). */
bool cs_body_str(http_req *r, const char *key, bool required, const char **out);
/* Replies with the error of a failed call. */
void cs_fail(http_req *r, mxdb_status st, const mxdb_error *e);
/* Replies {} on MXDB_OK, else the error. */
void cs_done(http_req *r, mxdb_status st, const mxdb_error *e);
/* Parses a JSON text from the engine (NULL on failure: replies 500). */
json_t *cs_json(http_req *r, char *text);
/* The JSON text a read call returned, parsed; NULL after replying with the
 * call's error (st) or a 500. Takes *text (the caller passes its address so
 * that it is read after the call that fills it) and sets it to NULL. */
json_t *cs_json_result(http_req *r, mxdb_status st, const mxdb_error *e, char **text);
/* Replies with a JSON text the engine made; frees it. */
void cs_reply_text(http_req *r, int status, char *text);
/* Is user_id a user of this server? */
bool cs_is_local_user(cs_ctx *c, const char *user_id);
/* Fails with 403 unless the user is joined to room (a known room ID). When
 * left_at is not NULL a user who left passes too, and *left_at is then the
 * stream position of the leave (0 for a joined user): history up to there
 * stays readable. */
bool cs_require_member(http_req *r, const char *room, const char *user, uint64_t *left_at);
/* Moves the invitees of other servers out of o's invite list (to *remote,
 * *n_remote of them; pointers into the list) when federation is on: the
 * engine's creation would invite them locally only. They stay at the
 * list's end, counted in o->n_invite_remote (for their power level). */
void cs_split_invites(http_req *r, mxdb_table_options *o, const char *const **remote,
                      size_t *n_remote);
/* After a room's creation, invites remote[0..n) over federation (with
 * "is_direct" when is_direct) while r is parked (r->park set). false: parked (return; the handler runs again and,
 * seeing r->park, calls this again with any room_id and list). true: done,
 * with *st (a failed invite is only logged) and *room_id_out (new, on
 * MXDB_OK). */
bool cs_invite_remote(http_req *r, const char *room_id, const char *const *remote, size_t n,
                      bool is_direct, char **room_id_out, mxdb_status *st, mxdb_error *e);
/* Resolves room (ID or alias) into info; replies 404 when unknown. */
bool cs_room_resolve(http_req *r, const char *room, mxdb_room_info *info);
/* Resolves room (ID or alias) into info (404 when unknown), then checks that
 * the requesting user is joined, or left it when left_at is not NULL (403). */
bool cs_room_member(http_req *r, const char *room, uint64_t *left_at, mxdb_room_info *info);

/* ---- typing (cs_ephemeral.c) ---- */
cs_typing *cs_typing_new(void);
void cs_typing_free(cs_typing *t);
/* Sets or clears typing (timeout in ms); returns true when it changed. */
bool cs_typing_set(cs_typing *t, const char *room, const char *user, bool typing,
                   int64_t timeout_ms);
/* The typing users of a room as an m.typing event, and the typing stream
 * position (changes and expiries move it). */
json_t *cs_typing_event(cs_typing *t, const char *room);
uint64_t cs_typing_pos(cs_typing *t);
/* The rooms whose typing set changed after pos. */
bool cs_typing_changed(cs_typing *t, const char *room, uint64_t since);

#endif
