/* test_auth_member.c: the m.room.member auth rules for rooms v10, v11 and
 * v12: join (the creator's first join, invite, knock, restricted and
 * knock_restricted rooms with join_authorised_via_users_server, public),
 * invite (with real ed25519-signed third-party invites), leave, kick,
 * unban, ban, knock and unknown memberships. */
#include "auth_fixture.h"

#define JOIN(id, who) MEMBER(id, who, who, "join")
#define DAVE(m) MEMBER("m_dave", "@dave:test", "@dave:test", m)
#define DAVE_BY(by, m) MEMBER("m_dave", "@dave:test", by, m)
#define BANNED_EVE MEMBER("m_eve", "@eve:test", "@alice:test", "ban")
#define FIRST_JOIN(who)                                                                  \
	"{'event_id':'$j1:test','type':'m.room.member','state_key':'" who "','sender':'" who \
	"','content':{'membership':'join'},'prev_events':['$create:test']}"
#define VIA_JOIN(via, sigs)                                                                \
	"{'event_id':'$j1:test','type':'m.room.member','state_key':'@dave:test','sender':"     \
	"'@dave:test','content':{'membership':'join','join_authorised_via_users_server':'" via \
	"'}" sigs "}"
#define SIGS_TEST_OTHER ",'signatures':{'test':{'ed25519:1':'s'},'other':{'ed25519:1':'s'}}"
#define J_OLGA JOIN("m_olga", "@olga:other")
#define PL_INVITE50 PL("pl", "@alice:test", "{" PL_USERS ",'invite':50}")
#define ROOM_PL(pl, rule) CREATE, J_ALICE, pl, J_BOB, J_CAROL, JR(rule)
#define TPI_EVENT(content) EVENT("tpi", "m.room.third_party_invite", "tok", "@bob:test", content)
#define TPI_GOOD TPI_EVENT("{'display_name':'d','public_key':'PK_GOOD'}")
#define TPI_INVITE_BY(by, tpi)                                                       \
	"{'event_id':'$i1:test','type':'m.room.member','state_key':'@dave:test','sender':'" by \
	"','content':{'membership':'invite','third_party_invite':" tpi "}}"
#define TPI_INVITE(signed) TPI_INVITE_BY("@bob:test", "{'display_name':'d','signed':'" signed "'}")

/* Restricted and knock_restricted rooms share every join case. */
#define RESTRICTED_CASES(rule)                                                               \
	{"join " rule ": invited", V_ALL,                                                    \
	 STATE(BASE(rule), DAVE_BY("@bob:test", "invite")), JOIN("j1", "@dave:test"), true,  \
	 NULL},                                                                             \
	{"join " rule ": authorised by a joined member", V_ALL, STATE(BASE(rule)),           \
	 VIA_JOIN("@bob:test", ""), true, NULL},                                            \
	{"join " rule ": authorised by a remote member, signed", V_ALL,                      \
	 STATE(BASE(rule), J_OLGA), VIA_JOIN("@olga:other", SIGS_TEST_OTHER), true, NULL},   \
	{"join " rule ": authorised by a remote member, unsigned", V_ALL,                    \
	 STATE(BASE(rule), J_OLGA), VIA_JOIN("@olga:other", ""), false,                     \
	 "not signed by the server of join_authorised_via_users_server"},                   \
	{"join " rule ": authoriser not joined", V_ALL, STATE(BASE(rule)),                   \
	 VIA_JOIN("@frank:test", ""), false, "authorising user @frank:test is not joined"}, \
	{"join " rule ": authoriser below the invite level", V_ALL,                          \
	 STATE(ROOM_PL(PL_INVITE50, rule)), VIA_JOIN("@carol:test", ""), false,              \
	 "below the invite level 50"},                                                      \
	{"join " rule ": authoriser at the invite level", V_ALL,                             \
	 STATE(ROOM_PL(PL_INVITE50, rule)), VIA_JOIN("@bob:test", ""), true, NULL},         \
	{"join " rule ": not authorised", V_ALL, STATE(BASE(rule)), DAVE("join"), false,     \
	 "no join_authorised_via_users_server"},                                            \
	{"join " rule ": authoriser not a user ID", V_ALL, STATE(BASE(rule)),                \
	 VIA_JOIN("bob", ""), false, "is not a user ID"},                                   \
	{"join " rule ": banned", V_ALL, STATE(BASE(rule), DAVE_BY("@alice:test", "ban")),   \
	 VIA_JOIN("@bob:test", ""), false, "banned"}

static const auth_case cases[] = {
	/* join: the creator's first join */
	{"join: creator right after create", V_ALL, STATE(CREATE), FIRST_JOIN("@alice:test"),
	 true, NULL},
	{"join: another user right after create", V_ALL, STATE(CREATE), FIRST_JOIN("@bob:test"),
	 false, "join rule is invite"},
	{"join: creator later, uninvited", V_ALL, STATE(CREATE),
	 JOIN("j1", "@alice:test"), false, "not invited"},
	{"join: v10 creator is content.creator", V10, STATE(CREATE_C("{'creator':'@zoe:test'}")),
	 FIRST_JOIN("@zoe:test"), true, NULL},
	{"join: v10 creator is content.creator", V11 | V12,
	 STATE(CREATE_C("{'creator':'@zoe:test'}")), FIRST_JOIN("@zoe:test"), false, NULL},
	{"join: v11 creator is the sender", V11 | V12, STATE(CREATE_C("{'creator':'@zoe:test'}")),
	 FIRST_JOIN("@alice:test"), true, NULL},
	{"join: v11 creator is the sender", V10, STATE(CREATE_C("{'creator':'@zoe:test'}")),
	 FIRST_JOIN("@alice:test"), false, NULL},
	{"join: additional creators have no first join", V12,
	 STATE(CREATE_C("{'additional_creators':['@zoe:test']}")), FIRST_JOIN("@zoe:test"), false,
	 NULL},

	/* join: general */
	{"join: for someone else", V_ALL, STATE(BASE("public")),
	 MEMBER("j1", "@dave:test", "@bob:test", "join"), false, "does not match state_key"},
	{"join: banned, public room", V_ALL, STATE(BASE("public"), BANNED_EVE),
	 JOIN("j1", "@eve:test"), false, "sender is banned"},
	{"join: public room", V_ALL, STATE(BASE("public")), DAVE("join"), true, NULL},
	{"join: invite room, invited", V_ALL, STATE(BASE("invite"), DAVE_BY("@bob:test", "invite")),
	 JOIN("j1", "@dave:test"), true, NULL},
	{"join: invite room, uninvited", V_ALL, STATE(BASE("invite")), DAVE("join"), false,
	 "join rule is invite and sender is not invited"},
	{"join: invite room, joined member again", V_ALL, STATE(BASE("invite")),
	 JOIN("j1", "@carol:test"), true, NULL},
	{"join: no join rules means invite only", V_ALL, STATE(ROOM_BASE), DAVE("join"), false,
	 "not invited"},
	{"join: knock room, invited", V_ALL, STATE(BASE("knock"), DAVE_BY("@bob:test", "invite")),
	 JOIN("j1", "@dave:test"), true, NULL},
	{"join: knock room, only knocked", V_ALL, STATE(BASE("knock"), DAVE("knock")),
	 JOIN("j1", "@dave:test"), false, "join rule is knock and sender is not invited"},
	RESTRICTED_CASES("restricted"),
	RESTRICTED_CASES("knock_restricted"),
	{"join: unknown join rule", V_ALL, STATE(BASE("private")), DAVE("join"), false,
	 "join rule \"private\" does not let"},

	/* invite */
	{"invite: at the invite level", V_ALL, STATE(BASE("invite")),
	 DAVE_BY("@carol:test", "invite"), true, NULL},
	{"invite: below the invite level", V_ALL, STATE(ROOM_PL(PL_INVITE50, "invite")),
	 DAVE_BY("@carol:test", "invite"), false, "power level 0 is below the invite level 50"},
	{"invite: above the invite level", V_ALL, STATE(ROOM_PL(PL_INVITE50, "invite")),
	 DAVE_BY("@bob:test", "invite"), true, NULL},
	{"invite: by a stranger", V_ALL, STATE(BASE("invite")),
	 MEMBER("i1", "@frank:test", "@dave:test", "invite"), false, "sender is not joined"},
	{"invite: of a joined user", V_ALL, STATE(BASE("invite")),
	 MEMBER("i1", "@carol:test", "@bob:test", "invite"), false, "already joined"},
	{"invite: of a banned user", V_ALL, STATE(BASE("invite"), BANNED_EVE),
	 MEMBER("i1", "@eve:test", "@bob:test", "invite"), false, "already banned"},
	{"invite: of a user who left", V_ALL, STATE(BASE("invite"), DAVE("leave")),
	 MEMBER("i1", "@dave:test", "@bob:test", "invite"), true, NULL},

	/* invite with a third-party invite */
	{"3pid invite: signed with the public key", V_ALL, STATE(BASE("invite"), TPI_GOOD),
	 TPI_INVITE("SIGN|good|@dave:test|tok"), true, NULL},
	{"3pid invite: target banned", V_ALL,
	 STATE(BASE("invite"), TPI_GOOD, DAVE_BY("@alice:test", "ban")),
	 TPI_INVITE("SIGN|good|@dave:test|tok"), false, "target @dave:test is banned"},
	{"3pid invite: no signed", V_ALL, STATE(BASE("invite"), TPI_GOOD),
	 TPI_INVITE_BY("@bob:test", "{'display_name':'d'}"), false, "no signed object"},
	{"3pid invite: no token", V_ALL, STATE(BASE("invite"), TPI_GOOD),
	 TPI_INVITE("SIGN|good|@dave:test|-"), false, "lacks mxid or token"},
	{"3pid invite: no mxid", V_ALL, STATE(BASE("invite"), TPI_GOOD),
	 TPI_INVITE("SIGN|good|-|tok"), false, "lacks mxid or token"},
	{"3pid invite: mxid of another user", V_ALL, STATE(BASE("invite"), TPI_GOOD),
	 TPI_INVITE("SIGN|good|@frank:test|tok"), false, "does not match state_key"},
	{"3pid invite: unknown token", V_ALL, STATE(BASE("invite"), TPI_GOOD),
	 TPI_INVITE("SIGN|good|@dave:test|nope"), false, "no m.room.third_party_invite event"},
	{"3pid invite: sent by another user", V_ALL, STATE(BASE("invite"), TPI_GOOD),
	 TPI_INVITE_BY("@carol:test", "{'signed':'SIGN|good|@dave:test|tok'}"), false,
	 "did not send the m.room.third_party_invite"},
	{"3pid invite: signed with another key", V_ALL, STATE(BASE("invite"), TPI_GOOD),
	 TPI_INVITE("SIGN|bad|@dave:test|tok"), false, "no signature"},
	{"3pid invite: key in public_keys", V_ALL,
	 STATE(BASE("invite"),
	       TPI_EVENT("{'public_key':'PK_BAD','public_keys':[{'public_key':'PK_BAD'},"
	                 "{'public_key':'PK_GOOD','key_validity_url':'https://id.test/v'}]}")),
	 TPI_INVITE("SIGN|good|@dave:test|tok"), true, NULL},
	{"3pid invite: no key in public_keys", V_ALL,
	 STATE(BASE("invite"), TPI_EVENT("{'public_keys':[{'public_key':'PK_BAD'},{}]}")),
	 TPI_INVITE("SIGN|good|@dave:test|tok"), false, "no signature"},

	/* leave */
	{"leave: joined member leaves", V_ALL, STATE(BASE("invite")),
	 MEMBER("l1", "@carol:test", "@carol:test", "leave"), true, NULL},
	{"leave: invited user rejects", V_ALL, STATE(BASE("invite"), DAVE_BY("@bob:test", "invite")),
	 MEMBER("l1", "@dave:test", "@dave:test", "leave"), true, NULL},
	{"leave: knocking user retracts", V_ALL, STATE(BASE("knock"), DAVE("knock")),
	 MEMBER("l1", "@dave:test", "@dave:test", "leave"), true, NULL},
	{"leave: stranger leaves", V_ALL, STATE(BASE("invite")), DAVE("leave"), false,
	 "not invited, joined or knocking"},
	{"leave: banned user leaves", V_ALL, STATE(BASE("public"), BANNED_EVE),
	 MEMBER("l1", "@eve:test", "@eve:test", "leave"), false, "not invited, joined or knocking"},
	{"kick: above the kick level and the target", V_ALL, STATE(BASE("invite")),
	 MEMBER("l1", "@carol:test", "@bob:test", "leave"), true, NULL},
	{"kick: below the kick level", V_ALL, STATE(BASE("invite")),
	 MEMBER("l1", "@bob:test", "@carol:test", "leave"), false, "below the kick level 50"},
	{"kick: target as powerful", V_ALL,
	 STATE(ROOM_PL(PL("pl", "@alice:test", "{'users':{'@alice:test':100,'@bob:test':50,"
	                                       "'@carol:test':50}}"), "invite")),
	 MEMBER("l1", "@carol:test", "@bob:test", "leave"), false, "not below the sender's"},
	{"kick: the creator", V_ALL, STATE(BASE("invite")),
	 MEMBER("l1", "@alice:test", "@bob:test", "leave"), false, "not below the sender's"},
	{"kick: by the creator", V_ALL, STATE(BASE("invite")),
	 MEMBER("l1", "@bob:test", "@alice:test", "leave"), true, NULL},
	{"kick: by a stranger", V_ALL, STATE(BASE("invite")),
	 MEMBER("l1", "@carol:test", "@dave:test", "leave"), false, "kick: sender is not joined"},
	{"unban: at the kick and ban levels", V_ALL, STATE(BASE("invite"), BANNED_EVE),
	 MEMBER("l1", "@eve:test", "@bob:test", "leave"), true, NULL},
	{"unban: below the ban level", V_ALL,
	 STATE(ROOM_PL(PL("pl", "@alice:test", "{" PL_USERS ",'ban':75,'kick':50}"), "invite"),
	       BANNED_EVE),
	 MEMBER("l1", "@eve:test", "@bob:test", "leave"), false, "below the ban level 75"},
	{"unban: below the kick level", V_ALL,
	 STATE(ROOM_PL(PL("pl", "@alice:test", "{" PL_USERS ",'ban':50,'kick':75}"), "invite"),
	       BANNED_EVE),
	 MEMBER("l1", "@eve:test", "@bob:test", "leave"), false, "below the kick level 75"},

	/* ban */
	{"ban: a member", V_ALL, STATE(BASE("invite")),
	 MEMBER("b1", "@carol:test", "@bob:test", "ban"), true, NULL},
	{"ban: a stranger", V_ALL, STATE(BASE("invite")), DAVE_BY("@bob:test", "ban"), true, NULL},
	{"ban: below the ban level", V_ALL, STATE(BASE("invite")),
	 MEMBER("b1", "@bob:test", "@carol:test", "ban"), false, "below the ban level 50"},
	{"ban: the creator", V_ALL, STATE(BASE("invite")),
	 MEMBER("b1", "@alice:test", "@bob:test", "ban"), false, "not below the sender's"},
	{"ban: by a stranger", V_ALL, STATE(BASE("invite")),
	 MEMBER("b1", "@carol:test", "@dave:test", "ban"), false, "ban: sender is not joined"},
	{"ban: by an additional creator", V12,
	 STATE(CREATE_C("{'additional_creators':['@zoe:test']}"), J_ALICE, PL_BASE, J_BOB,
	       JOIN("m_zoe", "@zoe:test")),
	 MEMBER("b1", "@bob:test", "@zoe:test", "ban"), true, NULL},
	{"ban: by an additional creator", V10 | V11,
	 STATE(CREATE_C("{'creator':'@alice:test','additional_creators':['@zoe:test']}"), J_ALICE,
	       PL_BASE, J_BOB, JOIN("m_zoe", "@zoe:test")),
	 MEMBER("b1", "@bob:test", "@zoe:test", "ban"), false, "below the ban level"},
	{"ban: creators cannot ban each other", V12,
	 STATE(CREATE_C("{'additional_creators':['@zoe:test']}"), J_ALICE, PL_BASE,
	       JOIN("m_zoe", "@zoe:test")),
	 MEMBER("b1", "@alice:test", "@zoe:test", "ban"), false, "not below the sender's"},

	/* knock */
	{"knock: knock room", V_ALL, STATE(BASE("knock")), DAVE("knock"), true, NULL},
	{"knock: knock_restricted room", V_ALL, STATE(BASE("knock_restricted")), DAVE("knock"), true,
	 NULL},
	{"knock: invite room", V_ALL, STATE(BASE("invite")), DAVE("knock"), false,
	 "join rule \"invite\" does not allow knocking"},
	{"knock: public room", V_ALL, STATE(BASE("public")), DAVE("knock"), false,
	 "does not allow knocking"},
	{"knock: restricted room", V_ALL, STATE(BASE("restricted")), DAVE("knock"), false,
	 "does not allow knocking"},
	{"knock: for someone else", V_ALL, STATE(BASE("knock")), DAVE_BY("@bob:test", "knock"),
	 false, "does not match state_key"},
	{"knock: banned", V_ALL, STATE(BASE("knock"), DAVE_BY("@alice:test", "ban")),
	 MEMBER("k1", "@dave:test", "@dave:test", "knock"), false, "already ban"},
	{"knock: invited", V_ALL, STATE(BASE("knock"), DAVE_BY("@bob:test", "invite")),
	 MEMBER("k1", "@dave:test", "@dave:test", "knock"), false, "already invite"},
	{"knock: joined", V_ALL, STATE(BASE("knock")),
	 MEMBER("k1", "@carol:test", "@carol:test", "knock"), false, "already join"},
	{"knock: after leaving", V_ALL, STATE(BASE("knock"), DAVE("leave")),
	 MEMBER("k1", "@dave:test", "@dave:test", "knock"), true, NULL},

	/* malformed */
	{"member: unknown membership", V_ALL, STATE(BASE("public")), DAVE("foo"), false,
	 "unknown membership \"foo\""},
	{"member: no membership", V_ALL, STATE(BASE("public")),
	 EVENT("m_dave", "m.room.member", "@dave:test", "@dave:test", "{}"), false,
	 "needs a state_key and a content.membership"},
	{"member: membership not a string", V_ALL, STATE(BASE("public")),
	 EVENT("m_dave", "m.room.member", "@dave:test", "@dave:test", "{'membership':1}"), false,
	 "needs a state_key and a content.membership"},
	{"member: no state_key", V_ALL, STATE(BASE("public")),
	 MSG("m_dave", "m.room.member", "@dave:test", "{'membership':'join'}"), false,
	 "needs a state_key"},
};

int main(void)
{
	fx_keys();
	RUN_CASES(cases);
	return test_summary("test_auth_member");
}
