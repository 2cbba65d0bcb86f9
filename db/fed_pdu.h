/*
 * fed_pdu.h: the first checks on a PDU received over federation (spec
 * server-server-api, "Checks performed on receipt of a PDU", steps 1-3):
 * valid format for the room version, signatures of the servers that must
 * sign, and the content hash (a mismatch keeps the event, redacted).
 * Authorization (steps 4-6) belongs to the engine and db/auth.c.
 */
#ifndef MX_FED_PDU_H
#define MX_FED_PDU_H

#include "ev.h"

/* Finds server's public key key_id valid at ts (the event's
 * origin_server_ts). MXDB_ENOTFOUND when it is unknown or expired: that
 * signature is skipped, as the spec says. The caller may fetch keys here. */
typedef mxdb_status (*fed_key_fn)(void *ctx, const char *server, const char *key_id,
                                  long long ts, unsigned char pk[32], mxdb_error *err);

/* The server part of a user ID ("@u:example.org:8448" -> "example.org:8448"),
 * or NULL when it has none. */
const char *fed_server_of(const char *user_id);

/* Is pdu signed by server (every signature of a key known at its
 * origin_server_ts verifies, and one at least)? For signatures beyond the
 * sender's server's, e.g. the invitee's server on an invite. */
mxdb_status fed_pdu_signed_by(const json_t *pdu, const mx_room_version *rv, const char *server,
                              fed_key_fn keys, void *ctx, mxdb_error *err);

/* Checks pdu (not changed; the result keeps its own reference) in room
 * version rv. On MXDB_OK *out is the event to process further: the PDU as
 * received, or, when its content hash is wrong, its redacted copy (then
 * *redacted is 1). Fails with MXDB_EBADJSON / MXDB_ETOOLARGE (invalid: drop)
 * or MXDB_ESIGNATURE (no valid signature of a required server, or a bad one
 * from a known key: drop). */
mxdb_status fed_pdu_check(json_t *pdu, const mx_room_version *rv, fed_key_fn keys, void *ctx,
                          ev_t **out, int *redacted, mxdb_error *err);

#endif
