/*
 * cs_handlers.h: the client-API handlers (one per route, in cs_*.c by
 * endpoint family) and the helpers the handler files share. Only cs_*.c
 * include it.
 */
#ifndef MX_CS_HANDLERS_H
#define MX_CS_HANDLERS_H

#include "cs.h"

/* cs_messages.c: tokens, filters, event JSON */
bool cs_token_pos(const char *tok, uint64_t *pos);
void cs_token(char buf[32], uint64_t pos);
bool cs_filter_passes(const json_t *filter, const char *type, const char *sender);
/* An engine event as client JSON plus transaction_id for the sending
 * device (the engine fills the rest of unsigned). */
json_t *cs_event_json(const mxdb_event *e, const char *device);

/* What committed since parked syncs last looked: the rooms touched and the
 * users named by member events (cs_wake.c builds it, cs_sync.c matches it). */
typedef struct cs_changes {
	struct mx_map *rooms;
	struct mx_map *users;
} cs_changes;
bool cs_sync_match(const void *park, void *changes);
/* cs_wake.c */
cs_wake *cs_wake_start(cs_ctx *c);
void cs_wake_stop(cs_wake *w);
void cs_wake_commit(cs_wake *w, uint64_t pos);
void cs_wake_room(cs_ctx *c, const char *room);

/* cs_misc.c */
void cs_versions(http_req *r);
void cs_wellknown_client(http_req *r);
void cs_capabilities(http_req *r);
void cs_pushrules(http_req *r);
void cs_empty(http_req *r);
void cs_not_found(http_req *r);
/* cs_account.c */
void cs_register(http_req *r);
void cs_register_available(http_req *r);
void cs_login_flows(http_req *r);
void cs_login(http_req *r);
void cs_logout(http_req *r);
void cs_logout_all(http_req *r);
void cs_whoami(http_req *r);
void cs_password(http_req *r);
void cs_devices(http_req *r);
void cs_device_get(http_req *r);
void cs_device_put(http_req *r);
void cs_device_delete(http_req *r);
void cs_profile_get(http_req *r);
void cs_profile_put(http_req *r);
void cs_threepids(http_req *r);
void cs_user_search(http_req *r);
void cs_presence_get(http_req *r);
void cs_presence_put(http_req *r);
/* cs_user.c */
void cs_filter_post(http_req *r);
void cs_filter_get(http_req *r);
void cs_account_data_get(http_req *r);
void cs_account_data_put(http_req *r);
void cs_keys_upload(http_req *r);
void cs_keys_query(http_req *r);
void cs_keys_claim(http_req *r);
void cs_keys_changes(http_req *r);
void cs_send_to_device(http_req *r);
/* cs_room.c */
void cs_create_room(http_req *r);
void cs_join(http_req *r);
void cs_knock(http_req *r);
void cs_membership(http_req *r);
void cs_forget(http_req *r);
void cs_joined_rooms(http_req *r);
void cs_send(http_req *r);
void cs_state_put(http_req *r);
void cs_state_get(http_req *r);
void cs_state_all(http_req *r);
void cs_members(http_req *r);
void cs_joined_members(http_req *r);
void cs_redact(http_req *r);
void cs_event_get(http_req *r);
/* cs_messages.c */
void cs_messages(http_req *r);
void cs_context(http_req *r);
/* cs_directory.c */
void cs_alias_get(http_req *r);
void cs_alias_put(http_req *r);
void cs_alias_delete(http_req *r);
void cs_visibility_get(http_req *r);
void cs_visibility_put(http_req *r);
void cs_public_rooms(http_req *r);
/* cs_ephemeral.c */
void cs_typing_put(http_req *r);
void cs_receipt(http_req *r);
void cs_read_markers(http_req *r);
/* cs_sync.c */
void cs_sync(http_req *r);

#endif
