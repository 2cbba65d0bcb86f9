/*
 * fed_keyring.h: remote servers' public keys for verifying requests and
 * events: the SQLite cache first (db/fed_keys.h), else a fetch of
 * GET /_matrix/key/v2/server from that server, else a query to the trusted
 * notaries, validated and stored.
 * Failed fetches are not repeated for a server within a short pause, so a
 * flood of requests naming unknown keys cannot make us flood the server.
 */
#ifndef MX_FED_KEYRING_H
#define MX_FED_KEYRING_H

#include <stdbool.h>

#include "fed_client.h"
#include "fed_keys.h"

typedef struct fed_keyring fed_keyring;

mxdb_status fed_keyring_new(const char *db_path, fed_client *client, fed_keyring **out,
                            mxdb_error *err);
void fed_keyring_free(fed_keyring *kr);

/* Our own server's key: answered without cache or fetch (our events come
 * back to us, e.g. through get_missing_events from a third server). */
void fed_keyring_set_own(fed_keyring *kr, const char *server_name, const mx_key *key);

/* Trusted key servers (--trusted-key-server), asked in the order added when
 * a server's keys cannot be fetched from it directly. */
mxdb_status fed_keyring_add_notary(fed_keyring *kr, const char *name, mxdb_error *err);

/* One of our retired keys (key_id, pk, expired_ts): accepted on our own
 * events from before expired_ts when they come back to us. */
mxdb_status fed_keyring_add_own_old(fed_keyring *kr, const fed_vkey *old, mxdb_error *err);

/* For answering as a notary: server's self-signed key response (*out new):
 * a cached one whose valid_until_ts is min_valid or later, else one fetched
 * from server now (only when may_ask), else the latest cached one however
 * old (the spec's offline servers). MXDB_ENOTFOUND when we have none. */
mxdb_status fed_keyring_response(fed_keyring *kr, const char *server, long long min_valid,
                                 bool may_ask, json_t **out, mxdb_error *err);

/* The key key_id of server for use at ts (now for requests, the event's
 * origin_server_ts for events). MXDB_ENOTFOUND when the server does not
 * have it (or is unreachable and nothing valid is cached). */
mxdb_status fed_keyring_get(fed_keyring *kr, const char *server, const char *key_id,
                            fed_key_use use, long long ts, unsigned char pk[32], mxdb_error *err);

/* Adapter with the fed_key_fn signature (db/fed_pdu.h), ctx = the keyring. */
mxdb_status fed_keyring_event_key(void *ctx, const char *server, const char *key_id, long long ts,
                                  unsigned char pk[32], mxdb_error *err);

/* Authenticates an inbound request: parses the X-Matrix header, fetches
 * the origin's key if needed and verifies the signature over method, uri
 * (path and query as received), body (NULL: none) and our_name. On MXDB_OK
 * origin (256 bytes) holds the authenticated server name. MXDB_ESIGNATURE
 * (401) for a missing, malformed, forged or wrongly addressed header. */
mxdb_status fed_keyring_check_request(fed_keyring *kr, const char *our_name, const char *header,
                                      const char *method, const char *uri, const json_t *body,
                                      char origin[256], mxdb_error *err);

#endif
