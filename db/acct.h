/*
 * acct.h: local accounts: users and their Argon2id password hashes, devices,
 * access tokens, profiles, filters, account data (global and per room),
 * to-device messages, end-to-end keys (device keys, one-time and fallback
 * keys), read receipts and transaction-ID idempotency. Stored in the engine's
 * SQLite file (tables acct_*) through a connection of its own.
 *
 * Account data, to-device messages, device keys and receipts are numbered by
 * one stream position (acct_pos) so /sync can ask "what changed since N".
 * Everything here is thread-safe; nothing here knows of HTTP.
 */
#ifndef MX_ACCT_H
#define MX_ACCT_H

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>

#include "err.h"

typedef struct acct_db acct_db;

/* Opens (creating the tables) the accounts in the SQLite file at path. */
mxdb_status acct_open(acct_db **out, const char *path, const char *server_name, mxdb_error *err);
void acct_close(acct_db *a);
const char *acct_server_name(const acct_db *a);

/* Argon2id cost. acct_open uses libsodium's "interactive" limits; tests and
 * benchmarks may lower them (ops >= 1, mem >= 8 KiB) so a registration does
 * not take 100 ms. */
void acct_set_hash_cost(acct_db *a, unsigned long long opslimit, size_t memlimit);

/* ---- users ---- */
/* Checks a localpart against the spec's grammar for new users. */
mxdb_status acct_check_localpart(const char *localpart, mxdb_error *err);
/* Creates @localpart:server (password may be NULL: no password login). */
mxdb_status acct_user_create(acct_db *a, const char *localpart, const char *password,
                             char **user_id, mxdb_error *err);
bool acct_user_exists(acct_db *a, const char *user_id);
/* MXDB_EFORBIDDEN when the user is unknown or the password is wrong. */
mxdb_status acct_password_check(acct_db *a, const char *user_id, const char *password,
                                mxdb_error *err);
mxdb_status acct_password_set(acct_db *a, const char *user_id, const char *password,
                              mxdb_error *err);

/* ---- devices and access tokens ---- */
/* Creates (or reuses) a device and a new access token for it. device_id may
 * be NULL (a random one is made); *device_out and *token are malloc'd. */
mxdb_status acct_login(acct_db *a, const char *user_id, const char *device_id,
                       const char *display_name, char **device_out, char **token,
                       mxdb_error *err);
/* MXDB_ENOTFOUND for an unknown token. */
mxdb_status acct_token_lookup(acct_db *a, const char *token, char **user_id, char **device_id);
mxdb_status acct_logout(acct_db *a, const char *token, mxdb_error *err);
mxdb_status acct_logout_all(acct_db *a, const char *user_id, mxdb_error *err);
/* Revokes every token of the user but keep_token. */
mxdb_status acct_logout_others(acct_db *a, const char *user_id, const char *keep_token,
                               mxdb_error *err);
/* Users whose ID or display name contains term: [{"user_id","display_name",
 * "avatar_url"}], at most limit + 1 (so the caller can tell "limited"). */
mxdb_status acct_user_search(acct_db *a, const char *term, int64_t limit, json_t **out,
                             mxdb_error *err);
/* Deletes a device with its tokens and keys. */
mxdb_status acct_device_delete(acct_db *a, const char *user_id, const char *device_id,
                               mxdb_error *err);
/* [{"device_id","display_name","last_seen_ts"}...]; one device when device_id
 * is not NULL (MXDB_ENOTFOUND if missing). */
mxdb_status acct_devices(acct_db *a, const char *user_id, const char *device_id, json_t **out,
                         mxdb_error *err);
mxdb_status acct_device_rename(acct_db *a, const char *user_id, const char *device_id,
                               const char *display_name, mxdb_error *err);

/* ---- profiles ---- */
/* {"displayname","avatar_url"} (only the ones set); MXDB_ENOTFOUND for no user. */
mxdb_status acct_profile_get(acct_db *a, const char *user_id, json_t **out, mxdb_error *err);
/* field is "displayname" or "avatar_url"; value NULL clears it. */
mxdb_status acct_profile_set(acct_db *a, const char *user_id, const char *field,
                             const char *value, mxdb_error *err);

/* ---- filters ---- */
mxdb_status acct_filter_put(acct_db *a, const char *user_id, const json_t *filter, char **id,
                            mxdb_error *err);
mxdb_status acct_filter_get(acct_db *a, const char *user_id, const char *id, json_t **out,
                            mxdb_error *err);

/* ---- account data (room_id NULL: global) ---- */
mxdb_status acct_data_put(acct_db *a, const char *user_id, const char *room_id, const char *type,
                          const json_t *content, mxdb_error *err);
mxdb_status acct_data_get(acct_db *a, const char *user_id, const char *room_id, const char *type,
                          json_t **out, mxdb_error *err);

/* ---- stream ---- */
uint64_t acct_pos(acct_db *a);
/* What changed for (user, device) in (since, upto]:
 *   {"account_data": [events], "rooms": {room: [events]},
 *    "to_device": [events], "receipts": {room: {m.receipt content}},
 *    "device_lists": [user IDs whose keys changed]}
 * An initial sync (initial true) leaves receipts and device_lists empty.
 * to-device messages up to `since` are deleted (the client has them). */
mxdb_status acct_sync(acct_db *a, const char *user_id, const char *device_id, uint64_t since,
                      uint64_t upto, bool initial, json_t **out, mxdb_error *err);
/* The receipts of one room, as an m.receipt event content (initial sync);
 * private receipts only when they are the viewer's. */
mxdb_status acct_receipts_room(acct_db *a, const char *room_id, const char *viewer, json_t **out,
                               mxdb_error *err);
/* The users whose device keys changed in (since, upto]. */
mxdb_status acct_keys_changed(acct_db *a, uint64_t since, uint64_t upto, json_t **users,
                              mxdb_error *err);
/* Wakes long-polls: called after every change that moves acct_pos. */
void acct_set_notify(acct_db *a, void (*fn)(void *arg), void *arg);

/* ---- to-device ---- */
/* messages: {user: {device or "*": content}}. */
mxdb_status acct_to_device_send(acct_db *a, const char *sender, const char *type,
                                const json_t *messages, mxdb_error *err);

/* ---- receipts ---- */
mxdb_status acct_receipt_put(acct_db *a, const char *room_id, const char *user_id,
                             const char *type, const char *event_id, const char *thread_id,
                             mxdb_error *err);

/* ---- end-to-end keys ---- */
/* Stores device keys and one-time / fallback keys; *counts = {algorithm: n}. */
mxdb_status acct_keys_upload(acct_db *a, const char *user_id, const char *device_id,
                             const json_t *device_keys, const json_t *one_time_keys,
                             const json_t *fallback_keys, json_t **counts, mxdb_error *err);
/* {algorithm: n} of the device's unclaimed one-time keys. */
mxdb_status acct_otk_counts(acct_db *a, const char *user_id, const char *device_id,
                            json_t **counts, mxdb_error *err);
/* The algorithms of the device's unused fallback keys. */
mxdb_status acct_fallback_unused(acct_db *a, const char *user_id, const char *device_id,
                                 json_t **algs, mxdb_error *err);
/* query: {user: [device ids] (empty: all)} -> {user: {device: keys}}. */
mxdb_status acct_keys_query(acct_db *a, const json_t *query, json_t **out, mxdb_error *err);
/* claim: {user: {device: algorithm}} -> {user: {device: {key_id: key}}}. */
mxdb_status acct_keys_claim(acct_db *a, const json_t *claim, json_t **out, mxdb_error *err);

/* ---- transaction IDs ---- */
/* The event ID a (user, device, txn) already produced, or MXDB_ENOTFOUND. */
mxdb_status acct_txn_get(acct_db *a, const char *user_id, const char *device_id,
                         const char *txn_id, char **event_id);
mxdb_status acct_txn_put(acct_db *a, const char *user_id, const char *device_id,
                         const char *txn_id, const char *event_id, mxdb_error *err);

#endif
