/*
 * fed_client.h: outbound server-server requests over libcurl: finding where
 * a server name lives (static --peer map, explicit port, .well-known
 * delegation, SRV records, port 8448), signing each request with X-Matrix,
 * TLS checked against the system store or --federation-ca, connections
 * reused through one curl share. Safe to use from several threads.
 */
#ifndef MX_FED_CLIENT_H
#define MX_FED_CLIENT_H

#include <jansson.h>

#include "keys.h"

typedef struct fed_client fed_client;

typedef struct fed_client_config {
	const char *server_name;     /* ours: the origin of every request */
	const mx_key *key;           /* signs the requests; borrowed */
	int plain_http;              /* peers over http:// (local clusters, tests) */
	const char *ca_file;         /* NULL: the system store */
	long connect_timeout_ms;     /* 0: 5,000 */
	long timeout_ms;             /* whole request; 0: 60,000 */
} fed_client_config;

mxdb_status fed_client_new(const fed_client_config *cfg, fed_client **out, mxdb_error *err);
void fed_client_free(fed_client *c);

/* Adds "NAME=HOST:PORT" to the static map: requests for server NAME go to
 * HOST:PORT (the Host header and TLS name stay NAME). */
mxdb_status fed_client_add_peer(fed_client *c, const char *spec, mxdb_error *err);

/* Sends method uri (path and query, from "/_matrix") to destination, with
 * body (NULL: none) as canonical JSON. MXDB_OK means an HTTP answer came:
 * *status is its code and *resp its JSON body (NULL when it was not JSON).
 * MXDB_EIO: no answer (connect, TLS, timeout). resp may be NULL. */
mxdb_status fed_request(fed_client *c, const char *destination, const char *method,
                        const char *uri, const json_t *body, long *status, json_t **resp,
                        mxdb_error *err);

/* Same without the Authorization header (key fetches, .well-known). */
mxdb_status fed_request_unsigned(fed_client *c, const char *destination, const char *method,
                                 const char *uri, long *status, json_t **resp, mxdb_error *err);

/* Where destination is reached: the URL prefix ("https://name") and the
 * curl connect-to override ("::host:port", or "" for none). For tests and logs. */
mxdb_status fed_client_resolve(fed_client *c, const char *destination, char *base, size_t base_cap,
                               char *connect_to, size_t ct_cap, mxdb_error *err);

#endif
