/* test_auth_power.c: the m.room.power_levels auth rules for rooms v10, v11
 * and v12 (integer-only values, user IDs, changes compared with the
 * sender's level, v12 creators never listed and infinitely powerful),
 * auth_user_power and the auth events selection (auth_types_for_event). */
#include "auth_fixture.h"

#define TOP(sd, ed, ban, kick, invite, redact, ud)                                      \
	"'state_default':" sd ",'events_default':" ed ",'ban':" ban ",'kick':" kick        \
	",'invite':" invite ",'redact':" redact ",'users_default':" ud
#define TOP_DEFAULT TOP("50", "0", "50", "50", "0", "50", "0")
#define EVENTS_DEFAULT "'events':{'m.room.power_levels':50,'com.example.admin':100}"
/* The power levels bob (50) sends: users, events and the top-level values. */
#define BOB_PL(users, events, top) PL("pl2", "@bob:test", "{" users "," events "," top "}")
#define USERS(more) "'users':{'@alice:test':100,'@bob:test':50" more "}"
#define ROOM_PL(pl) CREATE, J_ALICE, pl, J_BOB, J_CAROL, JR("invite")
#define STATE_PL(users, events, top) \
	STATE(ROOM_PL(PL("pl", "@alice:test", "{" users "," events "," top "}")))
#define ZOE_CREATE CREATE_C("{'creator':'@alice:test','additional_creators':['@zoe:test']}")
#define J_ZOE MEMBER("m_zoe", "@zoe:test", "@zoe:test", "join")

static const auth_case cases[] = {
	{"power levels: unchanged copy", V_ALL, STATE(BASE("invite")),
	 BOB_PL(USERS(""), EVENTS_DEFAULT, TOP_DEFAULT), true, NULL},
	{"power levels: sender below the send level", V_ALL, STATE(BASE("invite")),
	 PL("pl2", "@carol:test", "{" USERS("") "," EVENTS_DEFAULT "," TOP_DEFAULT "}"), false,
	 "power level 0 is below the 50 needed for m.room.power_levels"},

	/* the shape of the content */
	{"shape: users_default a string", V_ALL, STATE(BASE("invite")),
	 BOB_PL(USERS(""), EVENTS_DEFAULT, TOP("50", "0", "50", "50", "0", "50", "'0'")), false,
	 "users_default is not an integer"},
	{"shape: ban a boolean", V_ALL, STATE(BASE("invite")),
	 BOB_PL(USERS(""), EVENTS_DEFAULT, TOP("50", "0", "true", "50", "0", "50", "0")), false,
	 "ban is not an integer"},
	{"shape: state_default null", V_ALL, STATE(BASE("invite")),
	 BOB_PL(USERS(""), EVENTS_DEFAULT, TOP("null", "0", "50", "50", "0", "50", "0")), false,
	 "state_default is not an integer"},
	{"shape: events value a string", V_ALL, STATE(BASE("invite")),
	 BOB_PL(USERS(""), "'events':{'m.room.name':'50'}", TOP_DEFAULT), false,
	 "events.m.room.name is not an integer"},
	{"shape: events an array", V_ALL, STATE(BASE("invite")),
	 BOB_PL(USERS(""), "'events':[]", TOP_DEFAULT), false, "events is not an object"},
	{"shape: notifications value a string", V_ALL, STATE(BASE("invite")),
	 BOB_PL(USERS(""), EVENTS_DEFAULT ",'notifications':{'room':'50'}", TOP_DEFAULT), false,
	 "notifications.room is not an integer"},
	{"shape: users an array", V_ALL, STATE(BASE("invite")),
	 BOB_PL("'users':[]", EVENTS_DEFAULT, TOP_DEFAULT), false, "users is not an object"},
	{"shape: users key not a user ID", V_ALL, STATE(BASE("invite")),
	 BOB_PL(USERS(",'carol':0"), EVENTS_DEFAULT, TOP_DEFAULT), false,
	 "users key carol is not a user ID"},
	{"shape: users value a string", V_ALL, STATE(BASE("invite")),
	 BOB_PL(USERS(",'@carol:test':'10'"), EVENTS_DEFAULT, TOP_DEFAULT), false,
	 "users.@carol:test is not an integer"},
	{"shape: checked on the first power levels too", V_ALL,
	 STATE(CREATE, J_ALICE, J_BOB, JR("invite")),
	 PL("pl1", "@alice:test", "{'users':{'bob':1}}"), false, "not a user ID"},

	/* v12 creators cannot be listed */
	{"creators: the create sender listed", V12, STATE(BASE("invite")),
	 BOB_PL("'users':{'@alice:test':99,'@bob:test':50}", EVENTS_DEFAULT, TOP_DEFAULT), false,
	 "must not list the room creator @alice:test"},
	{"creators: the create sender listed", V10 | V11, STATE(BASE("invite")),
	 BOB_PL("'users':{'@alice:test':99,'@bob:test':50}", EVENTS_DEFAULT, TOP_DEFAULT), false,
	 "cannot change the level of @alice:test (100)"},
	{"creators: an additional creator listed", V12,
	 STATE(ZOE_CREATE, J_ALICE, PL_BASE, J_BOB, J_ZOE),
	 BOB_PL(USERS(",'@zoe:test':0"), EVENTS_DEFAULT, TOP_DEFAULT), false,
	 "must not list the room creator @zoe:test"},
	{"creators: an additional creator listed", V10 | V11,
	 STATE(ZOE_CREATE, J_ALICE, PL_BASE, J_BOB, J_ZOE),
	 BOB_PL(USERS(",'@zoe:test':0"), EVENTS_DEFAULT, TOP_DEFAULT), true, NULL},
	{"creators: unlimited levels", V12, STATE(BASE("invite")),
	 PL("pl2", "@alice:test",
	    "{" USERS("") "," EVENTS_DEFAULT "," TOP("50", "0", "1000", "50", "0", "50", "0") "}"),
	 true, NULL},
	{"creators: unlimited levels", V10 | V11, STATE(BASE("invite")),
	 PL("pl2", "@alice:test",
	    "{" USERS("") "," EVENTS_DEFAULT "," TOP("50", "0", "1000", "50", "0", "50", "0") "}"),
	 false, "cannot set ban to 1000"},
	{"creators: an additional creator edits", V12,
	 STATE(ZOE_CREATE, J_ALICE, PL_BASE, J_BOB, J_ZOE),
	 PL("pl2", "@zoe:test", "{'users':{'@bob:test':100}}"), true, NULL},
	{"creators: an additional creator edits", V10 | V11,
	 STATE(ZOE_CREATE, J_ALICE, PL_BASE, J_BOB, J_ZOE),
	 PL("pl2", "@zoe:test", "{'users':{'@bob:test':100}}"), false,
	 "0 is below the 50 needed for m.room.power_levels"},

	/* no previous power levels */
	{"first power levels", V_ALL, STATE(CREATE, J_ALICE, J_BOB, JR("invite")),
	 PL("pl1", "@alice:test", "{'users':{'@bob:test':100},'ban':100}"), true, NULL},
	{"first power levels by a non-creator", V_ALL, STATE(CREATE, J_ALICE, J_BOB, JR("invite")),
	 PL("pl1", "@bob:test", "{'users':{'@bob:test':100}}"), false,
	 "0 is below the 50 needed for m.room.power_levels"},

	/* top-level values */
	{"top: lower ban", V_ALL, STATE(BASE("invite")),
	 BOB_PL(USERS(""), EVENTS_DEFAULT, TOP("50", "0", "40", "50", "0", "50", "0")), true, NULL},
	{"top: raise ban above the sender", V_ALL, STATE(BASE("invite")),
	 BOB_PL(USERS(""), EVENTS_DEFAULT, TOP("50", "0", "51", "50", "0", "50", "0")), false,
	 "cannot set ban to 51"},
	{"top: remove kick", V_ALL, STATE(BASE("invite")),
	 BOB_PL(USERS(""), EVENTS_DEFAULT,
	        "'state_default':50,'events_default':0,'ban':50,'invite':0,'redact':50,"
	        "'users_default':0"),
	 true, NULL},
	{"top: raise users_default above the sender", V_ALL, STATE(BASE("invite")),
	 BOB_PL(USERS(""), EVENTS_DEFAULT, TOP("50", "0", "50", "50", "0", "50", "51")), false,
	 "cannot set users_default to 51"},
	{"top: raise users_default to the sender", V_ALL, STATE(BASE("invite")),
	 BOB_PL(USERS(""), EVENTS_DEFAULT, TOP("50", "0", "50", "50", "0", "50", "50")), true, NULL},
	{"top: lower a value above the sender", V_ALL,
	 STATE_PL(USERS(""), EVENTS_DEFAULT, TOP("50", "0", "50", "50", "0", "75", "0")),
	 BOB_PL(USERS(""), EVENTS_DEFAULT, TOP("50", "0", "50", "50", "0", "50", "0")), false,
	 "cannot change redact from 75"},
	{"top: remove a value above the sender", V_ALL,
	 STATE_PL(USERS(""), EVENTS_DEFAULT, TOP("50", "0", "50", "50", "0", "75", "0")),
	 BOB_PL(USERS(""), EVENTS_DEFAULT,
	        "'state_default':50,'events_default':0,'ban':50,'kick':50,'invite':0,"
	        "'users_default':0"),
	 false, "cannot change redact from 75"},
	{"top: keep a value above the sender", V_ALL,
	 STATE_PL(USERS(""), EVENTS_DEFAULT, TOP("50", "0", "50", "50", "0", "75", "0")),
	 BOB_PL(USERS(""), EVENTS_DEFAULT, TOP("50", "0", "30", "50", "0", "75", "0")), true, NULL},
	{"top: add a value", V_ALL,
	 STATE_PL(USERS(""), EVENTS_DEFAULT, "'state_default':50"),
	 BOB_PL(USERS(""), EVENTS_DEFAULT, "'state_default':50,'invite':50"), true, NULL},
	{"top: add a value above the sender", V_ALL,
	 STATE_PL(USERS(""), EVENTS_DEFAULT, "'state_default':50"),
	 BOB_PL(USERS(""), EVENTS_DEFAULT, "'state_default':50,'invite':60"), false,
	 "cannot set invite to 60"},

	/* events and notifications */
	{"events: add at the sender's level", V_ALL, STATE(BASE("invite")),
	 BOB_PL(USERS(""), "'events':{'m.room.power_levels':50,'com.example.admin':100,"
	                   "'m.room.name':50}", TOP_DEFAULT),
	 true, NULL},
	{"events: add above the sender's level", V_ALL, STATE(BASE("invite")),
	 BOB_PL(USERS(""), "'events':{'m.room.power_levels':50,'com.example.admin':100,'x':60}",
	        TOP_DEFAULT),
	 false, "cannot set events.x to 60"},
	{"events: lower an entry above the sender", V_ALL, STATE(BASE("invite")),
	 BOB_PL(USERS(""), "'events':{'m.room.power_levels':50,'com.example.admin':50}",
	        TOP_DEFAULT),
	 false, "cannot change events.com.example.admin from 100"},
	{"events: remove an entry above the sender", V_ALL, STATE(BASE("invite")),
	 BOB_PL(USERS(""), "'events':{'m.room.power_levels':50}", TOP_DEFAULT), false,
	 "cannot change events.com.example.admin from 100"},
	{"events: lower an entry at the sender", V_ALL, STATE(BASE("invite")),
	 BOB_PL(USERS(""), "'events':{'m.room.power_levels':40,'com.example.admin':100}",
	        TOP_DEFAULT),
	 true, NULL},
	{"notifications: add at the sender's level", V_ALL, STATE(BASE("invite")),
	 BOB_PL(USERS(""), EVENTS_DEFAULT ",'notifications':{'room':50}", TOP_DEFAULT), true,
	 NULL},
	{"notifications: add above the sender's level", V_ALL, STATE(BASE("invite")),
	 BOB_PL(USERS(""), EVENTS_DEFAULT ",'notifications':{'room':60}", TOP_DEFAULT), false,
	 "cannot set notifications.room to 60"},
	{"notifications: remove an entry above the sender", V_ALL,
	 STATE_PL(USERS(""), EVENTS_DEFAULT ",'notifications':{'room':100}", TOP_DEFAULT),
	 BOB_PL(USERS(""), EVENTS_DEFAULT, TOP_DEFAULT), false,
	 "cannot change notifications.room from 100"},

	/* users */
	{"users: raise someone to the sender's level", V_ALL, STATE(BASE("invite")),
	 BOB_PL(USERS(",'@carol:test':50"), EVENTS_DEFAULT, TOP_DEFAULT), true, NULL},
	{"users: raise someone above the sender", V_ALL, STATE(BASE("invite")),
	 BOB_PL(USERS(",'@carol:test':51"), EVENTS_DEFAULT, TOP_DEFAULT), false,
	 "cannot raise @carol:test to 51"},
	{"users: raise oneself", V_ALL, STATE(BASE("invite")),
	 BOB_PL("'users':{'@alice:test':100,'@bob:test':60}", EVENTS_DEFAULT, TOP_DEFAULT), false,
	 "cannot raise @bob:test to 60"},
	{"users: lower oneself", V_ALL, STATE(BASE("invite")),
	 BOB_PL("'users':{'@alice:test':100,'@bob:test':10}", EVENTS_DEFAULT, TOP_DEFAULT), true,
	 NULL},
	{"users: remove oneself", V_ALL, STATE(BASE("invite")),
	 BOB_PL("'users':{'@alice:test':100}", EVENTS_DEFAULT, TOP_DEFAULT), true, NULL},
	{"users: lower an equal", V_ALL,
	 STATE_PL(USERS(",'@dan:test':50"), EVENTS_DEFAULT, TOP_DEFAULT),
	 BOB_PL(USERS(",'@dan:test':40"), EVENTS_DEFAULT, TOP_DEFAULT), false,
	 "cannot change the level of @dan:test (50)"},
	{"users: remove an equal", V_ALL,
	 STATE_PL(USERS(",'@dan:test':50"), EVENTS_DEFAULT, TOP_DEFAULT),
	 BOB_PL(USERS(""), EVENTS_DEFAULT, TOP_DEFAULT), false,
	 "cannot change the level of @dan:test (50)"},
	{"users: remove a lower user", V_ALL,
	 STATE_PL(USERS(",'@carol:test':10"), EVENTS_DEFAULT, TOP_DEFAULT),
	 BOB_PL(USERS(""), EVENTS_DEFAULT, TOP_DEFAULT), true, NULL},
	{"users: demote the creator", V10 | V11, STATE(BASE("invite")),
	 BOB_PL("'users':{'@alice:test':0,'@bob:test':50}", EVENTS_DEFAULT, TOP_DEFAULT), false,
	 "cannot change the level of @alice:test (100)"},
	{"users: demote the creator", V12, STATE(BASE("invite")),
	 BOB_PL("'users':{'@alice:test':0,'@bob:test':50}", EVENTS_DEFAULT, TOP_DEFAULT), false,
	 "must not list the room creator"},
	{"users: the creator promotes", V_ALL, STATE(BASE("invite")),
	 PL("pl2", "@alice:test",
	    "{'users':{'@alice:test':100,'@bob:test':100}," EVENTS_DEFAULT "," TOP_DEFAULT "}"),
	 true, NULL},
};

typedef struct power_case {
	const char *user;
	int64_t want[3]; /* v10, v11, v12 */
} power_case;

#define INF AUTH_POWER_INFINITE

static void check_powers(const char *name, const char *const *state, const char *room_id,
                         const power_case *pc, size_t n)
{
	for (unsigned v = 0; v < 3; v++) {
		fixture f;
		fx_init(&f, rv_get(fx_versions[v]));
		fx_load_state(&f, state);
		auth_state st = fx_state(&f);
		st.room_id = room_id;
		for (size_t i = 0; i < n; i++) {
			int64_t got = auth_user_power(&st, f.rv, pc[i].user);
			CHECK_MSG(got == pc[i].want[v], "v%s %s: %s has %lld, want %lld", fx_versions[v],
			          name, pc[i].user, (long long)got, (long long)pc[i].want[v]);
		}
		fx_done(&f);
	}
}

static void test_user_power(void)
{
	static const power_case base[] = {
		{"@alice:test", {100, 100, INF}},
		{"@bob:test", {50, 50, 50}},
		{"@carol:test", {0, 0, 0}},
		{"@dave:test", {0, 0, 0}},
	};
	check_powers("base", STATE(BASE("invite")), ROOM, base, 4);

	static const power_case dflt[] = {{"@dave:test", {7, 7, 7}}, {"@bob:test", {50, 50, 50}}};
	check_powers("users_default",
	             STATE(CREATE, PL("pl", "@alice:test", "{" PL_USERS ",'users_default':7}")), ROOM,
	             dflt, 2);

	static const power_case none[] = {
		{"@alice:test", {0, 100, INF}},
		{"@zoe:test", {100, 0, INF}},
		{"@bob:test", {0, 0, 0}},
	};
	check_powers("no power levels",
	             STATE(CREATE_C("{'creator':'@zoe:test','additional_creators':['@zoe:test']}")),
	             ROOM, none, 3);

	/* v12 finds the create event by the room ID when the state lacks it. */
	static const power_case by_id[] = {{"@alice:test", {0, 0, INF}}, {"@bob:test", {50, 50, 50}}};
	check_powers("create by room ID",
	             STATE("{'event_id':'$create:test','type':'m.room.create','state_key':'','sender':"
	                   "'@alice:test','content':{'creator':'@alice:test'},'_id_only':true}",
	                   PL("pl", "@alice:test", "{'users':{'@bob:test':50}}")),
	             ROOM, by_id, 2);
}

/* Every selected key, in order; "" for a missing one. */
static void check_selection(const char *version, const char *type, const char *state_key,
                            const char *sender, const char *content, const char *want)
{
	char *text = fx_text(content);
	json_t *c = json_loads(text, 0, NULL);
	free(text);
	auth_key keys[AUTH_MAX_KEYS];
	size_t n = auth_types_for_event(rv_get(version), type, state_key, sender, c, keys,
	                                AUTH_MAX_KEYS);
	char got[1024] = "";
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(got);
		snprintf(got + l, sizeof got - l, "%s%s|%s", i ? " " : "", keys[i].type,
		         keys[i].state_key);
	}
	CHECK_MSG(strcmp(got, want) == 0, "v%s %s %s: got \"%s\", want \"%s\"", version, type,
	          content, got, want);
	json_decref(c);
}

static void test_selection(void)
{
	check_selection("10", "m.room.create", "", "@a:t", "{}", "");
	check_selection("12", "m.room.create", "", "@a:t", "{}", "");
	check_selection("10", "m.room.message", NULL, "@a:t", "{}",
	                "m.room.create| m.room.power_levels| m.room.member|@a:t");
	check_selection("11", "com.example.row", "k", "@a:t", "{}",
	                "m.room.create| m.room.power_levels| m.room.member|@a:t");
	check_selection("12", "m.room.message", NULL, "@a:t", "{}",
	                "m.room.power_levels| m.room.member|@a:t");
	check_selection("10", "m.room.member", "@a:t", "@a:t",
	                "{'membership':'join','join_authorised_via_users_server':'@b:t'}",
	                "m.room.create| m.room.power_levels| m.room.member|@a:t "
	                "m.room.join_rules| m.room.member|@b:t");
	check_selection("12", "m.room.member", "@a:t", "@a:t", "{'membership':'knock'}",
	                "m.room.power_levels| m.room.member|@a:t m.room.join_rules|");
	check_selection("11", "m.room.member", "@c:t", "@b:t",
	                "{'membership':'invite','third_party_invite':{'signed':{'token':'tok'}}}",
	                "m.room.create| m.room.power_levels| m.room.member|@b:t m.room.member|@c:t "
	                "m.room.join_rules| m.room.third_party_invite|tok");
	check_selection("12", "m.room.member", "@c:t", "@b:t",
	                "{'membership':'leave','join_authorised_via_users_server':'@b:t'}",
	                "m.room.power_levels| m.room.member|@b:t m.room.member|@c:t");
	check_selection("12", "m.room.member", "@c:t", "@b:t", "{'membership':'ban'}",
	                "m.room.power_levels| m.room.member|@b:t m.room.member|@c:t");

	auth_key two[2];
	CHECK(auth_types_for_event(rv_get("10"), "m.room.message", NULL, "@a:t", NULL, two, 2) == 2);
}

int main(void)
{
	fx_keys();
	RUN_CASES(cases);
	test_user_power();
	test_selection();
	return test_summary("test_auth_power");
}
