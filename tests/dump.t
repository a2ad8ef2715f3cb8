#!/usr/bin/env bash
# dump.t - serveur_maitre --dump-journal: a journal written with the codec
# (tests/journal_tool) printed as one JSON object a line, every field
# checked; a changed byte, a torn tail and another version reported as
# damage (exit 1); a missing state dir or journal named (exit 2).
. "$(dirname "$0")/lib.sh"
JT=$TOOLS/journal_tool
[ -x "$JT" ] || bail "$JT is missing: run 'make check-programs'"
command -v python3 >/dev/null || skip_all "needs python3"

# dump PATH: stdout in $T/dump.out, stderr in $T/dump.err, status in RC.
# Nothing may start: a master that did would never exit (timeout).
dump() {
    RC=0
    timeout 20 $WRAP $PROG_RUNNER "$(prog serveur_maitre)" --dump-journal "$1" >"$T/dump.out" 2>"$T/dump.err" || RC=$?
}

# What journal_tool writes (see tests/journal_tool.c), record by record,
# compared with the dump's lines; offsets checked to tile the file.
cat >"$T/check.py" <<'PY'
import base64, json, os, sys
mode, dump, path = sys.argv[1], sys.argv[2], sys.argv[3]
lines = [json.loads(l) for l in open(dump, encoding="utf-8")]
def expected(B, C):
    exp = [{"type": "header", "version": 1, "identity": "0123456789abcdef", "created_ms": 1700000000000}]
    job = 1
    for b in range(1, B + 1):
        bid = "%016x" % (0xba7c000000000000 | b)
        exp.append({"type": "batch", "batch": bid, "created_ms": 1700000000000 + b, "timeout_ms": 5000,
                    "retries": 2, "name": "batch-%d" % b})
        exp += [{"type": "command", "batch": bid, "index": i, "seq": i + 1, "line": "echo %d.%d" % (b, i)}
                for i in range(C)]
        exp.append({"type": "end", "batch": bid, "count": C})
        for i in range(C):
            slave = "127.0.0.1:%d" % (7000 + job % 3)
            exp.append({"type": "dispatch", "batch": bid, "index": i, "job_id": job,
                        "slave_boot": "%016x" % (0xb007000000000000 | job % 3), "slave": slave})
            r = {"type": "result", "batch": bid, "index": i, "seq": i + 1, "host": slave, "status": "exited",
                 "exit_code": i % 3, "signal": 0, "start_ms": 1700000000000 + i, "duration_ms": (1234567 + i) / 1000,
                 "stdout": "out %d.%d\n" % (b, i), "stderr": "", "stdout_truncated": False,
                 "stderr_truncated": False, "ran_twice": False, "message": ""}
            if i == 1:
                r["stdout"] = None
                r["stdout_base64"] = base64.b64encode(b"\xff\xfe not utf-8").decode()
            if i == 2:
                r["stderr"] = "quote\" back\\ tab\t \u00e9\n\x01"
            if i == 3:
                r.update(status="timed_out", signal=15, message="timed out after 5 s")
            exp.append(r)
            job += 1
        exp.append({"type": "delivered", "batch": bid, "count": C, "at_ms": 1700000001000 + b})
    last = "%016x" % (0xba7c000000000000 | B)
    exp += [{"type": "detach", "batch": last, "at_ms": 1700000002000},
            {"type": "cancel", "batch": last, "at_ms": 1700000003000}, {"type": "forget", "batch": last}]
    return exp
def fail(msg):
    print(msg, file=sys.stderr)
    sys.exit(1)
if mode == "intact":  # intact B C: every record, its fields exactly, offsets tiling the file
    exp = expected(int(sys.argv[4]), int(sys.argv[5]))
    if len(lines) != len(exp):
        fail("%d lines, expected %d" % (len(lines), len(exp)))
    for n, (got, want) in enumerate(zip(lines, exp)):
        off = got.pop("offset")
        if got != want:
            fail("line %d (offset %d): got %r, expected %r" % (n + 1, off, got, want))
    sys.exit(0)
if mode == "offsets":  # offsets: the records' offsets, one a line, and the file's size last
    for l in lines:
        print(l["offset"])
    print(os.path.getsize(path))
    sys.exit(0)
if mode == "summary":  # summary: type counts and every damaged line as offset/bytes/why
    from collections import Counter
    c = Counter(l["type"] for l in lines)
    print(" ".join("%s=%d" % kv for kv in sorted(c.items())))
    for l in lines:
        if l["type"] == "damaged":
            print("%d/%d/%s%s" % (l["offset"], l["bytes"], l["why"], "/v%d" % l["version"] if "version" in l else ""))
    sys.exit(0)
fail("mode?")
PY
check_py() { python3 "$T/check.py" "$@" 2>"$T/check.err"; }

# An intact journal, by its state dir and by its file.
mkdir -p "$T/state"
"$JT" write "$T/state/journal" 2 5 || bail "journal_tool write"
dump "$T/state"
is "$RC" 0 "an intact journal: exit 0"
is "$(wc -l <"$T/dump.out")" 40 "one line per record: 1 header + 2 x (batch, 5 commands, end, 5 dispatches, 5 results, delivered) + 3"
check "every line is JSON with exactly the record's fields (ids in hex, result bodies decoded, escapes, base64)" \
    check_py intact "$T/dump.out" "$T/state/journal" 2 5
[ -s "$T/check.err" ] && sed 's/^/# /' "$T/check.err" >&2
is "$(wc -c <"$T/dump.err")" 0 "nothing on stderr"
check_py offsets "$T/dump.out" "$T/state/journal" >"$T/offsets"
mapfile -t OFF <"$T/offsets" # 40 record offsets, then the file's size
is "${OFF[0]}/$((OFF[40] - OFF[39]))" "0/17" "offsets: the header at 0, the last record (FORGET, 17 bytes) ends the file"
cp "$T/dump.out" "$T/intact.out"
dump "$T/state/journal"
is "$RC/$(cmp -s "$T/dump.out" "$T/intact.out" && echo same)" "0/same" "the journal file itself gives the same dump"

# A changed byte inside batch 1's third result (line 16: header, batch,
# 5 commands, end, then dispatch/result pairs).
cp "$T/state/journal" "$T/flipped"
"$JT" flip "$T/flipped" $((OFF[15] + 20)) || bail "flip"
dump "$T/flipped"
is "$RC" 1 "a changed byte: exit 1"
check_py summary "$T/dump.out" "$T/flipped" >"$T/summary"
is "$(head -1 "$T/summary")" "batch=2 cancel=1 command=10 damaged=1 delivered=2 detach=1 dispatch=10 end=2 forget=1 header=1 result=9" \
    "a changed byte: every other record printed, one damaged line"
is "$(sed -n 2p "$T/summary")" "${OFF[15]}/$((OFF[16] - OFF[15]))/bad checksum" \
    "the damaged line: the record's offset, its bytes, 'bad checksum'"
is "$(grep -v damaged "$T/dump.out" | cmp -s - <(sed 16d "$T/intact.out") && echo same)" same \
    "the other records' lines are those of the intact journal"
check "stderr says the journal is damaged, naming it" grep -q "journal '$T/flipped' is damaged" "$T/dump.err"

# A torn tail: cut 5 bytes into the last record.
cp "$T/state/journal" "$T/torn"
"$JT" truncate "$T/torn" $((OFF[39] + 5)) || bail "truncate"
dump "$T/torn"
is "$RC" 1 "a torn tail: exit 1"
is "$(check_py summary "$T/dump.out" "$T/torn" | tr '\n' ' ')" \
    "batch=2 cancel=1 command=10 damaged=1 delivered=2 detach=1 dispatch=10 end=2 header=1 result=10 ${OFF[39]}/5/torn tail " \
    "a torn tail: the 39 whole records, then the tail's offset and its 5 bytes"
is "$(head -39 "$T/dump.out" | cmp -s - <(head -39 "$T/intact.out") && echo same)" same "the records before it as in the intact journal"

# Another version: reported, nothing read past the header.
"$JT" write "$T/v2" 1 1 2 || bail "journal_tool write v2"
dump "$T/v2"
is "$RC/$(check_py summary "$T/dump.out" "$T/v2" | tr '\n' ' ')" \
    "1/damaged=1 0/$(wc -c <"$T/v2")/another journal version/v2 " \
    "a journal of version 2: exit 1, one line for the whole file, naming the version"

# Unreadable: a missing state dir, a state dir without a journal.
dump "$T/nowhere"
is "$RC/$(wc -c <"$T/dump.out")" "2/0" "a missing state dir: exit 2, nothing on stdout"
check "the message names the path and the error" grep -q "cannot read the journal '$T/nowhere': No such file or directory" "$T/dump.err"
mkdir "$T/empty-state"
dump "$T/empty-state"
is "$RC" 2 "a state dir without a journal: exit 2"
check "the message names DIR/journal" grep -q "cannot read the journal '$T/empty-state/journal'" "$T/dump.err"

if [ -w /dev/full ]; then
    RC=0
    timeout 20 $WRAP $PROG_RUNNER "$(prog serveur_maitre)" --dump-journal "$T/state" >/dev/full 2>"$T/full.err" || RC=$?
    is "$RC" 2 "stdout that cannot be written (/dev/full): exit 2"
    check "saying so" grep -q "cannot write the dump of '$T/state/journal': No space left on device" "$T/full.err"
fi

"$(prog serveur_maitre)" --help >"$T/help" 2>&1
check "--help lists --dump-journal" grep -q -- "--dump-journal DIR" "$T/help"

done_testing
