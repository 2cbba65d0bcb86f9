/*
 * fed_fetch.h: what a received PDU lacks (spec server-server-api,
 * "Retrieving events" and "Checks performed on receipt of a PDU"): the
 * first checks of a PDU, its missing ancestors fetched with repeated
 * get_missing_events rounds from the origin and then the room's other
 * servers, ingestion oldest first, and events whose ancestors nobody could
 * give kept pending until they arrive. Runs on the HTTP thread, never on
 * the writer.
 */
#ifndef MX_FED_FETCH_H
#define MX_FED_FETCH_H

#include "ev.h"
#include "fed_service.h"

/* The last room looked up: a transaction's PDUs are mostly of one room. */
typedef struct fed_room_memo {
	char room_id[256];
	const mx_room_version *rv;
} fed_room_memo;

/* The version of a room we have (NULL: not here). memo may be NULL. */
const mx_room_version *fed_room_version(fed_service *f, const char *room_id, fed_room_memo *memo);

/* Checks one received PDU (format, signatures, content hash); NULL with
 * why set when it is dropped. */
ev_t *fed_check_pdu(fed_service *f, json_t *pdu, fed_room_memo *memo, char *why, size_t cap);

/* Takes the checked events of a transaction from origin (takes evs[0..n),
 * frees the array): fetches the ancestors they lack, stores everything
 * oldest first, keeps what still cannot be placed pending, and retries the
 * pending events the new ones complete. results (a JSON object) gets the
 * spec's per-PDU answer for each. Fails only when storage failed (the
 * sender must retry the transaction). */
mxdb_status fed_take_pdus(fed_service *f, const char *origin, ev_t **evs, size_t n, json_t *results,
                          mxdb_error *err);

#endif
