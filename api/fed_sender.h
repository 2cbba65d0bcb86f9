/*
 * fed_sender.h: the federation sender: drains the outbound queue
 * (db/fed_queue.h), one worker thread per destination with something to send,
 * PUT /_matrix/federation/v1/send/{txnId} per transaction, back-off on failure.
 */
#ifndef MX_FED_SENDER_H
#define MX_FED_SENDER_H

#include "fed_client.h"
#include "fed_queue.h"

typedef struct fed_sender fed_sender;

typedef struct fed_sender_config {
	const char *db_path;  /* the SQLite file holding the fed tables */
	fed_client *client;   /* borrowed; outlives the sender */
	const char *origin;   /* our server name */
	fed_backoff backoff;  /* 0s: 250 ms initial, 60 s cap */
} fed_sender_config;

mxdb_status fed_sender_start(const fed_sender_config *cfg, fed_sender **out, mxdb_error *err);
/* Something was queued or a peer came back: look at the queue now. Cheap and
 * safe from any thread (a commit callback too). */
void fed_sender_kick(fed_sender *s);
/* Same, and forgets the back-off of destination (it just talked to us). */
void fed_sender_peer_alive(fed_sender *s, const char *destination);
/* Stops every worker (an in-flight request finishes or times out) and frees. */
void fed_sender_stop(fed_sender *s);

#endif
