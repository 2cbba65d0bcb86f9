/*
 * fed_auth.h: the X-Matrix Authorization header of server-server requests
 * (spec server-server-api, "Request Authentication"): signing an outbound
 * request, parsing an inbound header and verifying it with the origin's key.
 */
#ifndef MX_FED_AUTH_H
#define MX_FED_AUTH_H

#include <jansson.h>

#include "keys.h"

/* Parameters of one X-Matrix header, unescaped. */
typedef struct fed_auth_params {
	char origin[256];
	char destination[256]; /* "" when the sender left it out (servers before v1.3) */
	char key[64];          /* "ed25519:abc" */
	char sig[128];         /* unpadded base64 */
} fed_auth_params;

/* Signs {method, uri, origin, destination, content?} and writes
 *   X-Matrix origin="…",destination="…",key="…",sig="…"
 * into *out (malloc'd). uri is the path with its query, from "/_matrix". */
mxdb_status fed_auth_header(const mx_key *key, const char *origin, const char *destination,
                            const char *method, const char *uri, const json_t *content, char **out,
                            mxdb_error *err);

/* Parses an Authorization header value. Accepts what RFC 9110 section 11.4
 * allows (any case for the scheme and names, spaces and tabs around commas,
 * quoted or token values, backslash escapes) and unquoted colons. Fails with
 * MXDB_ESIGNATURE when it is not X-Matrix or origin, key or sig is missing. */
mxdb_status fed_auth_parse(const char *header, fed_auth_params *out, mxdb_error *err);

/* Verifies a parsed header for a request that reached our_name: the
 * destination (when given) must be our_name, and the signature over the
 * request JSON must verify with pk, the public key p->key of p->origin. */
mxdb_status fed_auth_verify(const fed_auth_params *p, const char *our_name, const char *method,
                            const char *uri, const json_t *content, const unsigned char pk[32],
                            mxdb_error *err);

#endif
