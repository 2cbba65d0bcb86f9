/*
 * mxdb.h: the embeddable C API of mxdb, a database whose tables are Matrix
 * rooms. Everything mxdbd serves over HTTP is reachable here in-process.
 *
 * Conventions:
 *  - Every function that can fail returns an mxdb_status and, when `err` is
 *    not NULL, fills it with the status and a human-readable message.
 *  - Strings are NUL-terminated UTF-8. Row values and event contents are
 *    JSON object texts.
 *  - Memory returned through an out-pointer belongs to the caller and is
 *    released with the matching *_free function (or mxdb_free for strings).
 *  - The library never prints and never exits the process.
 *  - An mxdb handle may be used from several threads at once.
 */
#ifndef MXDB_H
#define MXDB_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MXDB_VERSION "0.1.0"

typedef enum mxdb_status {
	MXDB_OK = 0,
	MXDB_EINVAL,      /* a parameter is wrong (M_INVALID_PARAM, 400) */
	MXDB_ENOTJSON,    /* not JSON at all (M_NOT_JSON, 400) */
	MXDB_EBADJSON,    /* JSON, but not acceptable (M_BAD_JSON, 400) */
	MXDB_ETOOLARGE,   /* over a size limit (M_TOO_LARGE, 413) */
	MXDB_ENOTFOUND,   /* no such table, row or event (M_NOT_FOUND, 404) */
	MXDB_EFORBIDDEN,  /* refused by the room's auth rules (M_FORBIDDEN, 403) */
	MXDB_ECONFLICT,   /* compare-and-set failed (M_CONDITION_FAILED, 412) */
	MXDB_EEXISTS,     /* already exists (M_ROOM_IN_USE / M_USER_IN_USE, 400) */
	MXDB_ESIGNATURE,  /* a signature is missing or does not verify (M_FORBIDDEN, 401) */
	MXDB_EHASH,       /* a content hash does not match */
	MXDB_EVERSION,    /* unsupported room version (M_UNSUPPORTED_ROOM_VERSION, 400) */
	MXDB_EIO,         /* storage failed (M_UNKNOWN, 500) */
	MXDB_ENOMEM,      /* out of memory (M_UNKNOWN, 500) */
	MXDB_ECLOSED,     /* the database is closing */
	MXDB_EINTERNAL,   /* a bug (M_UNKNOWN, 500) */
	/* A join to a restricted room whose allow condition holds, but no user
	 * of this server may invite: another server must authorise it
	 * (M_UNABLE_TO_GRANT_JOIN, 400). */
	MXDB_ENOGRANT,
	/* A join to a restricted room whose allow rooms this server does not
	 * have, so it cannot tell (M_UNABLE_TO_AUTHORISE_JOIN, 400). */
	MXDB_EUNVERIFIABLE
} mxdb_status;

typedef struct mxdb_error {
	mxdb_status code;
	char message[256];
} mxdb_error;

/* "MXDB_EFORBIDDEN" etc. */
const char *mxdb_status_name(mxdb_status s);
/* The Matrix errcode ("M_FORBIDDEN") and HTTP status that match a status. */
const char *mxdb_status_errcode(mxdb_status s);
int mxdb_status_http(mxdb_status s);

/* Releases a string returned by the library. */
void mxdb_free(void *p);

/* ------------------------------------------------------------------------
 * Opening a database
 * ------------------------------------------------------------------------ */

typedef struct mxdb mxdb;

/* What an acknowledged write survives (docs/c-api.md, "Durability"). */
typedef enum mxdb_sync {
	MXDB_SYNC_FULL = 0, /* default: every acknowledged write survives power loss
	                       (SQLite synchronous=FULL: one fsync per group commit) */
	MXDB_SYNC_NORMAL    /* survives a crash of the process (kill -9), may lose the
	                       last commits on power loss (synchronous=NORMAL) */
} mxdb_sync;

typedef struct mxdb_options {
	const char *server_name;  /* NULL: "localhost:8008" */
	const char *room_version; /* default for new tables; NULL: the newest supported */
	mxdb_sync synchronous;
	int readers;              /* reader connections; 0: 4 */
} mxdb_options;

/* Opens (creating when missing) the data directory dir: the SQLite file
 * <dir>/mxdb.sqlite3 and the signing key <dir>/signing.key. opt may be NULL.
 * Starts the writer thread. One handle per directory: a second one, in this
 * process or another, fails with MXDB_EEXISTS (<dir>/lock is flock'ed). */
mxdb_status mxdb_open(const char *dir, const mxdb_options *opt, mxdb **out, mxdb_error *err);
/* Waits for queued writes, stops the writer, closes everything. NULL is fine. */
void mxdb_close(mxdb *db);

/* Borrowed strings, valid until mxdb_close. */
const char *mxdb_server_name(const mxdb *db);
const char *mxdb_key_id(const mxdb *db);      /* "ed25519:a_XXXX" */
const char *mxdb_public_key(const mxdb *db);  /* unpadded base64 of the ed25519 key */
const char *mxdb_sqlite_path(const mxdb *db); /* other modules (accounts) open it too */
const char *mxdb_default_room_version(const mxdb *db);

/* Signs a JSON object (text) with the server key the Matrix way: adds
 * signatures[server_name][key_id]. *out: new JSON text (mxdb_free). */
mxdb_status mxdb_sign_json(mxdb *db, const char *json, char **out, mxdb_error *err);

/* ------------------------------------------------------------------------
 * Tables (rooms)
 * ------------------------------------------------------------------------ */

typedef enum mxdb_preset {
	MXDB_PRESET_DEFAULT = 0, /* public_chat when visibility_public, else private_chat */
	MXDB_PRESET_PRIVATE_CHAT,         /* invite only, shared history, no guests */
	MXDB_PRESET_PUBLIC_CHAT,          /* anyone may join, shared history, no guests */
	MXDB_PRESET_TRUSTED_PRIVATE_CHAT  /* private, and the invitees get the creator's level */
} mxdb_preset;

typedef struct mxdb_writer {
	const char *user_id;
	int64_t level;
} mxdb_writer;

/* Everything /createRoom takes. Only creator is required; all JSON fields
 * are texts. Events are sent in the spec's order: m.room.create (with
 * creation_content), the creator's join, m.room.power_levels (defaults,
 * then the writers, state_default, then power_level_content_override),
 * m.room.canonical_alias, the preset's join_rules / history_visibility /
 * guest_access, initial_state, name, topic, then the invites. */
typedef struct mxdb_table_options {
	const char *creator;           /* "@alice:server", required */
	const char *room_version;      /* NULL: the database default */
	mxdb_preset preset;
	int visibility_public;         /* listed in the room directory */
	const char *name;              /* m.room.name, NULL: none */
	const char *topic;             /* m.room.topic, NULL: none */
	const char *alias;             /* local part ("todo" -> #todo:server_name), NULL: none;
	                                  MXDB_EEXISTS when taken */
	int has_state_default;         /* set power_levels.state_default to state_default: */
	int64_t state_default;         /* e.g. 0 = every member may write rows */
	const mxdb_writer *writers;    /* put into power_levels.users */
	size_t n_writers;
	const char *power_level_content_override; /* JSON object, merged last (top level keys) */
	const char *creation_content;  /* JSON object, merged into m.room.create content */
	const char *initial_state;     /* JSON array of {"type","state_key","content"} */
	const char *const *invite;     /* user IDs to invite */
	size_t n_invite;
	int is_direct;                 /* invites carry "is_direct": true */
	size_t n_invite_remote;        /* invite[n_invite .. n_invite + n_invite_remote): users of
	                                  other servers, whom the caller invites over federation
	                                  once the room exists; here they only get the preset's
	                                  power level (trusted_private_chat: the creator's) */
} mxdb_table_options;

/* Creates a table. *room_id: new string (mxdb_free). The whole creation is one
 * atomic write: a bad initial_state leaves nothing behind. */
mxdb_status mxdb_create_table(mxdb *db, const mxdb_table_options *opt, char **room_id,
                              mxdb_error *err);

typedef struct mxdb_room_info {
	char room_id[256];
	char version[16];
	char creator[256];         /* the create event's sender */
	char create_event_id[256];
	int visibility_public;
	uint64_t last_pos;         /* stream position of the room's newest event */
} mxdb_room_info;

/* room: a room ID ("!...") or an alias ("#..."). MXDB_ENOTFOUND when unknown. */
mxdb_status mxdb_room_info_get(mxdb *db, const char *room, mxdb_room_info *out, mxdb_error *err);

/* Aliases ("#name:server"). put: MXDB_EEXISTS if taken, MXDB_ENOTFOUND if the room
 * is unknown. resolve: *room_id new string. delete: MXDB_ENOTFOUND if absent.
 * These change the directory only, not the room's m.room.canonical_alias. */
mxdb_status mxdb_alias_put(mxdb *db, const char *alias, const char *room_id, const char *creator,
                           mxdb_error *err);
mxdb_status mxdb_alias_resolve(mxdb *db, const char *alias, char **room_id, mxdb_error *err);
mxdb_status mxdb_alias_delete(mxdb *db, const char *alias, mxdb_error *err);
/* The user who created the alias (*creator new string), for permission checks. */
mxdb_status mxdb_alias_creator(mxdb *db, const char *alias, char **creator, mxdb_error *err);
/* The public rooms (visibility_public), as a JSON array of room IDs. */
mxdb_status mxdb_public_rooms(mxdb *db, char **json, mxdb_error *err);
mxdb_status mxdb_set_visibility(mxdb *db, const char *room_id, int visibility_public,
                                mxdb_error *err);

/* ------------------------------------------------------------------------
 * Writes: one generic request, thin wrappers below
 * ------------------------------------------------------------------------ */

typedef struct mxdb_write {
	const char *room;          /* room ID or alias */
	const char *sender;        /* user ID; must be on this server */
	const char *type;          /* event type, <= 255 bytes */
	const char *state_key;     /* NULL: a non-state event (message); else a row key */
	const char *content;       /* JSON object text; NULL = {} */
	size_t content_len;        /* 0: strlen(content) */
	const char *redacts;       /* the redacted event ID, for m.room.redaction */
	/* Compare-and-set, state events only (checked inside the write, atomically): */
	const char *if_match;      /* NULL: none; "*": the row must exist (not deleted);
	                              "$id": the row's current version must be $id */
	int if_none_match;         /* the row must not exist (missing or deleted) */
	const char *txn_id;        /* idempotency: the same (sender, room, txn_id) again returns
	                              the first write's result and writes nothing */
} mxdb_write;

typedef struct mxdb_write_result {
	char event_id[256];
	uint64_t seq;  /* change sequence number; 0 when no row changed (messages) */
	uint64_t pos;  /* stream position of the event */
} mxdb_write_result;

/* The one write entry. Blocks until the write is durable (group commit).
 * Errors: MXDB_EINVAL (bad IDs, type or key > 255 bytes), MXDB_ENOTJSON,
 * MXDB_EBADJSON (not an object, floats...), MXDB_ETOOLARGE (> 65,536 bytes),
 * MXDB_ENOTFOUND (unknown table), MXDB_EFORBIDDEN (auth rules), MXDB_ECONFLICT
 * (compare-and-set), MXDB_ECLOSED, MXDB_EIO. A failed write changes nothing.
 * res may be NULL. Must not be called from a change or commit callback. */
mxdb_status mxdb_write_event(mxdb *db, const mxdb_write *w, mxdb_write_result *res,
                             mxdb_error *err);

/* Puts a row: the state event (type, state_key) with content (a JSON object).
 * if_match as in mxdb_write (NULL for none). */
mxdb_status mxdb_put(mxdb *db, const char *room, const char *sender, const char *type,
                     const char *state_key, const char *content, const char *if_match,
                     mxdb_write_result *res, mxdb_error *err);
/* Deletes a row: writes the tombstone (content {}). */
mxdb_status mxdb_delete(mxdb *db, const char *room, const char *sender, const char *type,
                        const char *state_key, const char *if_match, mxdb_write_result *res,
                        mxdb_error *err);
/* Sends a non-state event of any type (m.room.message...). txn_id may be NULL. */
mxdb_status mxdb_send(mxdb *db, const char *room, const char *sender, const char *type,
                      const char *content, const char *txn_id, mxdb_write_result *res,
                      mxdb_error *err);
/* Redacts an event (reason may be NULL). Allowed to the event's sender and to
 * users with the "redact" power level. */
mxdb_status mxdb_redact(mxdb *db, const char *room, const char *sender, const char *event_id,
                        const char *reason, const char *txn_id, mxdb_write_result *res,
                        mxdb_error *err);

typedef enum mxdb_member_op {
	MXDB_INVITE, /* sender invites target */
	MXDB_JOIN,   /* target (== sender) joins */
	MXDB_LEAVE,  /* target (== sender) leaves, or rejects an invite */
	MXDB_KICK,   /* sender removes target */
	MXDB_BAN,
	MXDB_UNBAN,  /* target must be banned */
	MXDB_KNOCK
} mxdb_member_op;

/* Membership change. target NULL = sender. reason may be NULL. content: NULL
 * or a JSON object with extra member fields (displayname, avatar_url,
 * is_direct...); "membership" is set by op. */
mxdb_status mxdb_membership(mxdb *db, const char *room, const char *sender, const char *target,
                            mxdb_member_op op, const char *reason, const char *content,
                            mxdb_write_result *res, mxdb_error *err);

/* ------------------------------------------------------------------------
 * Reads (never blocked by the writer: readers have their own connections)
 * ------------------------------------------------------------------------ */

/* A row's value. *content (JSON text) and *event_id: new strings, either
 * pointer may be NULL. MXDB_ENOTFOUND for an unknown table, a missing row
 * and a deleted row. */
mxdb_status mxdb_get(mxdb *db, const char *room, const char *type, const char *state_key,
                     char **content, char **event_id, mxdb_error *err);

typedef struct mxdb_row {
	char *type;
	char *state_key;
	char *content;  /* JSON object text */
	char *event_id;
	char *sender;
	int64_t ts;     /* origin_server_ts */
} mxdb_row;

typedef struct mxdb_rows {
	mxdb_row *rows;
	size_t n;
	char *next;     /* token for the next page, NULL at the end */
} mxdb_rows;

/* Live rows (deleted ones skipped) in (type, state_key) byte order.
 * type NULL: every type; prefix NULL: every key; limit 0: 100 (at most 10,000);
 * from: NULL or a token from a previous page. */
mxdb_status mxdb_scan(mxdb *db, const char *room, const char *type, const char *prefix,
                      size_t limit, const char *from, mxdb_rows *out, mxdb_error *err);
void mxdb_rows_free(mxdb_rows *rows);

/* The room's current state as a JSON array of client-format events
 * (tombstones included: this is the Matrix state). */
mxdb_status mxdb_state(mxdb *db, const char *room, char **json, mxdb_error *err);
/* One state event in client format, or MXDB_ENOTFOUND (tombstones included). */
mxdb_status mxdb_state_event(mxdb *db, const char *room, const char *type,
                             const char *state_key, char **json, mxdb_error *err);
/* One event by ID, client format ({"event_id","room_id","type","sender",
 * "origin_server_ts","content","state_key"?,"unsigned"}; redacted events
 * are served redacted). */
mxdb_status mxdb_event_get(mxdb *db, const char *event_id, char **json, mxdb_error *err);
/* One event by ID as the signed PDU (federation format). */
mxdb_status mxdb_event_pdu(mxdb *db, const char *event_id, char **json, mxdb_error *err);
/* The room state at an event, as a JSON array of the state events' IDs (for
 * federation's /state_ids): before the event (after = 0), or after it
 * (after = 1; the same for non-state events). Read from the state groups,
 * so any past event works. */
mxdb_status mxdb_state_ids_at(mxdb *db, const char *event_id, int after, char **json,
                              mxdb_error *err);
/* The same state as client-format events (a JSON array): what /sync shows
 * as the state at the start of a timeline. */
mxdb_status mxdb_state_at(mxdb *db, const char *event_id, int after, char **json, mxdb_error *err);

/* A user's membership in a room ("join", "invite", "leave", "ban", "knock")
 * into out, or MXDB_ENOTFOUND when the user never had one. */
mxdb_status mxdb_member_of(mxdb *db, const char *room, const char *user_id, char out[16],
                           mxdb_error *err);

typedef struct mxdb_user_room {
	char *room_id;
	char *membership;   /* "join", "invite", "leave", "ban", "knock" */
	char *event_id;     /* the membership event */
	char *sender;       /* who sent it (the inviter for invites) */
	uint64_t pos;       /* its stream position */
	char *invite_state; /* for invite and knock: JSON array of stripped state
	                       events (create, join_rules, name, avatar, canonical
	                       alias, encryption, the member event); else NULL */
} mxdb_user_room;

/* The rooms in which user_id has a membership; membership NULL = all. */
mxdb_status mxdb_user_rooms(mxdb *db, const char *user_id, const char *membership,
                            mxdb_user_room **out, size_t *n, mxdb_error *err);
void mxdb_user_rooms_free(mxdb_user_room *rooms, size_t n);

/* A room's m.room.member events (client format, JSON array); membership
 * NULL = all, else only that membership. */
mxdb_status mxdb_members(mxdb *db, const char *room, const char *membership, char **json,
                         mxdb_error *err);

/* ------------------------------------------------------------------------
 * The event stream (for /sync and /messages)
 * ------------------------------------------------------------------------
 * Every stored event, state or not, gets the next stream position (1, 2, ...)
 * when it commits. */

typedef struct mxdb_event {
	uint64_t pos;
	char *room_id;
	char *event_id;
	char *type;
	char *state_key; /* NULL for non-state events */
	char *sender;
	int64_t ts;
	char *txn_id;    /* the sender's transaction ID, NULL if none */
	char *json;      /* the client-format event */
} mxdb_event;

typedef struct mxdb_events {
	mxdb_event *ev;
	size_t n;
} mxdb_events;

/* Events with since < pos, oldest first, at most limit (0: 100).
 * rooms/n_rooms: those rooms; or rooms NULL and user_id set: every room where
 * user_id is joined now, plus user_id's own membership events (so leaves and
 * invites show); rooms NULL and user_id NULL: every room. */
mxdb_status mxdb_events_since(mxdb *db, uint64_t since, const char *const *rooms, size_t n_rooms,
                              const char *user_id, size_t limit, mxdb_events *out,
                              mxdb_error *err);

/* One room's timeline from a position. backwards: events with pos < from,
 * newest first (from 0 = from the end); forwards: pos > from, oldest first.
 * limit 0: 10. Ask limit+1 to learn whether more exist. */
mxdb_status mxdb_room_events(mxdb *db, const char *room, uint64_t from, int backwards,
                             size_t limit, mxdb_events *out, mxdb_error *err);
void mxdb_events_free(mxdb_events *evs);

/* History visibility (spec client-server "History visibility"): drops from
 * evs the events user_id may not see, judged by m.room.history_visibility
 * and user_id's membership in the state before each event (world_readable:
 * anyone; shared: members then, and users who joined later; invited:
 * invited or joined then; joined: joined then). A user always sees their
 * own membership events. Order is kept. */
mxdb_status mxdb_events_visible(mxdb *db, const char *user_id, mxdb_events *evs, mxdb_error *err);
/* The same judgement for one event: *visible 1 or 0; MXDB_ENOTFOUND if unknown. */
mxdb_status mxdb_event_visible(mxdb *db, const char *user_id, const char *event_id, int *visible,
                               mxdb_error *err);

/* The newest committed stream position (0: empty database). */
uint64_t mxdb_stream_pos(mxdb *db);
/* Blocks until the stream position exceeds after or timeout_ms passes (or
 * the database closes); returns the position then. */
uint64_t mxdb_wait(mxdb *db, uint64_t after, int timeout_ms);

/* Called on the writer thread after every commit with the new stream position.
 * Keep it short; it must not write (mxdb_write_event fails with MXDB_EINVAL). */
typedef void (*mxdb_commit_fn)(void *ctx, uint64_t pos);
/* Returns a registration ID (> 0) for mxdb_unsubscribe, or 0 when full. */
int mxdb_on_commit(mxdb *db, mxdb_commit_fn fn, void *ctx);

/* ------------------------------------------------------------------------
 * Change records (DESIGN.md "Change feed")
 * ------------------------------------------------------------------------
 * Every change of a row's winning version gets the next seq (server-wide,
 * gap-free) and the next room_seq (within the room, 1, 2, 3...). */

typedef enum mxdb_cause { MXDB_CAUSE_LOCAL = 0, MXDB_CAUSE_REMOTE, MXDB_CAUSE_MERGE } mxdb_cause;

/* Borrowed strings, valid during the callback only. */
typedef struct mxdb_change {
	uint64_t seq;
	uint64_t room_seq;
	uint64_t pos;        /* the stream position of the new version's event */
	const char *room;
	const char *type;
	const char *key;     /* state_key */
	const char *event;   /* the new version's event ID */
	const char *prev;    /* the replaced version's ID, NULL if none */
	const char *sender;
	int64_t ts;          /* origin_server_ts */
	const char *content; /* JSON object text, NULL for a deleted row */
	mxdb_cause cause;
} mxdb_change;

/* Return 0 to go on, nonzero to stop. */
typedef int (*mxdb_change_fn)(void *ctx, const mxdb_change *c);

/* Calls fn for each change with seq > since, in seq order, at most limit
 * (0: no limit); room (ID or alias) NULL = every room. */
mxdb_status mxdb_changes_since(mxdb *db, uint64_t since, const char *room, size_t limit,
                               mxdb_change_fn fn, void *ctx, mxdb_error *err);
/* The newest committed seq (0: none yet). */
uint64_t mxdb_last_seq(mxdb *db);

/* Called on the writer thread after each commit, once per change, in seq
 * order, before the writers are woken. It must not write. Its return value
 * is ignored. Returns a registration ID (> 0), or 0 when full. */
int mxdb_on_change(mxdb *db, mxdb_change_fn fn, void *ctx);
/* Removes a commit or change callback; after it returns the callback is not
 * running and will not run again. */
void mxdb_unsubscribe(mxdb *db, int id);

/* Encodes a change as the feed's CBOR map (DESIGN.md): keys seq, room_seq,
 * room, type, key, event, prev, sender, ts, content (a CBOR map or null),
 * cause. *buf: new buffer (mxdb_free). */
mxdb_status mxdb_change_cbor(const mxdb_change *c, unsigned char **buf, size_t *len,
                             mxdb_error *err);


/* ------------------------------------------------------------------------
 * Change feed: the nng publisher and the reliable subscriber (docs/feed.md)
 * ------------------------------------------------------------------------
 * The publisher sends every change of db, after commit and in seq order, on
 * an nng PUB socket: room ID, one 0x00 byte, the CBOR map of
 * mxdb_change_cbor. PUB drops for slow subscribers; mxdb_watch never does:
 * it subscribes, reads its starting position, then applies feed records
 * and fills every gap (seq for all rooms, room_seq for one room) and every
 * quiet tail by a catch-up read, in-process (mxdb_changes_since) or over
 * HTTP (GET /_mxdb/v1/changes?since=). No change is delivered twice or out
 * of order. */

typedef struct mxdb_feed mxdb_feed;

/* Listens on url ("tcp://127.0.0.1:8009", "ipc:///path") and publishes. */
mxdb_status mxdb_feed_open(mxdb *db, const char *url, mxdb_feed **out, mxdb_error *err);
/* Stops publishing (call before mxdb_close). NULL is fine. */
void mxdb_feed_close(mxdb_feed *f);

typedef struct mxdb_watch mxdb_watch;

#define MXDB_WATCH_NOW UINT64_MAX /* since: start at the newest change */

typedef struct mxdb_watch_options {
	const char *feed_url;  /* the publisher; NULL or "": no feed, catch-up polling only */
	const char *room;      /* one room ID ("!..."), or NULL for every room */
	uint64_t since;        /* deliver the changes with seq > since (0: all), or MXDB_WATCH_NOW */
	mxdb *db;              /* catch-up in-process from this database, or */
	const char *server;    /* over HTTP from this server ("http://127.0.0.1:8008") */
	const char *token;     /* the access token for server, or NULL */
	int recv_buf;          /* nng receive queue in messages; 0: 1024 */
	int idle_check_ms;     /* catch-up once the feed is quiet this long (0: 200), then
	                          every second while it stays quiet (a publisher down or
	                          out of reach delays changes, never loses them) */
} mxdb_watch_options;

mxdb_status mxdb_watch_open(const mxdb_watch_options *opt, mxdb_watch **out, mxdb_error *err);
/* Waits up to timeout_ms for the next change. *out = NULL when none came;
 * else it is valid until the next call on w. Not for several threads at once. */
mxdb_status mxdb_watch_next(mxdb_watch *w, int timeout_ms, const mxdb_change **out,
                            mxdb_error *err);
/* The change last returned, as one line of JSON with the CBOR map's keys. */
const char *mxdb_watch_json(mxdb_watch *w);
/* The seq of the change last delivered (the position to resume from). */
uint64_t mxdb_watch_seq(const mxdb_watch *w);
/* Feed records that revealed a gap, and catch-up reads done so far. */
void mxdb_watch_stats(const mxdb_watch *w, uint64_t *gaps, uint64_t *catchups);
void mxdb_watch_close(mxdb_watch *w);

#ifdef __cplusplus
}
#endif
#endif /* MXDB_H */
