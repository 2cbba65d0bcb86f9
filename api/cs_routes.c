/*
 * cs_routes.c: the client API's route tables, its set-up (typing state,
 * wake-ups of parked /sync requests on every commit and account change) and
 * the access-token check. Owns the list of endpoints; the handlers live in
 * the other cs_*.c files.
 */
#include <stdlib.h>

#include "cs.h"
#include "cs_handlers.h"

#define G HTTP_GET
#define PU HTTP_PUT
#define PO HTTP_POST
#define D HTTP_DELETE
#define A HTTP_AUTH

static const http_route client_routes[] = {
	{G, "versions", cs_versions, 0},
	{G, "capabilities", cs_capabilities, A},
	{PO, "register", cs_register, 0},
	{G, "register/available", cs_register_available, 0},
	{G, "login", cs_login_flows, 0},
	{PO, "login", cs_login, 0},
	{PO, "logout", cs_logout, A},
	{PO, "logout/all", cs_logout_all, A},
	{G, "account/whoami", cs_whoami, A},
	{PO, "account/password", cs_password, A},
	{G, "devices", cs_devices, A},
	{G, "devices/*", cs_device_get, A},
	{PU, "devices/*", cs_device_put, A},
	{D, "devices/*", cs_device_delete, A},
	{G, "profile/*", cs_profile_get, HTTP_AUTH_OPT},
	{G, "profile/*/*", cs_profile_get, HTTP_AUTH_OPT},
	{PU, "profile/*/*", cs_profile_put, A},
	{G, "account/3pid", cs_threepids, A},
	{PO, "user_directory/search", cs_user_search, A},
	{G, "presence/*/status", cs_presence_get, A},
	{PU, "presence/*/status", cs_presence_put, A},
	{PO, "createRoom", cs_create_room, A},
	{PO, "join/*", cs_join, A},
	{PO, "knock/*", cs_knock, A},
	{PO, "rooms/*/join", cs_membership, A},
	{PO, "rooms/*/invite", cs_membership, A},
	{PO, "rooms/*/leave", cs_membership, A},
	{PO, "rooms/*/kick", cs_membership, A},
	{PO, "rooms/*/ban", cs_membership, A},
	{PO, "rooms/*/unban", cs_membership, A},
	{PO, "rooms/*/forget", cs_forget, A},
	{G, "joined_rooms", cs_joined_rooms, A},
	{PU, "rooms/*/send/*/*", cs_send, A},
	{G, "rooms/*/state", cs_state_all, A},
	{G, "rooms/*/state/*/*?", cs_state_get, A},
	{PU, "rooms/*/state/*/*?", cs_state_put, A},
	{G, "rooms/*/messages", cs_messages, A},
	{G, "rooms/*/members", cs_members, A},
	{G, "rooms/*/joined_members", cs_joined_members, A},
	{PU, "rooms/*/redact/*/*", cs_redact, A},
	{G, "rooms/*/event/*", cs_event_get, A},
	{G, "rooms/*/context/*", cs_context, A},
	{PU, "rooms/*/typing/*", cs_typing_put, A},
	{PO, "rooms/*/receipt/*/*", cs_receipt, A},
	{PO, "rooms/*/read_markers", cs_read_markers, A},
	{G, "directory/room/*", cs_alias_get, 0},
	{PU, "directory/room/*", cs_alias_put, A},
	{D, "directory/room/*", cs_alias_delete, A},
	{G, "directory/list/room/*", cs_visibility_get, 0},
	{PU, "directory/list/room/*", cs_visibility_put, A},
	{G | PO, "publicRooms", cs_public_rooms, HTTP_AUTH_OPT},
	{G, "sync", cs_sync, A},
	{PO, "user/*/filter", cs_filter_post, A},
	{G, "user/*/filter/*", cs_filter_get, A},
	{G, "user/*/account_data/*", cs_account_data_get, A},
	{PU, "user/*/account_data/*", cs_account_data_put, A},
	{G, "user/*/rooms/*/account_data/*", cs_account_data_get, A},
	{PU, "user/*/rooms/*/account_data/*", cs_account_data_put, A},
	{G, "pushrules", cs_pushrules, A},
	{G, "pushrules/", cs_pushrules, A},
	{PO, "keys/upload", cs_keys_upload, A},
	{PO, "keys/query", cs_keys_query, A},
	{PO, "keys/claim", cs_keys_claim, A},
	{G, "keys/changes", cs_keys_changes, A},
	{PU, "sendToDevice/*/*", cs_send_to_device, A},
	{G, "room_keys/version", cs_not_found, A},
	{G, "voip/turnServer", cs_empty, A},
	{G, "thirdparty/protocols", cs_empty, A},
	{0, NULL, NULL, 0},
};

static const char *const client_prefixes[] = {
	"/_matrix/client/r0",
	"/_matrix/client/v1",
	"/_matrix/client/v3",
	NULL,
};

const http_routes cs_client_routes = {client_prefixes, client_routes, 0};

/* /.well-known/matrix/client and the unversioned /_matrix/client/versions. */
static const http_route wellknown_routes[] = {
	{G, ".well-known/matrix/client", cs_wellknown_client, 0},
	{G, "_matrix/client/versions", cs_versions, 0},
	{0, NULL, NULL, 0},
};
static const char *const wellknown_prefixes[] = {"/", NULL};
const http_routes cs_wellknown_routes = {wellknown_prefixes, wellknown_routes, 0};

mxdb_status cs_auth(void *app, const char *token, char **user, char **device)
{
	cs_ctx *c = app;
	return acct_token_lookup(c->acct, token, user, device);
}

static void on_commit(void *ctx, uint64_t pos)
{
	cs_ctx *c = ctx;
	cs_wake_commit(c->wake, pos);
}

static void on_acct_change(void *arg)
{
	cs_ctx *c = arg;
	http_wake(c->http);
}

mxdb_status cs_init(cs_ctx *c, mxdb_error *err)
{
	c->typing = cs_typing_new();
	if (c->typing == NULL)
		return mx_fail(err, MXDB_ENOMEM, "out of memory");
	c->wake = cs_wake_start(c);
	if (c->wake == NULL)
		return mx_fail(err, MXDB_ENOMEM, "cannot start the sync waker");
	c->commit_sub = mxdb_on_commit(c->db, on_commit, c);
	if (c->commit_sub == 0)
		return mx_fail(err, MXDB_EINTERNAL, "cannot subscribe to commits");
	acct_set_notify(c->acct, on_acct_change, c);
	return MXDB_OK;
}

void cs_quiesce(cs_ctx *c)
{
	if (c->commit_sub > 0)
		mxdb_unsubscribe(c->db, c->commit_sub);
	c->commit_sub = 0;
	cs_wake_stop(c->wake);
	c->wake = NULL;
	if (c->acct != NULL)
		acct_set_notify(c->acct, NULL, NULL);
}

void cs_fini(cs_ctx *c)
{
	cs_quiesce(c);
	cs_typing_free(c->typing);
	c->typing = NULL;
}
