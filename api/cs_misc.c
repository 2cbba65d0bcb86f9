/*
 * cs_misc.c: the client API's fixed answers: /versions, /.well-known,
 * /capabilities, the default push rules, and the endpoints mxdb answers
 * with nothing yet (VoIP, third-party protocols, key backup).
 */
#include <stdio.h>
#include <string.h>

#include "cs.h"
#include "cs_handlers.h"

void cs_versions(http_req *r)
{
	http_reply_json(r, 200,
	                json_pack("{s:[s,s,s,s,s], s:{}}", "versions", "r0.5.0", "r0.6.0", "r0.6.1",
	                          "v1.1", "v1.2", "unstable_features"));
}

void cs_wellknown_client(http_req *r)
{
	const char *host = http_header(r, "Host");
	char base[600];
	snprintf(base, sizeof(base), "http://%s", host ? host : CS(r)->server_name);
	http_reply_json(r, 200, json_pack("{s:{s:s}}", "m.homeserver", "base_url", base));
}

void cs_capabilities(http_req *r)
{
	const char *def = mxdb_default_room_version(CS(r)->db);
	http_reply_json(
		r, 200,
		json_pack("{s:{s:{s:b}, s:{s:b}, s:{s:b}, s:{s:b}, s:{s:s, s:{s:s, s:s, s:s}}}}",
		          "capabilities", "m.change_password", "enabled", 1, "m.set_displayname",
		          "enabled", 1, "m.set_avatar_url", "enabled", 1, "m.3pid_changes", "enabled", 0,
		          "m.room_versions", "default", def ? def : "10", "available", "10", "stable",
		          "11", "stable", "12", "stable"));
}

/* The spec's predefined rules that matter to a plain chat client. */
static const char push_rules[] =
	"{\"global\":{"
	"\"override\":["
	"{\"rule_id\":\".m.rule.master\",\"default\":true,\"enabled\":false,\"conditions\":[],"
	"\"actions\":[]},"
	"{\"rule_id\":\".m.rule.suppress_notices\",\"default\":true,\"enabled\":true,"
	"\"conditions\":[{\"kind\":\"event_match\",\"key\":\"content.msgtype\",\"pattern\":"
	"\"m.notice\"}],\"actions\":[]},"
	"{\"rule_id\":\".m.rule.invite_for_me\",\"default\":true,\"enabled\":true,\"conditions\":["
	"{\"kind\":\"event_match\",\"key\":\"type\",\"pattern\":\"m.room.member\"},"
	"{\"kind\":\"event_match\",\"key\":\"content.membership\",\"pattern\":\"invite\"}],"
	"\"actions\":[\"notify\",{\"set_tweak\":\"sound\",\"value\":\"default\"}]},"
	"{\"rule_id\":\".m.rule.member_event\",\"default\":true,\"enabled\":true,\"conditions\":["
	"{\"kind\":\"event_match\",\"key\":\"type\",\"pattern\":\"m.room.member\"}],\"actions\":[]}"
	"],\"content\":[],\"room\":[],\"sender\":[],"
	"\"underride\":["
	"{\"rule_id\":\".m.rule.room_one_to_one\",\"default\":true,\"enabled\":true,\"conditions\":["
	"{\"kind\":\"room_member_count\",\"is\":\"2\"},"
	"{\"kind\":\"event_match\",\"key\":\"type\",\"pattern\":\"m.room.message\"}],"
	"\"actions\":[\"notify\",{\"set_tweak\":\"sound\",\"value\":\"default\"}]},"
	"{\"rule_id\":\".m.rule.message\",\"default\":true,\"enabled\":true,\"conditions\":["
	"{\"kind\":\"event_match\",\"key\":\"type\",\"pattern\":\"m.room.message\"}],"
	"\"actions\":[\"notify\"]},"
	"{\"rule_id\":\".m.rule.encrypted\",\"default\":true,\"enabled\":true,\"conditions\":["
	"{\"kind\":\"event_match\",\"key\":\"type\",\"pattern\":\"m.room.encrypted\"}],"
	"\"actions\":[\"notify\"]}"
	"]}}";

void cs_pushrules(http_req *r)
{
	http_reply_raw(r, 200, "application/json", push_rules, sizeof(push_rules) - 1);
}

void cs_empty(http_req *r)
{
	http_reply_empty(r);
}

void cs_not_found(http_req *r)
{
	http_reply_error(r, 404, "M_NOT_FOUND", "not found");
}
