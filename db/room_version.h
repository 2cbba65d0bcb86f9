/*
 * room_version.h: what differs between Matrix room versions, in one table.
 * Everything version-dependent (redaction, event and room IDs, auth-rule
 * details, state resolution) reads its knobs or calls its ops from here:
 * no "if (version == ...)" anywhere else.
 */
#ifndef MX_ROOM_VERSION_H
#define MX_ROOM_VERSION_H

#include <stdbool.h>

enum mx_stateres_algo {
	MX_STATERES_V2 = 2,    /* rooms v2..v11 */
	MX_STATERES_V2_1 = 21, /* room v12 */
};

/* Content keys a redaction keeps for one event type. A type with no rule
 * keeps no content at all. */
typedef struct mx_redact_rule {
	const char *type;                /* e.g. "m.room.member"; NULL ends the list */
	const char *const *keep_content; /* NULL-terminated; NULL pointer = keep none */
	const char *const *keep_nested;  /* "a.b" paths kept inside objects (v11 invite):
	                                    content.a becomes {"b": content.a.b} */
	bool keep_all;                   /* v11+ m.room.create: content kept whole */
} mx_redact_rule;

typedef struct mx_room_version {
	const char *id;                  /* "10", "11", "12" */
	enum mx_stateres_algo stateres;

	/* Event format and redaction (spec: rooms/vN.md). */
	const char *const *redact_keep_top;    /* top-level keys kept */
	const mx_redact_rule *redact_content;  /* per type, ended by {NULL} */

	/* Auth-rule knobs (spec: rooms/vN.md, "Authorization rules"). */
	bool redacts_in_content;       /* v11+: "redacts" lives in content */
	bool create_has_creator_key;   /* v10: content.creator; v11+: the sender is the creator */
	bool room_id_from_create;      /* v12: room ID = "!" + create event ID (no "$"),
	                                  and the create event is never in auth_events */
	bool creators_infinite_power;  /* v12: creators outrank everyone; "additional_creators" */
	bool knock, restricted_join, knock_restricted_join; /* all true for v10+ */
	bool strict_power_level_ints;  /* v10+: power levels must be integers, not strings */
} mx_room_version;

/* The version with that identifier, or NULL when unsupported. */
const mx_room_version *rv_get(const char *id);
/* The default for new rooms: the newest stable version we support. */
const mx_room_version *rv_default(void);
/* The supported identifiers, NULL-terminated (for /capabilities). */
const char *const *rv_supported(void);

#endif
