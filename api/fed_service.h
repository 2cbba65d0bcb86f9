/*
 * fed_service.h: federation inside mxdbd: the client, keyring and sender
 * wired to an open database, the route tables of the server-server API
 * (fed_routes.c), and joining rooms that live on other servers.
 */
#ifndef MX_FED_SERVICE_H
#define MX_FED_SERVICE_H

#include <pthread.h>
#include <stdbool.h>

#include "fed_client.h"
#include "fed_keyring.h"
#include "fed_sender.h"
#include "http.h"
#include "mxdb.h"

typedef struct fed_options {
	bool plain_http;     /* --federation-plain-http */
	const char *ca_file; /* --federation-ca, NULL: system store */
	const char *peers;   /* --peer NAME=HOST:PORT, several joined by ',' */
	const char *notaries; /* --trusted-key-server NAME, several joined by ',' */
	const char *old_keys; /* --old-signing-key FILE:EXPIRED_TS, joined by ',' */
	unsigned max_gap_events; /* events fetched to close one gap, at most (0: 2,000) */
} fed_options;

typedef struct fed_service {
	mxdb *db;
	const char *server_name; /* borrowed from db */
	mx_key key;
	fed_vkey old_keys[8]; /* retired keys, served as old_verify_keys */
	size_t n_old_keys;
	fed_client *client;
	fed_keyring *keyring;
	fed_sender *sender;
	sqlite3 *conn; /* inbound transaction log, queue pushes (under lock) */
	pthread_mutex_t lock;
	int commit_sub;
	size_t max_gap_events; /* fed_fetch.c's bound on get_missing_events rounds */
	struct acct_db *acct; /* profiles for query/profile; set by the daemon, may be NULL */
	/* Received EDUs go to the client API through these (set by the daemon;
	 * NULL: dropped). The user is checked to be of the sending server and
	 * joined to the room. */
	void (*on_typing)(void *ctx, const char *room_id, const char *user_id, bool typing);
	void (*on_receipt)(void *ctx, const char *room_id, const char *user_id, const char *event_id,
	                   const char *thread_id);
	void *edu_ctx;
} fed_service;

/* Loads <data>/signing.key, starts the sender, hooks commits to it. */
mxdb_status fed_start(mxdb *db, const char *data_dir, const fed_options *opt, fed_service **out,
                      mxdb_error *err);
void fed_stop(fed_service *f);

/* /_matrix/federation/... and /_matrix/key/...; r->app must lead to the
 * service through fed_of(). */
extern const http_routes fed_routes;
extern const http_routes fed_key_routes;

/* Set by the daemon: how a handler finds the service from r->app. */
extern fed_service *(*fed_of)(void *app);

/* Joins user_id to a room of another server (make_join, sign, send_join,
 * then the room is built here). room: a room ID or an alias; via: the
 * servers to ask, in order (the client's server_name / via), then the
 * server that invited the user, else the alias's or room ID's server; an
 * unreachable server or one that cannot grant the join passes to the
 * next. *room_id: new. */
mxdb_status fed_join(fed_service *f, const char *room, const char *user_id,
                     const char *const *via, size_t n_via, char **room_id, mxdb_error *err);

/* The same for a knock (make_knock, sign, send_knock): the knock is kept
 * for the user (fed_knock_store) with the knock_room_state the resident
 * server answered. reason: NULL or the knock's reason. */
mxdb_status fed_knock(fed_service *f, const char *room, const char *user_id,
                      const char *const *via, size_t n_via, const char *reason, char **room_id,
                      mxdb_error *err);

/* The stripped state shown with an invite or knock received over
 * federation: the entries of given that are stripped state events (junk
 * left out), then the membership event itself. New array. */
json_t *fed_stripped_state(const json_t *given, const json_t *event);

/* sender (ours) invites target, a user of another server, into room_id
 * (fed_invite.c): signed by both servers, stored, sent to the room.
 * is_direct: the invite's content says "is_direct": true (createRoom). */
mxdb_status fed_invite(fed_service *f, const char *room_id, const char *sender, const char *target,
                       const char *reason, bool is_direct, mxdb_error *err);

/* The same for a client request, run on a thread of its own while r is
 * parked: false means parked (return; the handler runs again); true means
 * done, with *st and *err. */
bool fed_invite_request(fed_service *f, http_req *r, const char *room_id, const char *sender,
                        const char *target, const char *reason, mxdb_status *st, mxdb_error *err);

/* A new room's invitees of other servers, invited one after the other
 * like fed_invite_request (is_direct: as for fed_invite); a failed invite is logged, not returned (the
 * room exists already). Once done, *st is MXDB_OK (unless the job could not
 * run: memory, the server stopping) and *room_id_out (new) is room_id again,
 * so the resumed handler, which no longer has it, can answer. */
bool fed_invite_list_request(fed_service *f, http_req *r, const char *room_id, const char *sender,
                             const char *const *targets, size_t n, bool is_direct,
                             char **room_id_out, mxdb_status *st, mxdb_error *err);

/* Orders list so that the users of server_name (and anything not a user
 * ID) come first, each half in its given order; returns how many those are. */
size_t fed_split_invitees(const char *server_name, const char **list, size_t n);

/* Declines an invite received over federation to a room not here, or
 * rescinds a knock on one: a leave through the inviting server or the one
 * that took the knock (make_leave, send_leave), then the invite or knock is
 * forgotten. reason: the leave's, or NULL. */
mxdb_status fed_decline(fed_service *f, const char *room_id, const char *user_id,
                        const char *reason, mxdb_error *err);

/* The same as fed_invite_request for fed_decline and fed_join (*room_id:
 * new, once done and MXDB_OK). */
bool fed_decline_request(fed_service *f, http_req *r, const char *room_id, const char *user_id,
                         const char *reason, mxdb_status *st, mxdb_error *err);
bool fed_join_request(fed_service *f, http_req *r, const char *room, const char *user_id,
                      const char *const *via, size_t n_via, char **room_id, mxdb_status *st,
                      mxdb_error *err);
bool fed_knock_request(fed_service *f, http_req *r, const char *room, const char *user_id,
                       const char *const *via, size_t n_via, const char *reason, char **room_id,
                       mxdb_status *st, mxdb_error *err);


/* Queues an EDU {edu_type, content} for every other server in the room. */
mxdb_status fed_send_edu(fed_service *f, const char *room_id, const char *edu_type,
                         json_t *content, mxdb_error *err);

/* Queues a PDU for every server in the room except us and `except`. */
mxdb_status fed_forward(fed_service *f, const char *room_id, const json_t *pdu, const char *except,
                        mxdb_error *err);

#endif
