#!/usr/bin/env bash
# trace.t - --trace on the three programs (doc/protocol.md "Reading a
# trace"): one line per datagram or frame sent or received.
#
# 1. A one-command batch without loss, keyless then keyed, one slave: the
#    exact sequence of message types on each side. What a run shows, and
#    why (PINGs on the master's 500 ms timer, and the slave's PONGs to them,
#    may come anywhere: they are set apart):
#      master UDP: send PING why=ping (its timer, at start), recv COOKIE (the
#        slave has no session with this life), send PING why=reply (the
#        cookie echoed), recv PONG (the slave is up); then, the batch:
#        send JOB why=first, recv JOB_ACK (RUNNING: the slave started it),
#        recv RESULT, send RESULT_ACK why=reply (complete, after the flush)
#      slave UDP: the mirror image (recv PING, send COOKIE why=reply, ...)
#      client TCP: send HELLO, [keyed: recv WELCOME, send READY,] ATTACH,
#        SUBMIT, END, then ACK once BYE came; recv WELCOME, BATCH, ACCEPTED,
#        RESULT, BYE (without a key the client does not wait for WELCOME)
#      master TCP: what the client sent, received in that order, and what
#        the client received, sent in that order, with the same sizes.
#    Every line's format and key order are the shared spec's; every send
#    line has a why, no recv line has one; the sequence numbers of each
#    sender strictly increase; each datagram's send line on one side is
#    its recv line on the other (seq, type, job_id, frag, ..., size); a
#    keyed datagram is its keyless self plus the 16-byte tag. Datagrams
#    refused before they open are traced with dropped=REASON (garbage:
#    malformed; keyed slave: a keyless PING not_keyed, a sealed one with a
#    wrong tag bad_tag).
# 2. With loss (a udp_chaos proxy dropping 20% both ways, large requests
#    and results: several fragments each): every JOB, RESULT or CANCEL sent
#    again with the same job_id and frag is marked rto, fast or probe,
#    never first; every rto or fast one was sent before; the results are
#    byte-exact.
. "$(dirname "$0")/lib.sh"

[ -x "$TOOLS/udp_chaos" ] || bail "$TOOLS/udp_chaos is missing: run 'make check-programs'"
command -v python3 >/dev/null || skip_all "needs python3"

newkey() { (umask 077; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$1"); }
newkey "$T/key"

# The checks, in python: each prints "ok DESCRIPTION" or "not ok
# DESCRIPTION: detail"; tap_from turns them into this test's TAP lines.
cat >"$T/check.py" <<'PY'
import re, sys

LINE = re.compile(r'^trace (\d\d):(\d\d):(\d\d)\.(\d{6}) (client|maitre|esclave) (send|recv) (udp|tcp) '
                  r'(\d+\.\d+\.\d+\.\d+:\d+|\[[0-9a-f:.]+\]:\d+) ([A-Z_]+|\d+)((?: [a-z_]+=[^ ]+)*)$')
ORDER = ['seq', 'job_id', 'frag', 'offset', 'total', 'len', 'cum', 'sack', 'state', 'slots', 'size', 'why', 'dropped']
WHYS = {'first', 'rto', 'fast', 'probe', 'reply', 'ping'}

def lines(path):
    out, bad = [], []
    for raw in open(path, errors='replace'):
        raw = raw.rstrip('\n')
        if not raw.startswith('trace '):
            continue
        m = LINE.match(raw)
        if not m:
            bad.append(raw)
            continue
        kv = [p.split('=', 1) for p in m.group(10).split()]
        keys = [k for k, _ in kv]
        if any(k not in ORDER for k in keys) or keys != sorted(keys, key=ORDER.index):
            bad.append(raw)
            continue
        out.append(dict(prog=m.group(5), dir=m.group(6), link=m.group(7), peer=m.group(8), type=m.group(9),
                        f=dict(kv), raw=raw))
    return out, bad

def say(ok, desc, detail=''):
    print(('ok ' if ok else 'not ok ') + desc + ('' if ok or not detail else ': ' + detail))

def wire(l):  # what both ends of a datagram or frame see
    return (l['type'],) + tuple(sorted((k, v) for k, v in l['f'].items() if k != 'why'))

def fmt(ls):
    return ' '.join(l['dir'] + ':' + l['type'] + ('/' + l['f']['why'] if 'why' in l['f'] else '') for l in ls)

def common(ls, bad, prog, label):
    say(not bad, f'{label}: every {prog} trace line has the spec\'s format and key order', ' | '.join(bad[:3]))
    say(all(l['prog'] == prog for l in ls), f'{label}: PROG is {prog}')
    sends = [l for l in ls if l['dir'] == 'send']
    recvs = [l for l in ls if l['dir'] == 'recv']
    if any(l['link'] == 'udp' for l in ls):
        w = [l for l in sends if l['link'] == 'udp' and l['f'].get('why') not in WHYS]
        say(not w, f'{label}: {prog}: every datagram send line has a why', fmt(w[:5]))
    say(not [l for l in recvs if 'why' in l['f']] and not [l for l in ls if l['link'] == 'tcp' and 'why' in l['f']],
        f'{label}: {prog}: no recv line and no frame line has a why')
    seqs = [int(l['f']['seq']) for l in sends if l['link'] == 'udp']
    if seqs:
        say(all(a < b for a, b in zip(seqs, seqs[1:])), f'{label}: {prog}: its datagrams\' seq strictly increase',
            str(seqs[:20]))

def matched(send, recv, label, what, extra_ok):
    # recv is send as it arrived: a prefix of it (no loss, one path, in
    # order); what was in flight when both stopped may be missing
    n = len(recv)
    ok = n > 0 and [wire(l) for l in send[:n]] == [wire(l) for l in recv]
    rest = send[n:]
    say(ok and len(rest) <= 2 and all(l['type'] in extra_ok for l in rest),
        f'{label}: {what}: each send line is a recv line on the other side (same type, seq, ids, size), in order '
        f'({n} matched, {len(rest)} in flight)',
        '' if ok else 'first difference: ' + next((a['raw'] + ' <> ' + b['raw'] for a, b in zip(send, recv)
                                                    if wire(a) != wire(b)), 'lengths'))

def batch(label, keyed, cpath, mpath, spath, dropped_expected):
    c, cbad = lines(cpath)
    m, mbad = lines(mpath)
    s, sbad = lines(spath)
    common(c, cbad, 'client', label)
    common(m, mbad, 'maitre', label)
    common(s, sbad, 'esclave', label)
    # the client's frames
    cs = [l['type'] for l in c if l['dir'] == 'send']
    cr = [l['type'] for l in c if l['dir'] == 'recv']
    want = ['HELLO'] + (['READY'] if keyed else []) + ['ATTACH', 'SUBMIT', 'END', 'ACK']
    say(cs == want, f'{label}: client sends {" ".join(want)}', ' '.join(cs))
    want = ['WELCOME', 'BATCH', 'ACCEPTED', 'RESULT', 'BYE']
    say(cr == want, f'{label}: client receives {" ".join(want)}', ' '.join(cr))
    if keyed:
        ci = [l['dir'] + ':' + l['type'] for l in c]
        say(ci.index('recv:WELCOME') < ci.index('send:READY') < ci.index('send:ATTACH'),
            f'{label}: keyed, the client sends READY and ATTACH once WELCOME came', ' '.join(ci))
    sub = [l for l in c if l['type'] in ('SUBMIT', 'RESULT')]
    say([l['f'].get('seq') for l in sub] == ['1', '1'], f'{label}: SUBMIT and RESULT carry seq=1', fmt(sub))
    say(all(l['peer'] == sys.argv[2] for l in c), f'{label}: the client\'s PEER is the master ({sys.argv[2]})')
    mt = [l for l in m if l['link'] == 'tcp']
    matched([l for l in c if l['dir'] == 'send'], [l for l in mt if l['dir'] == 'recv'], label,
            'client -> master frames', ())
    matched([l for l in mt if l['dir'] == 'send'], [l for l in c if l['dir'] == 'recv'], label,
            'master -> client frames', ())
    # the datagrams; refused ones apart
    mu = [l for l in m if l['link'] == 'udp']
    su = [l for l in s if l['link'] == 'udp' and 'dropped' not in l['f']]
    sd = [l['f']['dropped'] for l in s if 'dropped' in l['f']]
    say(not [l for l in mu if 'dropped' in l['f']], f'{label}: the master dropped nothing')
    say(sd == dropped_expected, f'{label}: the slave\'s refused datagrams: dropped={",".join(dropped_expected)}',
        ','.join(sd))
    say(all(l['peer'] == sys.argv[3] for l in mu), f'{label}: the master\'s UDP PEER is the slave ({sys.argv[3]})')
    def handshake(ls, want, who):
        # the timer's PINGs (and the PONGs answering them) apart, the first four
        core = [l for l in ls if not (l['type'] == 'PING' and l['f'].get('why') == 'ping')][:3]
        first = ls[0] if ls else None
        got = ([first['dir'] + ':' + first['type'] + '/' + first['f'].get('why', '')] if first else []) + \
              [l['dir'] + ':' + l['type'] + ('/' + l['f']['why'] if 'why' in l['f'] else '') for l in core]
        say(got == want, f'{label}: {who} handshake: {" ".join(want)}', ' '.join(got))
    handshake(mu, ['send:PING/ping', 'recv:COOKIE', 'send:PING/reply', 'recv:PONG'], 'master')
    # the slave's first line is the timer PING received: its why is not known there
    sl = [l['dir'] + ':' + l['type'] + ('/' + l['f']['why'] if 'why' in l['f'] else '') for l in su[:4]]
    want = ['recv:PING', 'send:COOKIE/reply', 'recv:PING', 'send:PONG/reply']
    say(sl == want, f'{label}: slave handshake: {" ".join(want)}', ' '.join(sl))
    job = lambda ls: [l for l in ls if l['type'] not in ('PING', 'PONG', 'COOKIE')]
    want = 'send:JOB/first recv:JOB_ACK recv:RESULT send:RESULT_ACK/reply'
    say(fmt(job(mu)) == want, f'{label}: master, the batch: {want}', fmt(job(mu)))
    want = 'recv:JOB send:JOB_ACK/reply send:RESULT/first recv:RESULT_ACK'
    say(fmt(job(su)) == want, f'{label}: slave, the batch: {want}', fmt(job(su)))
    jl = job(mu)
    say(all(l['f'].get('job_id') == '1' for l in jl) and [l['f'].get('frag') for l in jl if l['type'] in ('JOB', 'RESULT')] == ['1/1', '1/1'],
        f'{label}: job_id=1 on each, JOB and RESULT frag=1/1', fmt(jl))
    ack = [l for l in jl if l['type'] == 'JOB_ACK']
    say(len(ack) == 1 and ack[0]['f'].get('cum') == '1' and ack[0]['f'].get('sack') == '0x0' and
        ack[0]['f'].get('state') == 'RUNNING', f'{label}: JOB_ACK cum=1 sack=0x0 state=RUNNING',
        ack[0]['raw'] if ack else '')
    say(all(re.fullmatch(r'\d+/\d+', l['f'].get('slots', '')) for l in mu if l['type'] == 'PONG'),
        f'{label}: every PONG says slots=FREE/TOTAL')
    matched([l for l in mu if l['dir'] == 'send'], [l for l in su if l['dir'] == 'recv'], label,
            'master -> slave datagrams', ('PING',))
    matched([l for l in su if l['dir'] == 'send'], [l for l in mu if l['dir'] == 'recv'], label,
            'slave -> master datagrams', ('PONG',))
    return {l['type']: int(l['f']['size']) for l in jl}

def loss(mpath, spath):
    counts = {}
    for path, prog in ((mpath, 'maitre'), (spath, 'esclave')):
        ls, bad = lines(path)
        say(not bad, f'loss: every {prog} trace line has the spec\'s format', ' | '.join(bad[:3]))
        seen, wrong, unfounded = {}, [], []
        for l in ls:
            if l['dir'] != 'send' or l['link'] != 'udp' or l['type'] not in ('JOB', 'RESULT', 'CANCEL'):
                continue
            key = (l['type'], l['f'].get('job_id'), l['f'].get('frag'))
            why = l['f'].get('why')
            counts[(prog, why)] = counts.get((prog, why), 0) + 1
            if key in seen and why not in ('rto', 'fast', 'probe'):
                wrong.append(l['raw'])
            if key not in seen and why != 'first':
                unfounded.append(l['raw'])
            if why == 'probe' and (l['type'] != 'JOB' or not l['f'].get('frag', '').startswith('1/')):
                wrong.append(l['raw'])
            seen[key] = seen.get(key, 0) + 1
        again = sum(n - 1 for n in seen.values())
        say(not wrong, f'loss: {prog}: each of the {again} JOB/RESULT/CANCEL sent again with the same job_id and '
            f'frag is marked rto, fast or probe (probe: a JOB\'s fragment 1), never first', ' | '.join(wrong[:3]))
        say(not unfounded, f'loss: {prog}: the first send of each is why=first', ' | '.join(unfounded[:3]))
    print('# sends by why: ' + ', '.join(f'{p} {w}={n}' for (p, w), n in sorted(counts.items(), key=str)))
    rt = sum(n for (p, w), n in counts.items() if w in ('rto', 'fast'))
    say(rt > 0, f'loss: the loss made retransmissions (rto or fast: {rt})')

if sys.argv[1] == 'batch':
    # batch CLIENT_PEER SLAVE_PEER LABEL KEYED CLIENT_LOG MASTER_LOG SLAVE_LOG DROPPED OUT
    sizes = batch(sys.argv[4], sys.argv[5] == '1', sys.argv[6], sys.argv[7], sys.argv[8],
                  [w for w in sys.argv[9].split(',') if w])
    with open(sys.argv[10], 'w') as f:
        for k, v in sorted(sizes.items()):
            f.write(f'{k} {v}\n')
elif sys.argv[1] == 'loss':
    loss(sys.argv[2], sys.argv[3])
PY

# tap_from: the checks' lines as this test's assertions.
tap_from() {
    local line
    while IFS= read -r line; do
        case "$line" in
        "ok "*) ok 0 "${line#ok }" ;;
        "not ok "*) ok 1 "${line#not ok }" ;;
        "#"*) echo "$line" ;;
        *) ok 1 "check.py: $line" ;;
        esac
    done
}

# forge PORT: three datagrams the keyed slave must refuse, each traced
# with its reason: garbage (malformed), a keyless PING (not_keyed), a
# sealed PING whose tag is wrong (bad_tag); to a keyless slave, only the
# garbage.
forge() {
    python3 - "$1" "$2" <<'PY'
import socket, struct, sys, os
port, keyed = int(sys.argv[1]), sys.argv[2] == '1'
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
def ping(flags, seq):
    h = struct.pack('>HBBBQQQQ', 0x534D, 6, 1, flags, 0x1234, 0, seq, 0)
    body = struct.pack('>QQ', 1, 0) + b'\0' * 16 + struct.pack('>Q', 0) + b'\0' * 32
    return h + body + (os.urandom(16) if flags else b'')
s.sendto(b'garbage', ('127.0.0.1', port))
if keyed:
    s.sendto(ping(0, 7), ('127.0.0.1', port))
    s.sendto(ping(1, 8), ('127.0.0.1', port))
PY
}

# --------------------------------------------------- 1. one command ---
echo 'echo hello-trace' >"$T/one.txt"
for mode in keyless keyed; do
    KEYOPT=()
    dropped=malformed
    if [ "$mode" = keyed ]; then
        KEYOPT=(--key-file "$T/key")
        dropped=malformed,not_keyed,bad_tag
    fi
    start_slave "s-$mode" -j 2 --trace "${KEYOPT[@]}"
    SPID=$SLAVE_PID SPORT=$SLAVE_PORT
    echo "127.0.0.1 $SPORT" >"$T/slaves-$mode.conf"
    start_master "m-$mode" "$T/slaves-$mode.conf" --trace "${KEYOPT[@]}"
    MPID=$MASTER_PID
    wait_slaves_up "m-$mode" 1 || bail "slave not up ($mode): $(tail -5 "$T/m-$mode.log")"
    run_client --trace "${KEYOPT[@]}" "$T/one.txt"
    is "$RC/$(cat "$T/out")" "0/hello-trace" "$mode: the batch ran, --trace on all three"
    cp "$T/err" "$T/c-$mode.log"
    # the RESULT_ACK that completes the job has reached the slave: the
    # batch is over on the wire
    wait_for_line "$T/s-$mode.log" '^trace .* esclave recv udp .* RESULT_ACK ' 20 >/dev/null ||
        bail "no RESULT_ACK at the slave ($mode)"
    forge "$SPORT" "$([ "$mode" = keyed ] && echo 1 || echo 0)"
    n=$(echo "$dropped" | tr ',' '\n' | wc -l)
    for _ in $(seq 1 200); do
        [ "$(grep -c 'dropped=' "$T/s-$mode.log")" -ge "$n" ] && break
        sleep 0.05
    done
    # both stopped where they are: nothing more is traced, and what one
    # sent may still be on its way (matched() allows it)
    kill -STOP "$MPID" "$SPID"
    cp "$T/m-$mode.log" "$T/m-$mode.snap"
    cp "$T/s-$mode.log" "$T/s-$mode.snap"
    kill -CONT "$MPID" "$SPID"
    tap_from < <(python3 "$T/check.py" batch "127.0.0.1:$MASTER_PORT" "127.0.0.1:$SPORT" "$mode" \
        "$([ "$mode" = keyed ] && echo 1 || echo 0)" "$T/c-$mode.log" "$T/m-$mode.snap" "$T/s-$mode.snap" \
        "$dropped" "$T/sizes-$mode" 2>&1)
    stop_pid "$MPID"
    stop_pid "$SPID"
done
# The same command, the same output: each keyed datagram is its keyless
# self and the 16-byte Poly1305 tag.
for t in JOB JOB_ACK RESULT RESULT_ACK; do
    a=$(awk -v t=$t '$1 == t {print $2}' "$T/sizes-keyless")
    b=$(awk -v t=$t '$1 == t {print $2}' "$T/sizes-keyed")
    is "$((b - a))" 16 "size: a keyed $t is its keyless size ($a) plus the tag (16)"
done

# ---------------------------------------------------------- 2. loss ---
# Requests of two fragments (a 64000-byte command: fragments of 60000 on
# loopback), results of ten and more, both streams.
pad=$(head -c 64000 /dev/zero | tr '\0' a)
{
    for i in 1 2 3; do echo "seq $i 100000; seq $i 30000 >&2"; done
    for i in 1 2; do echo ": $pad; echo long-$i; seq 1 50000"; done
    echo 'echo small'
} >"$T/lossy.txt"
mkdir -p "$T/expect"
n=0
while IFS= read -r cmd; do
    n=$((n + 1))
    mkdir -p "$T/expect/$n"
    (cd "$T" && sh -c "$cmd" >"$T/expect/$n/stdout" 2>"$T/expect/$n/stderr")
done <"$T/lossy.txt"

start_slave s-loss -j 2 --trace
SPID=$SLAVE_PID
start_chaos chaos "$SLAVE_PORT" --drop 20 --seed 14
echo "127.0.0.1 $CHAOS_PORT" >"$T/slaves-loss.conf"
start_master m-loss "$T/slaves-loss.conf" --trace
MPID=$MASTER_PID
wait_slaves_up m-loss 1 || bail "slave not up behind the lossy proxy: $(tail -5 "$T/m-loss.log")"
run_client -q --results "$T/res" "$T/lossy.txt"
is "$RC" 0 "loss: the batch ran (exit 0), --trace on"
differ=0
for i in $(seq 1 "$n"); do
    cmp -s "$T/res/$i/stdout" "$T/expect/$i/stdout" && cmp -s "$T/res/$i/stderr" "$T/expect/$i/stderr" || {
        differ=$((differ + 1))
        echo "# command $i: its result differs from the expected output" >&2
    }
done
is "$differ" 0 "loss: each of the $n results is byte-exact (stdout and stderr)"
stop_pid "$MPID"
stop_pid "$SPID"
stop_pid "$CHAOS_PID"
tap_from < <(python3 "$T/check.py" loss "$T/m-loss.log" "$T/s-loss.log" 2>&1)
echo "# proxy: $(grep -m1 'summary:' "$T/chaos.log")"

# ------------------------------------------------ 3. --simulate loss ---
# The teacher's way (no proxy, no root): --simulate loss=30% on both
# daemons. Each loss is a recv line dropped=simulated_loss; every datagram
# sent again is marked rto, fast or probe; the results are byte-exact.
start_slave s-sim -j 2 --trace --simulate loss=30%,seed=7
SPID=$SLAVE_PID
echo "127.0.0.1 $SLAVE_PORT" >"$T/slaves-sim.conf"
start_master m-sim "$T/slaves-sim.conf" --trace --simulate loss=30%,seed=8
MPID=$MASTER_PID
wait_slaves_up m-sim 1 || bail "slave not up under --simulate: $(tail -5 "$T/m-sim.log")"
rm -rf "$T/res"
run_client -q --results "$T/res" "$T/lossy.txt"
is "$RC" 0 "--simulate loss=30%: the batch ran (exit 0), --trace on"
differ=0
for i in $(seq 1 "$n"); do
    cmp -s "$T/res/$i/stdout" "$T/expect/$i/stdout" && cmp -s "$T/res/$i/stderr" "$T/expect/$i/stderr" ||
        differ=$((differ + 1))
done
is "$differ" 0 "--simulate loss=30%: each of the $n results is byte-exact"
stop_pid "$MPID"
stop_pid "$SPID"
for side in m-sim s-sim; do
    lost=$(grep -c ' recv udp .* dropped=simulated_loss$' "$T/$side.log")
    check "--simulate: $side's trace shows its simulated losses ($lost lines dropped=simulated_loss)" test "$lost" -gt 0
done
grep -v 'dropped=simulated_loss$' "$T/m-sim.log" >"$T/m-sim.kept"
grep -v 'dropped=simulated_loss$' "$T/s-sim.log" >"$T/s-sim.kept"
tap_from < <(python3 "$T/check.py" loss "$T/m-sim.kept" "$T/s-sim.kept" 2>&1 | sed -E 's/^((not )?ok )loss: /\1--simulate loss: /')

done_testing
