/* test_auth_rules.c: the auth rules outside m.room.member and power-level
 * changes, for rooms v10, v11 and v12: create events, the event's own
 * auth_events, the room-create-must-exist rules, m.federate, the sender's
 * membership, m.room.third_party_invite, the send level, @-state keys and
 * redactions (auth_check and auth_redaction_applies). */
#include "auth_fixture.h"

#define CREATE_ID_ONLY                                                             \
	"{'event_id':'$create:test','type':'m.room.create','state_key':'','sender':"   \
	"'@alice:test','content':{'creator':'@alice:test'},'_id_only':true}"
#define CREATE_REJECTED                                                            \
	"{'event_id':'$create:test','type':'m.room.create','state_key':'','sender':"   \
	"'@alice:test','content':{'creator':'@alice:test'},'_rejected':true}"
#define PL_OLD_ID_ONLY                                                             \
	"{'event_id':'$pl_old:test','type':'m.room.power_levels','state_key':'',"      \
	"'sender':'@alice:test','content':{},'_id_only':true}"
#define CAROL_MSG_AUTH(list)                                                       \
	"{'event_id':'$e1:test','type':'m.room.message','sender':'@carol:test',"       \
	"'content':{'body':'hi'},'auth_events':" list "}"
#define ROOM_PL(pl) CREATE, J_ALICE, pl, J_BOB, J_CAROL, JR("invite")
#define TOPIC(id, sender) EVENT(id, "m.room.topic", "", sender, "{'topic':'t'}")
/* alice creates the room naming zoe as creator (only v10 reads the name). */
#define ZOE_NAMED_CREATOR                                          \
	STATE(CREATE_C("{'creator':'@zoe:test'}"), J_ALICE,            \
	      MEMBER("m_zoe", "@zoe:test", "@zoe:test", "join"))
#define HELLO(sender) MSG("e1", "m.room.message", sender, "{'body':'hi'}")

static const auth_case cases[] = {
	/* m.room.create */
	{"create: plain", V_ALL, NULL, CREATE, true, NULL},
	{"create: known room_version", V_ALL, NULL,
	 CREATE_C("{'creator':'@alice:test','room_version':'11'}"), true, NULL},
	{"create: prev_events", V_ALL, NULL,
	 "{'event_id':'$create:test','type':'m.room.create','state_key':'','sender':'@alice:test',"
	 "'content':{'creator':'@alice:test'},'prev_events':['$x:test']}",
	 false, "no prev_events"},
	{"create: room_id of another server", V10 | V11, NULL,
	 EVENT("create", "m.room.create", "", "@alice:other", "{'creator':'@alice:other'}"), false,
	 "room_id domain"},
	{"create: v12 derives the room_id", V12, NULL,
	 EVENT("create", "m.room.create", "", "@alice:other", "{}"), true, NULL},
	{"create: v12 with a room_id", V12, NULL,
	 "{'event_id':'$create:test','type':'m.room.create','state_key':'','sender':'@alice:test',"
	 "'room_id':'!create:test','content':{}}",
	 false, "must not have a room_id"},
	{"create: unknown room_version", V_ALL, NULL,
	 CREATE_C("{'creator':'@alice:test','room_version':'9999'}"), false, "not a recognised"},
	{"create: room_version not a string", V_ALL, NULL,
	 CREATE_C("{'creator':'@alice:test','room_version':11}"), false, "not a recognised"},
	{"create: no creator", V10, NULL, CREATE_C("{}"), false, "no creator"},
	{"create: no creator needed", V11 | V12, NULL, CREATE_C("{}"), true, NULL},
	{"create: additional_creators", V12, NULL,
	 CREATE_C("{'additional_creators':['@zoe:test','@yan:other.example:8448']}"), true, NULL},
	{"create: additional_creators not an array", V12, NULL,
	 CREATE_C("{'additional_creators':'@zoe:test'}"), false, "additional_creators"},
	{"create: additional_creators bad user ID", V12, NULL,
	 CREATE_C("{'additional_creators':['@zoe:test','zoe']}"), false, "additional_creators"},
	{"create: additional_creators bad server name", V12, NULL,
	 CREATE_C("{'additional_creators':['@zoe:bad_host!']}"), false, "additional_creators"},
	{"create: additional_creators ignored before v12", V10 | V11, NULL,
	 CREATE_C("{'creator':'@alice:test','additional_creators':'x'}"), true, NULL},

	/* v12: the room ID names an accepted create event */
	{"room_id names no create event", V12, STATE(BASE("invite")),
	 "{'event_id':'$e1:test','type':'m.room.message','sender':'@carol:test',"
	 "'room_id':'!nothing:test','content':{}}",
	 false, "not the ID of an m.room.create"},
	{"room_id names a member event", V12, STATE(BASE("invite")),
	 "{'event_id':'$e1:test','type':'m.room.message','sender':'@carol:test',"
	 "'room_id':'!m_carol:test','content':{}}",
	 false, "not the ID of an m.room.create"},
	{"room_id of another room than the auth events", V10 | V11, STATE(BASE("invite")),
	 "{'event_id':'$e1:test','type':'m.room.message','sender':'@carol:test',"
	 "'room_id':'!nothing:test','content':{}}",
	 false, "another room"},
	{"create event rejected", V_ALL,
	 STATE(CREATE_REJECTED, J_ALICE, PL_BASE, J_BOB, J_CAROL), HELLO("@carol:test"), false,
	 "rejected"},

	/* the event's auth_events */
	{"auth_events: duplicate power levels", V10 | V11,
	 STATE(BASE("invite"), PL_OLD_ID_ONLY),
	 CAROL_MSG_AUTH("['$create:test','$pl:test','$pl_old:test','$m_carol:test']"), false,
	 "duplicate"},
	{"auth_events: duplicate power levels", V12, STATE(BASE("invite"), PL_OLD_ID_ONLY),
	 CAROL_MSG_AUTH("['$pl:test','$pl_old:test','$m_carol:test']"), false, "duplicate"},
	{"auth_events: the same event twice", V10 | V11, STATE(BASE("invite")),
	 CAROL_MSG_AUTH("['$create:test','$pl:test','$pl:test','$m_carol:test']"), false,
	 "duplicate"},
	{"auth_events: join rules for a message", V10 | V11, STATE(BASE("invite")),
	 CAROL_MSG_AUTH("['$create:test','$pl:test','$m_carol:test','$jr:test']"), false,
	 "not one the auth events selection"},
	{"auth_events: join rules for a message", V12, STATE(BASE("invite")),
	 CAROL_MSG_AUTH("['$pl:test','$m_carol:test','$jr:test']"), false,
	 "not one the auth events selection"},
	{"auth_events: another user's membership", V12, STATE(BASE("invite")),
	 CAROL_MSG_AUTH("['$pl:test','$m_carol:test','$m_bob:test']"), false,
	 "not one the auth events selection"},
	{"auth_events: the create event in v12", V12, STATE(BASE("invite")),
	 CAROL_MSG_AUTH("['$create:test','$pl:test','$m_carol:test']"), false,
	 "not one the auth events selection"},
	{"auth_events: the create event before v12", V10 | V11, STATE(BASE("invite")),
	 CAROL_MSG_AUTH("['$create:test','$pl:test','$m_carol:test']"), true, NULL},
	{"auth_events: a rejected power levels event", V_ALL,
	 STATE(CREATE, J_ALICE, J_BOB, J_CAROL,
	       "{'event_id':'$pl:test','type':'m.room.power_levels','state_key':'','sender':"
	       "'@alice:test','content':{},'_rejected':true}"),
	 HELLO("@carol:test"), false, "was rejected"},
	{"auth_events: an event of another room", V_ALL,
	 STATE(CREATE, J_ALICE, J_BOB, J_CAROL,
	       "{'event_id':'$pl:test','type':'m.room.power_levels','state_key':'','sender':"
	       "'@alice:test','room_id':'!other:test','content':{}}"),
	 HELLO("@carol:test"), false, "another room"},
	{"auth_events: an unknown event", V10 | V11, STATE(BASE("invite")),
	 CAROL_MSG_AUTH("['$create:test','$pl:test','$m_carol:test','$ghost:test']"), false,
	 "unknown"},
	{"auth_events: an unknown event", V12, STATE(BASE("invite")),
	 CAROL_MSG_AUTH("['$pl:test','$m_carol:test','$ghost:test']"), false, "unknown"},
	{"auth_events: no create event", V10 | V11, STATE(BASE("invite")),
	 CAROL_MSG_AUTH("['$pl:test','$m_carol:test']"), false, "no m.room.create"},
	{"auth_events: no create event needed", V12, STATE(BASE("invite")),
	 CAROL_MSG_AUTH("['$pl:test','$m_carol:test']"), true, NULL},
	{"no create event in the state", V10 | V11,
	 STATE(CREATE_ID_ONLY, J_ALICE, PL_BASE, J_BOB, J_CAROL),
	 CAROL_MSG_AUTH("['$create:test','$pl:test','$m_carol:test']"), false,
	 "no m.room.create event in the room state"},
	{"create found by the room ID", V12,
	 STATE(CREATE_ID_ONLY, J_ALICE, PL_BASE, J_BOB, J_CAROL), HELLO("@carol:test"), true, NULL},

	/* m.federate */
	{"m.federate false: local user joins", V_ALL,
	 STATE(CREATE_C("{'creator':'@alice:test','m.federate':false}"), J_ALICE, PL_BASE,
	       JR("public")),
	 MEMBER("m_dave", "@dave:test", "@dave:test", "join"), true, NULL},
	{"m.federate false: remote user joins", V_ALL,
	 STATE(CREATE_C("{'creator':'@alice:test','m.federate':false}"), J_ALICE, PL_BASE,
	       JR("public")),
	 MEMBER("m_zed", "@zed:other", "@zed:other", "join"), false, "does not federate"},
	{"m.federate true: remote user joins", V_ALL,
	 STATE(CREATE_C("{'creator':'@alice:test','m.federate':true}"), J_ALICE, PL_BASE,
	       JR("public")),
	 MEMBER("m_zed", "@zed:other", "@zed:other", "join"), true, NULL},

	/* the sender must be joined */
	{"message from a member", V_ALL, STATE(BASE("invite")), HELLO("@carol:test"), true, NULL},
	{"message from a stranger", V_ALL, STATE(BASE("invite")), HELLO("@dave:test"), false,
	 "sender is not joined to the room"},
	{"message from an invited user", V_ALL,
	 STATE(BASE("invite"), MEMBER("m_dave", "@dave:test", "@bob:test", "invite")),
	 HELLO("@dave:test"), false, "sender is not joined to the room"},
	{"message from a user who left", V_ALL,
	 STATE(BASE("invite"), MEMBER("m_dave", "@dave:test", "@dave:test", "leave")),
	 HELLO("@dave:test"), false, "sender is not joined to the room"},

	/* m.room.third_party_invite */
	{"third_party_invite at the invite level", V_ALL, STATE(BASE("invite")),
	 EVENT("t1", "m.room.third_party_invite", "tok", "@carol:test", "{'public_key':'PK_GOOD'}"),
	 true, NULL},
	{"third_party_invite below the invite level", V_ALL,
	 STATE(ROOM_PL(PL("pl", "@alice:test", "{" PL_USERS ",'invite':50}"))),
	 EVENT("t1", "m.room.third_party_invite", "tok", "@carol:test", "{'public_key':'PK_GOOD'}"),
	 false, "invite level 50"},
	{"third_party_invite by a stranger", V_ALL, STATE(BASE("invite")),
	 EVENT("t1", "m.room.third_party_invite", "tok", "@dave:test", "{'public_key':'PK_GOOD'}"),
	 false, "sender is not joined"},

	/* the send level */
	{"state event below state_default", V_ALL, STATE(BASE("invite")),
	 TOPIC("t1", "@carol:test"), false, "power level 0 is below the 50 needed for m.room.topic"},
	{"state event at state_default", V_ALL, STATE(BASE("invite")), TOPIC("t1", "@bob:test"),
	 true, NULL},
	{"state event type raised in events", V_ALL, STATE(BASE("invite")),
	 EVENT("t1", "com.example.admin", "", "@bob:test", "{}"), false,
	 "50 is below the 100 needed for com.example.admin"},
	{"state event type raised in events, creator", V_ALL, STATE(BASE("invite")),
	 EVENT("t1", "com.example.admin", "", "@alice:test", "{}"), true, NULL},
	{"message type raised in events", V_ALL, STATE(BASE("invite")),
	 MSG("e1", "com.example.admin", "@bob:test", "{}"), false, "needed for com.example.admin"},
	{"message below events_default", V_ALL,
	 STATE(ROOM_PL(PL("pl", "@alice:test", "{" PL_USERS ",'events_default':10}"))),
	 HELLO("@carol:test"), false, "power level 0 is below the 10 needed for m.room.message"},
	{"message at events_default", V_ALL,
	 STATE(ROOM_PL(PL("pl", "@alice:test", "{" PL_USERS ",'events_default':10}"))),
	 HELLO("@bob:test"), true, NULL},
	{"state_default when power levels omit it", V_ALL,
	 STATE(ROOM_PL(PL("pl", "@alice:test", "{" PL_USERS "}"))), TOPIC("t1", "@carol:test"),
	 false, "0 is below the 50"},
	{"no power levels: the creator sends state", V_ALL,
	 STATE(CREATE, J_ALICE, J_BOB, JR("invite")), TOPIC("t1", "@alice:test"), true, NULL},
	{"no power levels: others cannot", V_ALL, STATE(CREATE, J_ALICE, J_BOB, JR("invite")),
	 TOPIC("t1", "@bob:test"), false, "power level 0 is below the 50 needed for m.room.topic"},
	{"no power levels: others send messages", V_ALL,
	 STATE(CREATE, J_ALICE, J_BOB, JR("invite")), HELLO("@bob:test"), true, NULL},
	{"v10 creator is content.creator", V10,
	 ZOE_NAMED_CREATOR, TOPIC("t1", "@zoe:test"), true, NULL},
	{"v10 creator is content.creator", V11 | V12,
	 ZOE_NAMED_CREATOR, TOPIC("t1", "@zoe:test"), false, "0 is below the 50"},
	{"v11 creator is the create sender", V11 | V12,
	 ZOE_NAMED_CREATOR, TOPIC("t1", "@alice:test"), true, NULL},
	{"v11 creator is the create sender", V10,
	 ZOE_NAMED_CREATOR, TOPIC("t1", "@alice:test"), false, "0 is below the 50"},
	{"v12 additional creator outranks every level", V12,
	 STATE(CREATE_C("{'additional_creators':['@zoe:test']}"), J_ALICE, PL_BASE,
	       MEMBER("m_zoe", "@zoe:test", "@zoe:test", "join")),
	 EVENT("t1", "com.example.admin", "", "@zoe:test", "{}"), true, NULL},
	{"v12 additional creator outranks every level", V10 | V11,
	 STATE(CREATE_C("{'creator':'@alice:test','additional_creators':['@zoe:test']}"), J_ALICE,
	       PL_BASE, MEMBER("m_zoe", "@zoe:test", "@zoe:test", "join")),
	 EVENT("t1", "com.example.admin", "", "@zoe:test", "{}"), false, "0 is below the 100"},

	/* state keys starting with @ */
	{"@-state key of another user", V_ALL, STATE(BASE("invite")),
	 EVENT("r1", "com.example.row", "@carol:test", "@bob:test", "{}"), false,
	 "starts with @ and is not the sender"},
	{"@-state key of the sender", V_ALL, STATE(BASE("invite")),
	 EVENT("r1", "com.example.row", "@bob:test", "@bob:test", "{}"), true, NULL},
	{"plain state key", V_ALL, STATE(BASE("invite")),
	 EVENT("r1", "com.example.row", "row1", "@bob:test", "{'v':1}"), true, NULL},

	/* redactions are authorised like any event (the redact level is not an
	 * auth rule since room v3) */
	{"redaction by a member", V_ALL, STATE(BASE("invite")),
	 "{'event_id':'$x1:test','type':'m.room.redaction','sender':'@carol:test',"
	 "'redacts':'$m_bob:test','content':{'redacts':'$m_bob:test'}}",
	 true, NULL},
	{"redaction level set in events", V_ALL,
	 STATE(ROOM_PL(PL("pl", "@alice:test", "{" PL_USERS ",'events':{'m.room.redaction':50}}"))),
	 "{'event_id':'$x1:test','type':'m.room.redaction','sender':'@carol:test',"
	 "'redacts':'$m_bob:test','content':{'redacts':'$m_bob:test'}}",
	 false, "0 is below the 50 needed for m.room.redaction"},
	{"redaction by a stranger", V_ALL, STATE(BASE("invite")),
	 "{'event_id':'$x1:test','type':'m.room.redaction','sender':'@dave:test',"
	 "'redacts':'$m_bob:test','content':{'redacts':'$m_bob:test'}}",
	 false, "sender is not joined"},
};

/* Spec "Handling redactions": applied when the sender has the redact level
 * or shares the original sender's server. */
static void test_redaction_applies(void)
{
	static const char *const redactions[] = {
		/* sender, target event, expected */
		"@carol:test", "$m_bob:test", "1",  /* same server, power 0 */
		"@olga:other", "$m_bob:test", "0",  /* other server, power 0 < 50 */
		"@pete:other", "$m_bob:test", "1",  /* other server, power 50 */
		"@alice:test", "$z1:test", "1",     /* creator (100 / infinite) */
		"@olga:other", "$z1:test", "1",     /* same server as the target */
	};
	for (unsigned v = 0; v < 3; v++) {
		fixture f;
		fx_init(&f, rv_get(fx_versions[v]));
		const char *const state[] = {
			CREATE, J_ALICE,
			PL("pl", "@alice:test",
			   "{'users':{'@alice:test':100,'@pete:other':50},'redact':50}"),
			J_BOB, J_CAROL,
			MEMBER("m_olga", "@olga:other", "@olga:other", "join"),
			MEMBER("m_pete", "@pete:other", "@pete:other", "join"),
			MSG("z1", "m.room.message", "@zed:other", "{}"), NULL,
		};
		fx_load_state(&f, state);
		auth_state st = fx_state(&f);
		for (size_t i = 0; i < sizeof redactions / sizeof redactions[0]; i += 3) {
			char json[400];
			snprintf(json, sizeof json,
			         "{'event_id':'$x%zu:test','type':'m.room.redaction','sender':'%s',"
			         "'redacts':'%s','content':{'redacts':'%s'}}",
			         i, redactions[i], redactions[i + 1], redactions[i + 1]);
			ev_t *red = fx_load(&f, json, true);
			const ev_t *target = fx_event(&f, redactions[i + 1]);
			bool want = redactions[i + 2][0] == '1';
			CHECK_MSG(red && target && auth_redaction_applies(red, target, &st) == want,
			          "v%s redaction by %s of %s: want %d", fx_versions[v], redactions[i],
			          redactions[i + 1], want);
		}
		fx_done(&f);
	}
}

/* Without event(), the rules on the auth_events list are left to the
 * caller; everything else still applies. v12 then finds its create event
 * through get(), and checks that the room ID names it. */
static void test_without_event_lookup(void)
{
	for (unsigned v = 0; v < 3; v++) {
		fixture f;
		fx_init(&f, rv_get(fx_versions[v]));
		fx_load_state(&f, STATE(BASE("invite")));
		ev_t *ok = fx_load(&f, CAROL_MSG_AUTH("['$pl:test','$pl:test']"), true);
		ev_t *bad = fx_load(&f, MSG("e2", "m.room.message", "@dave:test", "{}"), true);
		ev_t *elsewhere = fx_load(&f,
		                          "{'event_id':'$e3:test','type':'m.room.message','sender':"
		                          "'@carol:test','room_id':'!nothing:test','content':{}}",
		                          true);
		auth_state st = {.get = fx_get, .ctx = &f};
		mxdb_error err;
		CHECK_MSG(ok && auth_check(ok, &st, &err) == MXDB_OK, "v%s: %s", fx_versions[v],
		          err.message);
		CHECK(bad && auth_check(bad, &st, &err) == MXDB_EFORBIDDEN);
		/* v10/v11 cannot tell without the auth events; v12 can. */
		CHECK(elsewhere && auth_check(elsewhere, &st, &err) ==
		                       (f.rv->room_id_from_create ? MXDB_EFORBIDDEN : MXDB_OK));
		fx_done(&f);
	}
}

/* The knobs decide: a version without knocking, restricted rooms and strict
 * integers (as before v7/v8/v10) refuses knocks and restricted joins and
 * reads power levels written as strings. */
static void test_knobs(void)
{
	mx_room_version old = *rv_get("10");
	old.knock = old.restricted_join = old.knock_restricted_join = false;
	old.strict_power_level_ints = false;
	static const struct {
		const char *state_extra, *event;
		bool allow;
		const char *why;
	} cases[] = {
		{JR("knock"), MEMBER("k1", "@dave:test", "@dave:test", "knock"), false,
		 "unknown membership"},
		{JR("restricted"),
		 "{'event_id':'$j1:test','type':'m.room.member','state_key':'@dave:test','sender':"
		 "'@dave:test','content':{'membership':'join','join_authorised_via_users_server':"
		 "'@bob:test'}}",
		 false, "join rule \"restricted\" does not let"},
		{JR("invite"),
		 PL("pl2", "@bob:test",
		    "{" PL_USERS ",'events':{'m.room.power_levels':'50','com.example.admin':100},"
		    "'users_default':'5'}"),
		 true, NULL},
		{JR("invite"), PL("pl2", "@bob:test", "{" PL_USERS ",'users_default':'5x'}"), false,
		 "users_default is not an integer"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		fixture f;
		fx_init(&f, &old);
		fx_load_state(&f, STATE(ROOM_BASE, cases[i].state_extra));
		ev_t *ev = fx_load(&f, cases[i].event, true);
		auth_state st = fx_state(&f);
		mxdb_error err;
		mx_clear(&err);
		mxdb_status rc = ev ? auth_check(ev, &st, &err) : MXDB_EINTERNAL;
		CHECK_MSG(rc == (cases[i].allow ? MXDB_OK : MXDB_EFORBIDDEN), "knobs %zu: %s", i,
		          err.message);
		CHECK_MSG(!cases[i].why || strstr(err.message, cases[i].why), "knobs %zu: %s", i,
		          err.message);
		fx_done(&f);
	}
	fixture f;
	fx_init(&f, &old);
	fx_load_state(&f, STATE(CREATE, PL("pl", "@alice:test", "{'users':{'@bob:test':'50'},"
	                                                    "'users_default':'5'}")));
	auth_state st = fx_state(&f);
	CHECK(auth_user_power(&st, &old, "@bob:test") == 50);
	CHECK(auth_user_power(&st, &old, "@dave:test") == 5);
	CHECK(auth_user_power(&st, rv_get("10"), "@dave:test") == 0);
	fx_done(&f);
}

static void test_extra_signer(void)
{
	fixture f;
	fx_init(&f, rv_get("11"));
	ev_t *via = fx_load(&f,
	                    "{'event_id':'$j1:test','type':'m.room.member','state_key':'@dave:test',"
	                    "'sender':'@dave:test','content':{'membership':'join',"
	                    "'join_authorised_via_users_server':'@olga:other.example:8448'}}",
	                    true);
	ev_t *plain = fx_load(&f, MEMBER("j2", "@dave:test", "@dave:test", "join"), true);
	ev_t *msg = fx_load(&f, MSG("e1", "m.room.message", "@dave:test", "{}"), true);
	const char *s = via ? auth_extra_signer(via) : NULL;
	CHECK_MSG(s && strcmp(s, "other.example:8448") == 0, "%s", s ? s : "(null)");
	CHECK(plain && auth_extra_signer(plain) == NULL);
	CHECK(msg && auth_extra_signer(msg) == NULL);
	fx_done(&f);
}

static void test_user_ids(void)
{
	static const char *const good[] = {"@a:b", "@alice:test", "@x:1.2.3.4:8448",
	                                   "@x:[::1]:80", "@Old=Style!:matrix.org"};
	static const char *const bad[] = {"", "alice:test", "@:test", "@alice", "@alice:",
	                                  "@a:bad_host", "@a:b:", "@a:b:123456", "@a:[]",
	                                  "@a b:test"};
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
		CHECK_MSG(auth_valid_user_id(good[i]), "%s", good[i]);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		CHECK_MSG(!auth_valid_user_id(bad[i]), "%s", bad[i]);
}

int main(void)
{
	fx_keys();
	RUN_CASES(cases);
	test_redaction_applies();
	test_without_event_lookup();
	test_knobs();
	test_extra_signer();
	test_user_ids();
	return test_summary("test_auth_rules");
}
