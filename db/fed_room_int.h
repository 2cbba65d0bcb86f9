/*
 * fed_room_int.h: what fed_room.c (ingest: which path an event takes) and
 * fed_place.c (what each path stores) share. Writer thread only; not a
 * public header.
 */
#ifndef MX_FED_ROOM_INT_H
#define MX_FED_ROOM_INT_H

#include "engine.h"
#include "fed_room.h"
#include "stateres.h"

/* The writer-side context of one ingest batch. */
typedef struct wctx {
	mxdb *db;
	store_conn *w;
	const mx_room_version *rv;
	mx_map *cache; /* event ID -> ev_t* (owned): stored or given events */
	sr_lookup lookup;
	mx_map *given; /* missing prev event ID -> the state after it (fed_room_ingest_gap) */
	/* Rooms whose merge waits for the end of the batch: room ID -> the
	 * current state group before their first fork event (intptr_t). */
	mx_map *pending;
} wctx;


/* Stores ev aside over the state before it (group before_sg): rejected, or
 * a late event. No extremity, no row. Takes ev. */
mxdb_status fed_persist_aside(wctx *c, eng_req *req, eng_room *room, ev_t *ev, int64_t before_sg,
                              bool rejected, mxdb_error *err);
/* An event whose descendants are here already (an outlier arriving with
 * its prev events, or a late one). Takes ev. */
mxdb_status fed_place_late(wctx *c, eng_req *req, eng_room *room, ev_t *ev, int64_t before_sg,
                           bool rejected, bool outlier, mxdb_error *err);
/* A fork event stored over group before_sg; the room owes a merge
 * (c->pending). Takes ev. */
mxdb_status fed_ingest_fork(wctx *c, eng_req *req, eng_room *room, ev_t *ev, int64_t before_sg,
                            fed_result *out, mxdb_error *err);
/* The state before ev as a group when a prev event's state is given as a
 * map (c->given). */
mxdb_status fed_before_from_maps(wctx *c, eng_room *room, const ev_t *ev, int64_t *sg,
                                 mxdb_error *err);
/* Drops the writer's cached room (reloaded on next use). */
void fed_forget_room(mxdb *db, eng_room *room);

#endif
