/*
 * room_read.h: what the read files (room_read.c, room_stream.c) share: the
 * column list of a client-format event and its builder, and the first
 * steps of a per-room read.
 */
#ifndef MX_ROOM_READ_H
#define MX_ROOM_READ_H

#include "engine.h"

/* Select these (events e joined with rooms r) and hand the statement to
 * rd_event_row at the first column's index. */
#define RD_EVENT_COLS                                                                   \
	"e.pos, r.room_id, e.event_id, e.type, e.state_key, e.sender, e.ts, e.content,"    \
	" e.redacts, e.redacted_by, e.txn_id," RD_PREV_COL "," RD_REDACTION_COL
#define RD_EVENT_NCOLS 13
/* The version of the key this state event replaced (the change record's
 * prev), as {"event_id","sender","content"}; NULL when it replaced none. */
#define RD_PREV_COL                                                                      \
	" (SELECT json_object('event_id', p.event_id, 'sender', p.sender, 'content',"      \
	" json(p.content)) FROM changes ch JOIN events p ON p.pos = ch.prev_pos"             \
	" WHERE ch.pos = e.pos AND e.state_key IS NOT NULL ORDER BY ch.seq LIMIT 1)"
/* The redaction event that redacted this one, in client format. */
#define RD_REDACTION_COL                                                                 \
	" (SELECT json_object('event_id', x.event_id, 'room_id', r.room_id, 'type', x.type,"  \
	" 'sender', x.sender, 'origin_server_ts', x.ts, 'redacts', x.redacts, 'content',"     \
	" json(x.content)) FROM events x WHERE x.event_id = e.redacted_by)"

/* In the WHERE of every read that shows events to clients (events e):
 * events stored as rejected (fed_rejected: they failed the auth rules) keep
 * the graph whole for federation but are no client's to see. */
#define RD_NOT_REJECTED " AND NOT EXISTS (SELECT 1 FROM fed_rejected x WHERE x.event_id = e.event_id)"
/* Events of the timeline: neither rejected nor outliers. */
#define RD_IN_TIMELINE " AND NOT e.outlier" RD_NOT_REJECTED

/* The client-format event of the row (new JSON object). */
json_t *rd_client_event(sqlite3_stmt *st, int col);
/* Fills ev (owned strings) from the row. */
mxdb_status rd_event_row(sqlite3_stmt *st, int col, mxdb_event *ev, mxdb_error *err);
/* Frees the strings of one event (not the event itself). */
void rd_event_free(mxdb_event *e);
/* Resolves room (ID or alias) to its nid and prepares sql on c with the nid
 * bound to parameter 1: how every per-room read starts. */
mxdb_status rd_room_stmt(store_conn *c, const char *room, const char *sql, sqlite3_stmt **st,
                         mxdb_error *err);
/* Runs st (bound) and collects the client-format events into a JSON array text. */
mxdb_status rd_event_array(store_conn *c, sqlite3_stmt *st, char **json, mxdb_error *err);

#endif
