"""test_client_nio.py: a real Matrix client (matrix-nio, asyncio) against a
real mxdbd: two users register and log in, create a room with an invite,
join, send messages, receive them through sync, set and read state,
redact, paginate /messages, read events and context, profiles, typing,
read markers, filters, devices, and leave."""
import asyncio
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nio  # noqa: E402
from mxdbd_util import Mxdbd  # noqa: E402


def check(cond, what):
    if not cond:
        raise AssertionError(what)


async def sync_until(client, since, pred, rounds=20):
    """Syncs (long-polling) until pred(response) holds; returns the last response."""
    for _ in range(rounds):
        r = await client.sync(timeout=2000, since=since)
        check(isinstance(r, nio.SyncResponse), "sync failed: %r" % (r,))
        since = r.next_batch
        if pred(r):
            return r
    raise AssertionError("sync never showed the expected data")


def timeline_bodies(resp, room):
    j = resp.rooms.join.get(room)
    if j is None:
        return []
    return [getattr(e, "body", None) for e in j.timeline.events]


async def main(url):
    alice = nio.AsyncClient(url, "alice")
    bob = nio.AsyncClient(url, "bob")
    try:
        for c, pw in ((alice, "alice-pw"), (bob, "bob-pw")):
            r = await c.register(c.user, pw, "test device")
            check(isinstance(r, nio.RegisterResponse), "register: %r" % (r,))
            r = await c.login(pw, "nio")
            check(isinstance(r, nio.LoginResponse), "login: %r" % (r,))
            check(c.user_id.endswith(":test.local"), c.user_id)

        r = await bob.sync(timeout=0)
        check(isinstance(r, nio.SyncResponse), "bob initial sync: %r" % (r,))
        bob_since = r.next_batch

        r = await alice.room_create(name="nio room", topic="testing", invite=[bob.user_id])
        check(isinstance(r, nio.RoomCreateResponse), "createRoom: %r" % (r,))
        room = r.room_id
        r = await alice.sync(timeout=0)
        alice_since = r.next_batch
        check(room in r.rooms.join, "alice's sync lacks the room")

        r = await sync_until(bob, bob_since, lambda r: room in r.rooms.invite)
        bob_since = r.next_batch
        r = await bob.join(room)
        check(isinstance(r, nio.JoinResponse) and r.room_id == room, "join: %r" % (r,))
        r = await bob.joined_rooms()
        check(room in r.rooms, "joined_rooms: %r" % (r,))

        sent = []
        for i in range(15):
            r = await alice.room_send(room, "m.room.message",
                                      {"msgtype": "m.text", "body": "message %d" % i})
            check(isinstance(r, nio.RoomSendResponse), "send: %r" % (r,))
            sent.append(r.event_id)
        r = await sync_until(bob, bob_since, lambda r: "message 14" in timeline_bodies(r, room))
        bob_since = r.next_batch
        tl = r.rooms.join[room].timeline
        check(tl.limited, "15 new events over the default limit of 10 must be limited")
        check(tl.prev_batch, "a limited timeline needs prev_batch")

        # state: set by alice (the room's admin), read by bob
        r = await alice.room_put_state(room, "com.example.row", {"v": 1}, state_key="k1")
        check(isinstance(r, nio.RoomPutStateResponse), "put state: %r" % (r,))
        r = await bob.room_get_state_event(room, "com.example.row", "k1")
        check(isinstance(r, nio.RoomGetStateEventResponse) and r.content == {"v": 1},
              "get state: %r" % (r,))
        r = await bob.room_put_state(room, "m.room.power_levels", {})
        check(isinstance(r, nio.RoomPutStateError) and r.status_code == "M_FORBIDDEN",
              "bob may not change power levels: %r" % (r,))

        # redaction: alice redacts her first message; bob sees it redacted
        r = await alice.room_redact(room, sent[0], reason="oops")
        check(isinstance(r, nio.RoomRedactResponse), "redact: %r" % (r,))
        r = await sync_until(bob, bob_since, lambda r: room in r.rooms.join and any(
            isinstance(e, nio.RedactionEvent) for e in r.rooms.join[room].timeline.events))
        bob_since = r.next_batch

        # pagination backwards through the whole room, 4 at a time
        seen, token = [], tl.prev_batch
        r = await bob.room_messages(room, start="", limit=4)
        for _ in range(50):
            check(isinstance(r, nio.RoomMessagesResponse), "messages: %r" % (r,))
            seen.extend(r.chunk)
            if not r.end or not r.chunk:
                break
            r = await bob.room_messages(room, start=r.end, limit=4)
        ids = [e.event_id for e in seen]
        check(all(eid in ids for eid in sent), "pagination missed messages")
        check(len(ids) == len(set(ids)), "pagination repeated events")
        first = [e for e in seen if e.event_id == sent[0]][0]
        check(isinstance(first, nio.RedactedEvent), "the redacted message is not redacted: %r" % (first,))
        check(any(getattr(e, "membership", None) == "join" for e in seen), "no join event seen")
        # forwards from the prev_batch of the limited sync reaches the last message
        r = await bob.room_messages(room, start=token, direction=nio.MessageDirection.front,
                                    limit=100)
        check(isinstance(r, nio.RoomMessagesResponse), "messages forwards: %r" % (r,))
        check("message 14" in [getattr(e, "body", None) for e in r.chunk], "forward pagination")

        # more of the API as nio drives it: events, context, state, members,
        # profiles, typing, read markers, filters, devices, presence
        r = await bob.room_get_event(room, sent[3])
        check(isinstance(r, nio.RoomGetEventResponse) and r.event.body == "message 3",
              "get event: %r" % (r,))
        r = await bob.room_context(room, sent[5], limit=4)
        check(isinstance(r, nio.RoomContextResponse) and r.event.event_id == sent[5] and
              [e.event_id for e in r.events_after][:1] == [sent[6]], "context: %r" % (r,))
        r = await bob.room_get_state(room)
        check(isinstance(r, nio.RoomGetStateResponse) and
              any(e.get("type") == "m.room.name" for e in r.events), "get state: %r" % (r,))
        r = await alice.set_displayname("Alice N.")
        check(isinstance(r, nio.ProfileSetDisplayNameResponse), "set displayname: %r" % (r,))
        r = await bob.get_displayname(alice.user_id)
        check(isinstance(r, nio.ProfileGetDisplayNameResponse) and r.displayname == "Alice N.",
              "get displayname: %r" % (r,))
        r = await bob.joined_members(room)
        check(isinstance(r, nio.JoinedMembersResponse) and
              {m.user_id: m.display_name for m in r.members}.get(alice.user_id) == "Alice N.",
              "joined members: %r" % (r,))
        r = await alice.room_typing(room, True, 5000)
        check(isinstance(r, nio.RoomTypingResponse), "typing: %r" % (r,))
        r = await bob.room_read_markers(room, sent[-1], sent[-1])
        check(isinstance(r, nio.RoomReadMarkersResponse), "read markers: %r" % (r,))
        r = await sync_until(alice, alice_since, lambda r: room in r.rooms.join and any(
            isinstance(e, nio.ReceiptEvent) for e in r.rooms.join[room].ephemeral))
        alice_since = r.next_batch
        r = await bob.upload_filter(room={"timeline": {"limit": 2}})
        check(isinstance(r, nio.UploadFilterResponse), "filter: %r" % (r,))
        r = await bob.sync(timeout=0, sync_filter=r.filter_id)
        check(isinstance(r, nio.SyncResponse) and
              len(r.rooms.join[room].timeline.events) <= 2, "sync with a stored filter")
        r = await bob.devices()
        check(isinstance(r, nio.DevicesResponse) and len(r.devices) == 1 and
              r.devices[0].display_name == "test device", "devices: %r" % (r,))
        r = await bob.whoami()
        check(isinstance(r, nio.responses.WhoamiResponse) and r.user_id == bob.user_id, "whoami: %r" % (r,))
        r = await bob.set_presence("online")
        check(isinstance(r, nio.PresenceSetResponse), "presence: %r" % (r,))

        # bob leaves; alice sees the leave; bob's sync moves the room to leave
        r = await bob.room_leave(room)
        check(isinstance(r, nio.RoomLeaveResponse), "leave: %r" % (r,))
        r = await sync_until(alice, alice_since, lambda r: room in r.rooms.join and any(
            getattr(e, "membership", None) == "leave" for e in r.rooms.join[room].timeline.events))
        r = await sync_until(bob, bob_since, lambda r: room in r.rooms.leave)
        r = await bob.joined_rooms()
        check(room not in r.rooms, "still joined after leave")
    finally:
        await alice.close()
        await bob.close()


with Mxdbd() as d:
    asyncio.run(main(d.url))
    rc = d.stop()
    check(rc == 0, "mxdbd exit status %s: %s" % (rc, d.log()))
print("test_client_nio: ok")
