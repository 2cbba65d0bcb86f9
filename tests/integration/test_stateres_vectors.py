"""`mxdb stateres` against every state-resolution scenario in the shared
vectors and in tests/data/stateres: each must give its `expected` map
exactly, and so must every intermediate resolution a DAG fixture records
(dag.resolutions).
Then malformed scenarios must fail with a non-zero exit and a message."""
import glob
import json
import os
import subprocess
import sys
import tempfile

BIN = os.path.join(os.environ["MXDB_BIN"], "mxdb")
VEC = os.path.join(os.environ["MXDB_VECTORS"], "stateres", "resolve")
failures = 0
checks = 0


def run(path):
    p = subprocess.run([BIN, "stateres", path], capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


def check(cond, what):
    global failures, checks
    checks += 1
    if not cond:
        failures += 1
        print("FAIL:", what)


def resolve_case(tmp, name, scenario):
    path = os.path.join(tmp, "case.json")
    with open(path, "w") as f:
        json.dump(scenario, f)
    rc, out, err = run(path)
    if rc != 0:
        check(False, "%s: exit %d: %s" % (name, rc, err.strip()))
        return
    check(out.endswith("\n") and out.count("\n") == 1, "%s: one line of output" % name)
    got = json.loads(out)
    check(list(got) == sorted(got), "%s: keys sorted" % name)
    want = scenario["expected"]
    if got != want:
        diff = {k: (got.get(k), want.get(k)) for k in set(got) | set(want) if got.get(k) != want.get(k)}
        check(False, "%s: got != expected: %s" % (name, diff))
    else:
        check(True, name)


files = sorted(glob.glob(os.path.join(VEC, "*.json")))
check(len(files) > 0, "vectors found in " + VEC)
# mxdb's own hand-derived scenarios (room v12 among them), same format.
own = sorted(glob.glob(os.path.join(os.environ["MXDB_SRC"], "tests", "data", "stateres", "*.json")))
check(len(own) > 0, "own scenarios found")
files += own
n_scen = n_inter = 0
with tempfile.TemporaryDirectory() as tmp:
    for path in files:
        name = os.path.basename(path)
        # The file itself, untouched.
        rc, out, err = run(path)
        sc = json.load(open(path))
        if rc != 0:
            check(False, "%s: exit %d: %s" % (name, rc, err.strip()))
        else:
            check(json.loads(out) == sc["expected"], "%s: resolved state == expected" % name)
        n_scen += 1
        for i, r in enumerate((sc.get("dag") or {}).get("resolutions", [])):
            case = dict(sc, state_sets=r["state_sets"], expected=r["expected"])
            resolve_case(tmp, "%s resolution %d at %s" % (name, i, r.get("at")), case)
            n_inter += 1
        # The order of the state sets must not matter.
        rev = dict(sc, state_sets=list(reversed(sc["state_sets"])))
        resolve_case(tmp, name + " (state sets reversed)", rev)
        # Nor the order of the events in the file.
        shuffled = dict(sc, events=list(reversed(sc["events"])))
        resolve_case(tmp, name + " (events reversed)", shuffled)

    # Malformed input: each must exit non-zero with a message on stderr.
    base = json.load(open(files[0]))

    def bad(name, scenario=None, text=None, want="", code=2):
        p = os.path.join(tmp, "bad.json")
        with open(p, "w") as f:
            f.write(text if text is not None else json.dumps(scenario))
        rc, out, err = run(p)
        check(rc == code and out == "" and want in err,
              "malformed %s: exit %d, stderr %r" % (name, rc, err.strip()))

    def edited(fn):
        s = json.loads(json.dumps(base))
        fn(s)
        return s

    first_state = next(e for e in base["events"] if e["type"] != "m.room.create")
    bad("not JSON", text="{\"room_version\": ", want="stateres")
    bad("duplicate key", text='{"a": 1, "a": 2}', want="duplicate")
    bad("not an object", text="[]", want="")
    bad("unknown auth event", edited(lambda s: s["events"][1]["auth_events"].append("$nope:x")),
        want="unknown event $nope:x")
    bad("unknown prev event", edited(lambda s: s["events"][1]["prev_events"].append("$nope:x")),
        want="unknown event $nope:x")
    bad("unknown state value", edited(lambda s: s["state_sets"][0].update({"m.room.topic|": "$gone:x"})),
        want="unknown event $gone:x")
    bad("state key mismatch",
        edited(lambda s: s["state_sets"][0].update({"m.room.topic|": s["events"][0]["event_id"]})),
        want="another key")

    def cycle(s):
        s["events"][0]["auth_events"] = [s["events"][-1]["event_id"]]
    bad("cycle", edited(cycle), want="cycle")
    bad("missing create", edited(lambda s: s.update(events=[e for e in s["events"] if e["type"] != "m.room.create"])),
        want="")
    bad("no create at all",
        edited(lambda s: (s.update(events=[e for e in s["events"] if e["type"] != "m.room.create"]),
                          [e.update(auth_events=[a for a in e["auth_events"] if a != base["events"][0]["event_id"]],
                                    prev_events=[a for a in e["prev_events"] if a != base["events"][0]["event_id"]])
                           for e in s["events"]],
                          [st.pop("m.room.create|", None) for st in s["state_sets"]])),
        want="no m.room.create")
    bad("unknown room version", edited(lambda s: s.update(room_version="99")), want="room_version")
    bad("state res mismatch", edited(lambda s: s.update(state_res="v2.1")), want="state res")
    bad("duplicate event", edited(lambda s: s["events"].append(s["events"][1])), want="twice")
    bad("empty object", scenario={}, want="room_version")
    rc, out, err = run(os.path.join(tmp, "does-not-exist.json"))
    check(rc == 2 and "does-not-exist" in err, "missing file: exit %d %r" % (rc, err))

print("%d scenarios, %d intermediate resolutions; %d checks, %d failed" % (n_scen, n_inter, checks, failures))
sys.exit(1 if failures else 0)
