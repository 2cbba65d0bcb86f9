/*
 * keys.h: a server's ed25519 signing key, and signing and verifying JSON
 * objects the Matrix way (spec appendices, "Signing JSON").
 *
 * Key file format (the one Synapse uses, one key per line):
 *     ed25519 <key_version> <unpadded base64 of the 32-byte seed>
 * The key ID is "ed25519:<key_version>".
 */
#ifndef MX_KEYS_H
#define MX_KEYS_H

#include <jansson.h>
#include <sodium.h>

#include "err.h"

typedef struct mx_key {
	char key_id[64];                              /* "ed25519:a_XXXX" */
	unsigned char pk[crypto_sign_PUBLICKEYBYTES]; /* 32 bytes */
	unsigned char sk[crypto_sign_SECRETKEYBYTES]; /* 64 bytes (seed + pk) */
} mx_key;

/* Derives a key from a 32-byte seed, with key ID "ed25519:<version>". */
mxdb_status key_from_seed(mx_key *key, const unsigned char seed[32], const char *version,
                          mxdb_error *err);
/* Makes a new random key with a random version "a_XXXX". */
mxdb_status key_generate(mx_key *key, mxdb_error *err);
/* Reads a key file (the first line; MXDB_ENOTFOUND when it is missing,
 * MXDB_EINVAL when malformed). Writes one: mode 0600, created atomically, and
 * never replacing an existing file (MXDB_EEXISTS). */
mxdb_status key_load(mx_key *key, const char *path, mxdb_error *err);
mxdb_status key_save(const mx_key *key, const char *path, mxdb_error *err);
/* Loads path, or generates and saves a key there when the file is missing
 * (when another process wins that race, its key is loaded). */
mxdb_status key_load_or_create(mx_key *key, const char *path, mxdb_error *err);
/* The public key, unpadded base64. */
void key_public_b64(const mx_key *key, char out[64]);

/* Adds signatures[server_name][key_id] to obj: the signature covers the
 * canonical JSON of obj without "signatures" and "unsigned". */
mxdb_status key_sign_json(const mx_key *key, const char *server_name, json_t *obj,
                          mxdb_error *err);
/* The same, and sets sha256 to the sha256 of the bytes signed (for an event,
 * that is its reference hash: ev_hash_and_sign_id needs no second dump). */
mxdb_status key_sign_json_sha256(const mx_key *key, const char *server_name, json_t *obj,
                                 unsigned char sha256[32], mxdb_error *err);

/* Verifies obj's signatures[server_name][key_id] with the public key pk:
 * MXDB_ESIGNATURE, with the reason, when it is missing, malformed or wrong. */
mxdb_status key_verify_json(const json_t *obj, const char *server_name, const char *key_id,
                            const unsigned char pk[32], mxdb_error *err);

#endif
