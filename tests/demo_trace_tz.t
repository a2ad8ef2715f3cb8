#!/usr/bin/env bash
# demo_trace_tz.t: make demo-trace on a machine whose time zone is east of UTC
# (Europe/Paris: every French classroom) prints an empty "the same run on
# the wire" section. one-command.sh cuts the capture with tshark's
# frame.time <= "DATE $ended", $ended from date -u, but tshark reads that
# literal as local time: east of UTC every packet is "later" and none is
# shown; west of UTC the cut lets the stop's datagrams (LEAVING) in.
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || skip_all "the capture needs root"
command -v tshark >/dev/null && command -v tcpdump >/dev/null || skip_all "no tshark or tcpdump"
[ -e /usr/share/zoneinfo/Europe/Paris ] || skip_all "no tzdata"
for tz in UTC Europe/Paris America/New_York; do
    TZ=$tz MPORT=0 SPORT=0 SMP_BIN="$BIN" timeout 60 "$TOP/examples/one-command.sh" >"$T/out" 2>&1 ||
        bail "one-command.sh failed: $(tail -5 "$T/out")"
    sed -n '/the same run on the wire/,$p' "$T/out" >"$T/wire"
    check "TZ=$tz: the capture's view shows the JOB" grep -q 'SMP JOB seq=' "$T/wire"
    check "TZ=$tz: and not the stop's LEAVING" sh -c "! grep -q LEAVING '$T/wire'"
done
done_testing
