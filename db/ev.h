/*
 * ev.h: one Matrix event (PDU) in memory, and the operations on its wire
 * format: content hash, reference hash and event ID, redaction, signing,
 * and the v12 room ID. An ev_t keeps the JSON it came from and points into
 * it for the fields the auth rules and state resolution read all the time.
 */
#ifndef MX_EV_H
#define MX_EV_H

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>

#include "err.h"
#include "keys.h"
#include "room_version.h"

#define EV_MAX_BYTES 65536 /* canonical JSON of a whole PDU */
#define EV_MAX_ID 255      /* type, state_key, IDs, in bytes */
#define EV_MAX_PREV 20     /* prev_events entries (rooms v4+ PDU schema) */
#define EV_MAX_AUTH 10     /* auth_events entries */
#define EV_ID_SIZE 48      /* buffer for "$" + 43 base64 characters + NUL */

typedef struct ev {
	json_t *json;            /* owned: the PDU as signed (no "event_id" key for v4+) */
	char *event_id;          /* owned */
	const mx_room_version *rv;
	/* Borrowed from json: */
	const char *room_id;     /* NULL only for a v12 create event */
	const char *type;
	const char *state_key;   /* NULL: not a state event */
	const char *sender;
	const char *redacts;     /* NULL unless m.room.redaction */
	json_t *content;
	int64_t origin_server_ts;
	int64_t depth;
	/* Owned arrays of borrowed strings: */
	const char **prev_events;
	size_t n_prev;
	const char **auth_events;
	size_t n_auth;
	/* Bookkeeping for the engine and state resolution. */
	bool rejected;
	uint64_t nid;            /* storage row id; 0 when not stored */
} ev_t;

/* Builds an ev_t from a PDU. Takes a new reference to json (the caller keeps
 * its own, and must not change the PDU while the ev_t lives: the ev_t points
 * into it). event_id NULL: computed from the reference hash (rooms v4+);
 * otherwise used as given (test fixtures, older formats). Checks field types
 * and the size limits, not signatures or hashes, so an unsigned PDU that is
 * still being built parses too ("hashes" and "signatures" may be absent).
 * Fails with MXDB_EBADJSON (wrong or missing field), MXDB_ETOOLARGE (a key
 * over 255 bytes, the PDU over 65,536 bytes, too many prev/auth events) or
 * MXDB_EINVAL (json or rv NULL). */
mxdb_status ev_from_json(json_t *json, const char *event_id, const mx_room_version *rv,
                         ev_t **out, mxdb_error *err);
void ev_free(ev_t *ev);

/* Is this (type, state_key) the key the event sets? */
bool ev_is_state(const ev_t *ev);

/* sha256 over the canonical event without unsigned, signatures and hashes. */
mxdb_status ev_content_hash(const json_t *pdu, unsigned char out[32], mxdb_error *err);
/* Sets pdu.hashes.sha256; checks it (MXDB_EHASH on mismatch or absence). */
mxdb_status ev_add_content_hash(json_t *pdu, mxdb_error *err);
mxdb_status ev_check_content_hash(const json_t *pdu, mxdb_error *err);

/* A new, redacted copy of pdu by the room version's rules (a deep copy: the
 * caller may change it freely). NULL when pdu is not an object or on OOM. */
json_t *ev_redact(const json_t *pdu, const mx_room_version *rv);
/* The same, but sharing the kept values with pdu (jansson references): cheap,
 * for hashing and signing; only the top level and content are new objects,
 * so treat anything below them as read-only. *out is a new reference. */
mxdb_status ev_redact_shared(const json_t *pdu, const mx_room_version *rv, json_t **out,
                             mxdb_error *err);

/* Event ID for rooms v4+: "$" + URL-safe unpadded base64 of the sha256 of the
 * redacted event without signatures, unsigned (and age_ts): 44 characters. */
mxdb_status ev_compute_id(const json_t *pdu, const mx_room_version *rv, char out[EV_ID_SIZE],
                          mxdb_error *err);

/* Room v12: "!" + the create event's ID without its "$". MXDB_EVERSION for a
 * version whose room IDs are not derived; MXDB_EBADJSON when create_pdu is
 * not an m.room.create or has a room_id (v12 auth rule 1.2 rejects it). */
mxdb_status ev_room_id_from_create(const json_t *create_pdu, const mx_room_version *rv,
                                   char out[EV_ID_SIZE], mxdb_error *err);

/* Completes a locally built PDU: sets hashes.sha256, then signs the REDACTED
 * form (spec: server-server-api, "Signing Events"; redaction depends on the
 * room version) and adds signatures[server_name][key_id] to pdu. */
mxdb_status ev_hash_and_sign(json_t *pdu, const mx_room_version *rv, const mx_key *key,
                             const char *server_name, mxdb_error *err);
/* The same, and sets id to the event ID (as ev_compute_id would, without
 * redacting and dumping the event a second time). */
mxdb_status ev_hash_and_sign_id(json_t *pdu, const mx_room_version *rv, const mx_key *key,
                                const char *server_name, char id[EV_ID_SIZE], mxdb_error *err);

/* Verifies signatures[server_name][key_id] over the redacted form of pdu, so
 * it succeeds for the full event and for a redacted copy alike.
 * MXDB_ESIGNATURE when missing or wrong. */
mxdb_status ev_check_signature(const json_t *pdu, const mx_room_version *rv,
                               const char *server_name, const char *key_id,
                               const unsigned char pk[32], mxdb_error *err);

#endif
