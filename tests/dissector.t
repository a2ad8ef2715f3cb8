#!/usr/bin/env bash
# The Wireshark dissector, tools/wireshark/smp.lua (issue 14): a real run on
# loopback is captured (tcpdump, in a network namespace of the test's own),
# decoded by tshark with the dissector, and every datagram and frame
# compared field by field with an independent decoding of the same capture
# (tests/dissector_check.py: dgram_tool.py's and frame_tool.py's codecs,
# TCP reassembled in Python), and with the programs' --trace lines once
# they have --trace. Also: a 1 MiB RESULT frame over many segments decoded
# once, complete; several frames in one segment; malformed datagrams shown
# as malformed (expert info), never as a Lua error; the heuristics (ports
# not in the preferences) and the port preferences; a keyed run shows the
# datagrams' clear header, HELLO and WELCOME, and the rest as encrypted.
PRIVATE_NETNS=1 # a loopback of our own: only this test's packets are captured
. "$(dirname "$0")/lib.sh"

command -v tcpdump >/dev/null || skip_all "needs tcpdump (apt-get install tcpdump)"
command -v tshark >/dev/null || skip_all "needs tshark (apt-get install tshark)"
LUA=$TOP/tools/wireshark/smp.lua
CHECK=$TOP/tests/dissector_check.py
tshark -v 2>/dev/null | grep -qi 'with Lua' || skip_all "this tshark has no Lua: $(tshark -v 2>&1 | head -1)"
tshark -G fields -X lua_script:"$LUA" 2>"$T/load.err" | grep -q $'\tsmp.job_id\t' ||
    bail "$LUA does not load: $(grep -v '^Running as' "$T/load.err" | head -c 500)"

# --trace on every program: the comparison below
TRACE=(--trace)

LONG=$(head -c 61000 /dev/zero | tr '\0' y)
{
    echo 'echo hello'
    echo "echo $LONG | wc -c" # a command of 61 KB: a JOB of two fragments, a SUBMIT over two segments
    echo 'echo oops >&2; exit 3'
    echo "head -c 1048576 /dev/zero | tr '\\0' x" # 1 MiB of output: one RESULT frame over many segments
    echo 'false'
} >"$T/cmds.txt"
printf 'echo a; sleep 0.3; echo b\n' >"$T/stream.txt" # --line-buffer: OUTPUT datagrams and frames

# run NAME [key options]: 2 slaves, a master, two clients (the commands,
# then a --line-buffer one), all captured; the daemons are stopped before
# the capture ends (their LEAVING is in it)
run() {
    local name=$1 i
    shift
    capture_start "$name"
    : >"$T/$name.conf"
    SPORTS=()
    for i in 1 2; do
        start_slave "$name-s$i" -j 2 "${TRACE[@]}" "$@"
        echo "127.0.0.1 $SLAVE_PORT" >>"$T/$name.conf"
        SPORTS+=("$SLAVE_PORT")
    done
    start_master "$name-m" "$T/$name.conf" --ephemeral "${TRACE[@]}" "$@"
    wait_slaves_up "$name-m" 2 || bail "$name: slaves not up: $(cat "$T/$name-m.log")"
    run_client -k --progress "${TRACE[@]}" "$@" "$T/cmds.txt"
    RC1=$RC
    cp "$T/out" "$T/$name-c1.out"
    cp "$T/err" "$T/$name-c1.err"
    run_client --line-buffer "${TRACE[@]}" "$@" "$T/stream.txt"
    RC2=$RC
    cp "$T/out" "$T/$name-c2.out"
    cp "$T/err" "$T/$name-c2.err"
    run_client "$@" --status # STATUS, STATUS_SLAVE frames
    STATUS_RC=$RC
    run_client "$@" --batches # ATTACH list, BATCH_INFO (none: an ephemeral master keeps no batch)
    if [ "$name" = plain ]; then # one malformed datagram of each kind, to a slave
        python3 "$TOP/tests/dgram_tool.py" malformed "${SPORTS[0]}" >"$T/malformed.out"
        echo 'echo still' >"$T/still.txt"
        run_client "$T/still.txt" # the slaves still serve (and the datagrams have arrived before)
        STILL=$RC/$(cat "$T/out")
    fi
    stop_all_but_capture
    capture_stop
    MPORT=$MASTER_PORT
}
stop_all_but_capture() {
    local p list=("${PIDS[@]}")
    for p in "${list[@]}"; do [ "$p" != "$CAP_PID" ] && stop_pid "$p"; done
}

# decode NAME OUT [tshark options]: tshark -T json of NAME's capture;
# TSHARK_RC, and its stderr in OUT.err
decode() {
    local name=$1 out=$2
    shift 2
    TSHARK_RC=0
    tshark -X lua_script:"$LUA" "$@" -r "$T/$name.pcap" -T json --no-duplicate-keys >"$out" 2>"$out.err" || TSHARK_RC=$?
    grep -v '^Running as user' "$out.err" >"$out.err2"
}
# field NAME FILTER FIELD [tshark options]: the FIELD values of the packets FILTER shows
field() {
    local name=$1 filter=$2 f=$3
    shift 3
    tshark -X lua_script:"$LUA" "$@" -r "$T/$name.pcap" -Y "$filter" -T fields -e "$f" -E occurrence=a 2>/dev/null
}
no_lua_error() { ! grep -qiE 'lua ?error|lua:.*error|attempt to|stack traceback' "$1" "$1.err"; }
summary() { python3 "$CHECK" compare "$T/$1.pcap" "$2" >"$2.check" 2>&1; grep '^#' "$2.check" | head -20 >&2; }
get() { sed -nE "s/.*(^| )$2 ([0-9]+).*/\\2/p" "$1.check" | head -1; }

# ---------------------------------------------------------------- keyless
run plain
is "$RC1/$(head -1 "$T/plain-c1.out")" "2/hello" "the run works (exit 2: commands failed)"
is "$(awk 'length($0) == 1048576 && /^x+$/' "$T/plain-c1.out" | wc -l)" 1 "... and its 1 MiB output came whole"
is "$RC2/$(tr '\n' ' ' <"$T/plain-c2.out")" "0/a b " "the --line-buffer run works"
is "$STILL" "0/still" "the slave still serves after the malformed datagrams"
is "$STATUS_RC" 0 "client --status works"
check "tcpdump lost nothing" grep -q '^0 packets dropped by kernel' "$T/plain.tcpdump"
PREFS=(-o "smpm.udp_ports:${SPORTS[0]},${SPORTS[1]}" -o "smpm.tcp_ports:$MPORT")
NOHEUR=(--disable-heuristic smpm_udp --disable-heuristic smpm_tcp_tcp)

# by the port preferences alone (heuristics off)
decode plain "$T/ports.json" "${PREFS[@]}" "${NOHEUR[@]}"
is "$TSHARK_RC/$(head -c 300 "$T/ports.json.err2")" "0/" "tshark exits 0, nothing on its stderr"
check "no Lua error anywhere" no_lua_error "$T/ports.json"
summary plain "$T/ports.json"
cat "$T/ports.json.check" | grep -v '^#' | sed 's/^/# /'
is "$(get "$T/ports.json" mismatches)" 0 "every field of every datagram and frame as the independent decoding has it"
is "$(get "$T/ports.json" unclaimed)" 0 "every datagram dissected (by the port preference)"
check "datagrams compared: $(get "$T/ports.json" datagrams) (at least 40)" test "$(get "$T/ports.json" datagrams)" -ge 40
check "frames compared: $(get "$T/ports.json" frames) (at least 20)" test "$(get "$T/ports.json" frames)" -ge 20
types=$(grep '^types ' "$T/ports.json.check")
for t in PING PONG COOKIE JOB JOB_ACK RESULT RESULT_ACK OUTPUT LEAVING F_HELLO F_WELCOME F_SUBMIT F_END F_RESULT F_OUTPUT F_BYE \
    F_STARTED F_STATUS F_STATUS_SLAVE; do
    check "... among them $t" grep -qE "(^| )$t=[1-9]" <<<"$types"
done
is "$(grep '^malformed-why' "$T/ports.json.check")" \
    "malformed-why bad_fragment_bounds=1 trailing_bytes=1 truncated_header=1 unsupported_version=1" \
    "the 4 malformed datagrams, each for its reason"
is "$(field plain 'smp.malformed' frame.number "${PREFS[@]}" | wc -l)" 4 "shown as malformed (expert info smp.malformed): 4 packets"
is "$(field plain 'smp.malformed' _ws.expert.message "${PREFS[@]}" | sed 's/ [0-9]*$//' | sort | tr '\n' ';')" \
    "Malformed: bad fragment bounds;Malformed: trailing bytes;Malformed: truncated header;Malformed: unsupported version;" \
    "... each naming what is wrong"
is "$(field plain 'smp.malformed' _ws.expert.group "${PREFS[@]}" | sort -u)" "$((0x07000000))" "... in the expert group Malformed"
is "$(field plain '_ws.malformed' frame.number "${PREFS[@]}" | wc -l)" 4 "... so _ws.malformed shows them, and no other packet"
res=$(field plain 'smp.type == "RESULT" && smp.frame_len' smp.type "${PREFS[@]}")
is "$(grep -vc RESULT <<<"$res")/$(tr , '\n' <<<"$res" | grep -c '^RESULT$')" "0/7" \
    "display filter smp.type == \"RESULT\": the packets of the 7 RESULT frames (one per command), no other"
big=$(field plain 'smp.frame_len && smp.stdout_len == 1048576' frame.number "${PREFS[@]}")
is "$(echo "$big" | grep -c .)" 1 "the 1 MiB RESULT frame decoded once"
segs=$(field plain "frame.number == ${big:-0}" tcp.segment.count "${PREFS[@]}")
check "... reassembled from $segs TCP segments (at least 8)" test "${segs:-0}" -ge 8
hl=$(field plain "frame.number == ${big:-0}" smp.host_len "${PREFS[@]}" | cut -d, -f1)
is "$(field plain "frame.number == ${big:-0}" smp.size "${PREFS[@]}" | cut -d, -f1)" "$((4 + 1 + 4 + 2 + ${hl:-0} + 23 + 4 + 1048576 + 4 + 4))" \
    "... complete: its smp.size is the whole frame"
multi=$(field plain 'smp.frame_len' smp.frame_len "${PREFS[@]}" | grep -c ,)
check "several frames in one segment: $multi packets show more than one" test "$multi" -ge 1
is "$(field plain 'smp.command == "echo hello"' smp.type "${PREFS[@]}" | sed -E 's/.*SUBMIT.*/SUBMIT/' | sort -u | tr '\n' ' ')" "JOB SUBMIT " \
    "display filter smp.command: the SUBMIT frame and the JOB datagram (its request decoded) of 'echo hello'"

# a JOB and a RESULT of several fragments: the packet whose fragment
# completes each shows the message whole, once, in one pass or two
for pass in 1 2; do
    popt=()
    [ $pass = 2 ] && popt=(-2)
    bigdg=$(field plain '!smp.frame_len && smp.type == "RESULT" && smp.stdout_len == 1048576' frame.number "${PREFS[@]}" "${popt[@]}")
    is "$(echo "$bigdg" | grep -c .)" 1 "pass $pass: the 1 MiB result's datagrams reassembled, shown whole by one packet"
    got=$(field plain "frame.number == ${bigdg:-0}" smp.reassembled_frags "${PREFS[@]}" "${popt[@]}")/$(
        field plain "frame.number == ${bigdg:-0}" smp.reassembled "${PREFS[@]}" "${popt[@]}")/$(
        field plain "frame.number == ${bigdg:-0}" smp.status "${PREFS[@]}" "${popt[@]}")/$(
        field plain "frame.number == ${bigdg:-0}" smp.exit_code "${PREFS[@]}" "${popt[@]}")
    is "$got" "18/$((1 + 4 + 1 + 1 + 8 + 8 + 4 + 1048576 + 4 + 4))/EXITED/0" \
        "... from its 18 fragments, the whole body (its length), its status and exit code"
    is "$(field plain "frame.number == ${bigdg:-0}" smp.stdout_data "${PREFS[@]}" "${popt[@]}" | awk 'length($0) == 1048576 && /^x+$/' | wc -l)" 1 \
        "... and its stdout, 1 MiB of x, as the client printed it"
    is "$(field plain '!smp.frame_len && smp.type == "JOB" && smp.reassembled' smp.command "${PREFS[@]}" "${popt[@]}")" "echo $LONG | wc -c" \
        "pass $pass: the JOB of a 61 KB command reassembled, its command whole"
done
is "$(grep -c '^61001$' "$T/plain-c1.out")" 1 "... (the command ran: its output)"
nfrag=$(field plain '!smp.frame_len && smp.type == "RESULT" && smp.frag && !smp.status' frame.number "${PREFS[@]}" | wc -l)
check "... the other fragments show no body: $nfrag RESULT datagrams (at least 17)" test "$nfrag" -ge 17

# without the port preferences and heuristics: not ours (the preference is what did it)
is "$(field plain 'smpm' frame.number "${NOHEUR[@]}" | wc -l)" 0 "without the port preferences and the heuristics nothing is dissected"

# heuristics alone: ports not in the preference list
decode plain "$T/heur.json" -o udp.try_heuristic_first:TRUE -o tcp.try_heuristic_first:TRUE
is "$TSHARK_RC/$(head -c 300 "$T/heur.json.err2")" "0/" "heuristics: tshark exits 0, nothing on its stderr"
check "... no Lua error" no_lua_error "$T/heur.json"
summary plain "$T/heur.json"
is "$(get "$T/heur.json" mismatches)" 0 "heuristics: every field as the independent decoding has it"
is "$(get "$T/heur.json" unclaimed)" 1 "... every datagram dissected but the one of another version (the heuristic asks for version 6)"
is "$(get "$T/heur.json" frames)" "$(get "$T/ports.json" frames)" "... every frame (the HELLO's magic)"

# mutated datagrams and frames (cut, flipped, overwritten): each shown as
# the independent decoding has it, malformed for the reason it gives, and
# never a Lua error
python3 "$CHECK" fuzz "$T/plain.pcap" "$T/fuzz.pcap" 14 1000 | sed 's/^/# fuzz: /'
decode fuzz "$T/fuzz.json" -o smpm.udp_ports:5555 -o smpm.tcp_ports:6000
is "$TSHARK_RC/$(head -c 300 "$T/fuzz.json.err2")" "0/" "1000 mutated datagrams, 250 connections with a mutated frame: tshark exits 0, nothing on its stderr"
check "... no Lua error" no_lua_error "$T/fuzz.json"
python3 "$CHECK" compare "$T/fuzz.pcap" "$T/fuzz.json" --datagrams-only >"$T/fuzz.json.check" 2>&1
grep '^#' "$T/fuzz.json.check" | head -20 >&2
grep -v '^#' "$T/fuzz.json.check" | sed 's/^/# /'
is "$(get "$T/fuzz.json" mismatches)/$(get "$T/fuzz.json" unclaimed)" "0/0" "... every datagram dissected, each field and each malformed reason as the independent decoding has them"
check "... $(get "$T/fuzz.json" malformed) of them malformed (at least 500)" test "$(get "$T/fuzz.json" malformed)" -ge 500
hellos=$(field fuzz 'smp.type == "HELLO"' frame.number -o smpm.tcp_ports:6000 | wc -l)
check "... every connection's HELLO decoded: $hellos (250, and the mutated frames that are HELLOs)" test "$hellos" -ge 250

# --trace: the programs' view of the same run
python3 "$CHECK" trace "$T/plain.pcap" "$T/plain-m.log" "$T/plain-s1.log" "$T/plain-s2.log" \
    "$T/plain-c1.err" "$T/plain-c2.err" >"$T/trace.check" 2>&1
grep '^#' "$T/trace.check" | head -20 >&2
last=$(tail -1 "$T/trace.check")
echo "# $last"
is "$(echo "$last" | sed -nE 's/.*mismatches ([0-9]+)$/\1/p')" 0 "--trace: every datagram and frame as the trace lines have it"
check "... trace lines compared: $last" grep -qE '^datagrams [1-9][0-9]* lines [1-9][0-9]* frames [1-9][0-9]* lines [1-9]' <<<"$last"

# ----------------------------------------------------------------- keyed
(umask 077; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T/key")
run keyed --key-file "$T/key"
is "$RC1/$(head -1 "$T/keyed-c1.out")" "2/hello" "keyed: the run works"
KPREFS=(-o "smpm.udp_ports:${SPORTS[0]},${SPORTS[1]}" -o "smpm.tcp_ports:$MPORT")
decode keyed "$T/keyed.json" "${KPREFS[@]}"
is "$TSHARK_RC/$(head -c 300 "$T/keyed.json.err2")" "0/" "keyed: tshark exits 0, nothing on its stderr"
check "... no Lua error" no_lua_error "$T/keyed.json"
summary keyed "$T/keyed.json"
is "$(get "$T/keyed.json" mismatches)" 0 "keyed: the clear header of every datagram, the length of every frame as decoded independently"
is "$(get "$T/keyed.json" sealed)" "$(( $(get "$T/keyed.json" datagrams) + $(get "$T/keyed.json" frames) - 8 ))" \
    "... everything sealed but HELLO and WELCOME (4 connections: the commands, --line-buffer, --status, --batches)"
is "$(field keyed 'smp.frame_len && smp.type' smp.type "${KPREFS[@]}" | sort | uniq -c | awk '{print $2 "=" $1}' | tr '\n' ' ')" "HELLO=4 WELCOME=4 " \
    "... only HELLO and WELCOME show a frame type"
# two passes (as Wireshark's GUI: the first without a tree) decode the same
decode keyed "$T/keyed2.json" -2 "${KPREFS[@]}"
summary keyed "$T/keyed2.json"
is "$TSHARK_RC/$(get "$T/keyed2.json" mismatches)/$(get "$T/keyed2.json" sealed)" "0/0/$(get "$T/keyed.json" sealed)" \
    "keyed, tshark -2: the same frames sealed, the same fields"
nres=$(field keyed 'smp.type == "RESULT" && !smp.frame_len' frame.number "${KPREFS[@]}" | wc -l)
is "$(field keyed 'smp.encrypted && smp.type == "RESULT" && !smp.frame_len' frame.number "${KPREFS[@]}" | wc -l)" "$nres" \
    "... every RESULT datagram ($nres) encrypted past its header"
check "... (at least 18 of them: the 1 MiB output)" test "$nres" -ge 18
is "$(field keyed 'smp.stdout_len || smp.command || smp.cum || smp.payload' frame.number "${KPREFS[@]}" | wc -l)" 0 "... no field of a sealed body shown"

# Fragments that disagree with the message begun under their key (another
# total, another fragment size) are dropped, as the receiver (xfer_rx_add)
# drops them: the message it assembles is the one shown.
python3 - "$T/conflict.pcap" <<'PY'
import struct, sys
def dg(job, total, off, fs, payload):
    return struct.pack(">HBBBQQQQ", 0x534D, 6, 5, 0, 7, 9, 1, job) + struct.pack(">IIH", total, off, fs) + payload
body = struct.pack(">BiBBQQ", 0, 0, 0, 0, 0, 1000) + struct.pack(">I", 2965) + b"o" * 2965 + struct.pack(">II", 0, 0)
assert len(body) == 3000
pk = [dg(1, 3000, 0, 1000, body[:1000]), dg(1, 2500, 1000, 1000, b"b" * 1000), dg(1, 3000, 1500, 1500, b"c" * 1500),
      dg(1, 3000, 1000, 1000, body[1000:2000]), dg(1, 3000, 2000, 1000, body[2000:])]
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
    for i, p in enumerate(pk):
        udp = struct.pack(">HHHH", 5555, 40000, 8 + len(p), 0) + p
        ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, b"\x7f\0\0\1", b"\x7f\0\0\2") + udp
        fr = b"\x02" * 6 + b"\x02" * 6 + b"\x08\x00" + ip
        f.write(struct.pack("<IIII", i, 0, len(fr), len(fr)) + fr)
PY
is "$(field conflict 'smp.reassembled' frame.number -o smpm.udp_ports:5555)" 5 \
    "fragments of another total or size under one key dropped: the message is reassembled by its last fragment"
is "$(field conflict 'smp.reassembled' smp.stdout_len -o smpm.udp_ports:5555)" 2965 "... and decoded whole"
decode conflict "$T/conflict.json" -o smpm.udp_ports:5555
check "... no Lua error" no_lua_error "$T/conflict.json"

done_testing
