#!/usr/bin/env bash
# The live page (serveur_maitre --http, doc/monitoring.md "The live page"):
# headless Chromium renders the page a real master serves, with a batch
# running on 2 slaves of 2 slots, and the DOM it builds must name every
# slave, show the commands in their slots and the batch's progress, with
# command lines as text, never as markup; the page loads nothing from
# elsewhere. Then the same page against a small stub of status.json (in
# this file): the "unreachable" banner, the token (#token=), the 401 banner.
# SMP_SCREENSHOT=1 writes the screenshot to doc/monitoring-page.png.
. "$(dirname "$0")/lib.sh"

CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
[ -n "$CHROMIUM" ] || skip_all "chromium not installed (apt-get install chromium chromium-driver)"

# render URL OUT [chromium options]: the DOM after a few seconds of the
# page's (virtual) time, into OUT. The virtual time budget runs its
# timers and fetches at full speed; the resolver rule keeps Chromium off
# every name (nothing leaves loopback); a fresh profile each time.
render() {
    local url=$1 out=$2; shift 2
    rm -rf "$T/chrome"
    timeout 60 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --disable-dev-shm-usage --host-resolver-rules='MAP * ~NOTFOUND, EXCLUDE 127.0.0.1' \
        --user-data-dir="$T/chrome" --virtual-time-budget=5000 "$@" "$url" >"$out" 2>>"$T/chromium.err"
}

# The DOM Chromium dumps, summed up as JSON for dq: the slaves' boxes and
# their job cells, the batches' rows, the header, the banner.
cat >"$T/dom.py" <<'EOF'
import json, sys
from html.parser import HTMLParser
VOID = {'area', 'base', 'br', 'col', 'embed', 'hr', 'img', 'input', 'link', 'meta', 'source', 'track', 'wbr'}
class Node:
    def __init__(self, tag, attrs, parent):
        self.tag, self.attrs, self.parent, self.kids = tag, dict(attrs), parent, []
    def text(self):
        return ''.join(k if isinstance(k, str) else k.text() for k in self.kids)
    def walk(self):
        yield self
        for k in self.kids:
            if not isinstance(k, str):
                yield from k.walk()
    def cls(self):
        return (self.attrs.get('class') or '').split()
class P(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = self.cur = Node('#root', [], None)
    def handle_starttag(self, tag, attrs):
        n = Node(tag, attrs, self.cur)
        self.cur.kids.append(n)
        if tag not in VOID:
            self.cur = n
    def handle_startendtag(self, tag, attrs):
        self.cur.kids.append(Node(tag, attrs, self.cur))
    def handle_endtag(self, tag):
        n = self.cur
        while n is not None and n.tag != tag:
            n = n.parent
        if n is not None and n.parent is not None:
            self.cur = n.parent
    def handle_data(self, d):
        self.cur.kids.append(d)
p = P()
p.feed(open(sys.argv[1], encoding='utf-8').read())
nodes = list(p.root.walk())
by_id = {n.attrs['id']: n for n in nodes if 'id' in n.attrs}
def jobs(box):
    return [dict(seq=n.attrs.get('data-seq'), state=n.attrs.get('data-state'), text=n.text(),
                 tags=sorted({d.tag for d in n.walk()} - {'div', 'span'}))
            for n in box.walk() if n.attrs.get('class') == 'job']
out = dict(
    title=''.join(n.text() for n in nodes if n.tag == 'title'),
    smp='smp' in by_id,
    updated=by_id['updated'].text() if 'updated' in by_id else None,
    banner=by_id['banner'].text() if 'banner' in by_id else None,
    banner_on='on' in by_id['banner'].cls() if 'banner' in by_id else None,
    tiles={k: by_id[k].text() for k in ('slaves-up', 'slots', 'running', 'queued', 'version') if k in by_id},
    tags=sorted({n.tag for n in nodes}),
    slaves=[dict(name=n.attrs['data-slave'], state=n.attrs.get('data-state'), jobs=jobs(n))
            for n in nodes if 'data-slave' in n.attrs],
    jobs=len([n for n in nodes if n.attrs.get('class') == 'job']),
    batches=[dict(id=n.attrs['data-batch'],
                  cells={c.cls()[0]: c.text() for c in n.walk() if c.tag == 'td' and c.cls()},
                  bar=[(s.cls()[0], s.attrs.get('style', '')) for s in n.walk() if s.tag == 'span' and s.parent.cls() == ['bar']])
             for n in nodes if 'data-batch' in n.attrs],
)
json.dump(out, sys.stdout)
EOF
# dom FILE: the summary of a dumped DOM into $T/dom.json; dq EXPR: a
# Python expression over it (d), printed.
dom() { python3 "$T/dom.py" "$1" >"$T/dom.json" || echo '{}' >"$T/dom.json"; }
dq() { python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$T/dom.json" "$1"; }
# get URL OUT: the body into OUT, "STATUS CONTENT-TYPE" printed.
get() {
    python3 - "$1" "$2" <<'EOF'
import sys, urllib.request, urllib.error
try:
    r = urllib.request.urlopen(sys.argv[1], timeout=10)
except urllib.error.HTTPError as e:
    r = e
open(sys.argv[2], 'wb').write(r.read())
print(r.status, r.headers.get('Content-Type', ''))
EOF
}

# 1. Two slaves of 2 slots, a master with its monitoring on a free port.
http_cluster 2
URL=$HTTP_URL

# 2. The page as served: HTML, self-contained, its script parses.
got=$(get "$URL" "$T/page.html")
check "GET /: 200, text/html ($got)" grep -Eq '^200 text/html(;|$)' <<<"$got"
check "the page's root is id=smp" grep -q "id='smp'" "$T/page.html"
python3 - "$T/page.html" >"$T/external" <<'EOF'
import re, sys
page = open(sys.argv[1], encoding='utf-8').read()
bad = []
# every place a page names something to load, and what it names
for m in re.finditer(r'''(?:\b(?:src|href|action|poster|srcset|data)\s*=\s*|url\(|@import\s*|fetch\(|new\s+(?:URL|WebSocket|EventSource|Worker)\(|\.open\()\s*['"]?([^'")\s>]*)''', page, re.I):
    target = m.group(1)
    if re.match(r'(?i)([a-z][a-z0-9+.-]*:|//)', target) and not re.match(r'(?i)data:', target):
        bad.append(m.group(0))
bad += re.findall(r'(?i)\b(?:https?|wss?|ftp)://[^\s\'"<>]*', page)
bad += re.findall(r'''['"(=]\s*//[a-z0-9]''', page, re.I)
print('\n'.join(bad))
EOF
is "$(cat "$T/external")" "" "no external URL in the page (src, href, url(), @import, fetch, http(s)://, //host)"
check "status.json fetched by a relative URL" grep -q "fetch('status.json'" "$T/page.html"
if command -v node >/dev/null; then
    sed -n '/<script>/,/<\/script>/p' "$T/page.html" | sed '1d;$d' >"$T/page.js"
    check "the script parses (node --check)" node --check "$T/page.js"
else
    ok 0 "# SKIP node not installed: the script's syntax is not checked"
fi

# 3. A batch: 3 quick commands (one fails), then 4 sleeps on the 4 slots,
# two with markup in their command line. The quick ones take 0.1 s: a
# slave whose commands take under 50 ms gets a second one per slot,
# queued there (master/sched.c), and the sleeps would not spread evenly.
printf 'sleep 0.1\nsleep 0.1; echo hi\nsleep 0.1; exit 3\n' >"$T/batch.txt"
printf '%s\n' 'sleep 30 # <b>x</b>' 'sleep 30 # <img src=x onerror=document.title=1337>' 'sleep 30' 'sleep 30' >>"$T/batch.txt"
"$(prog client)" -q 127.0.0.1 "$MASTER_PORT" "$T/batch.txt" >"$T/batch.out" 2>&1 &
PIDS+=("$!")
q() { python3 -c 'import json, sys; j = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$T/st.json" "$1"; }
for _ in $(seq 1 100); do
    get "${URL}status.json" "$T/st.json" >/dev/null
    [ "$(q 'j["running"] == 4 and sum(b["done"] for b in j["batches"]) == 3' 2>/dev/null)" = True ] && break
    sleep 0.1
done
is "$(q 'j["running"]')/$(q 'len(j["batches"])')" "4/1" "status.json: 4 running, 1 batch"
BATCH=$(q 'j["batches"][0]["id"]')

# 4. The DOM Chromium builds from it.
render "$URL" "$T/dom.html" --dump-dom
dom "$T/dom.html"
is "$(dq 'd["smp"]')" True "rendered: the root id=smp"
check "updated: a time (a status.json was read): $(dq 'd["updated"]')" test "$(dq 'd["updated"].startswith("updated ")')" = True
is "$(dq 'd["banner_on"]')" False "no banner"
is "$(dq '" ".join(s["name"] for s in d["slaves"])')" "${NAMES[*]}" "a box per slave, data-slave its name, in slaves.conf order"
is "$(dq '" ".join(s["state"] for s in d["slaves"])')" "up up" "both up"
is "$(dq 'd["tiles"]["slaves-up"] + " " + d["tiles"]["slots"] + " " + d["tiles"]["running"]')" "2/2 4 4" \
    "the header: 2/2 slaves up, 4 slots, 4 running"
is "$(dq 'd["tiles"]["version"]')" "$("$(prog client)" --version | cut -d' ' -f2)" "the header: the master's version"
is "$(dq 'd["jobs"]')" 4 "4 cells class=\"job\""
is "$(dq '" ".join(str(len(s["jobs"])) for s in d["slaves"])')" "2 2" "2 in each slave's box"
is "$(dq 'sum("sleep 30" in j["text"] for s in d["slaves"] for j in s["jobs"])')" 4 "the 4 of them show 'sleep 30', each in a slave's box"
is "$(dq '" ".join(sorted(j["seq"] for s in d["slaves"] for j in s["jobs"]))')" "4 5 6 7" "data-seq: the sleeps' sequence numbers"
# each in the box of the slave status.json says it is on
is "$(dq '[sorted(j["seq"] for j in s["jobs"]) for s in d["slaves"]]')" \
    "$(q '[sorted(str(x["seq"]) for x in s["jobs"]) for s in j["slaves"]]')" "each command in its slave's box"
is "$(dq 'sum(("[" + j["seq"] + "]") in j["text"] and "'"${BATCH:0:8}"'" in j["text"] for s in d["slaves"] for j in s["jobs"])')" 4 \
    "each cell shows its batch's short id and [seq]"
# markup in a command line is text
is "$(dq 'sum("<b>x</b>" in j["text"] for s in d["slaves"] for j in s["jobs"])')" 1 "a command with <b>x</b> shows it as text"
is "$(dq 'sum("<img src=x onerror=document.title=1337>" in j["text"] for s in d["slaves"] for j in s["jobs"])')" 1 \
    "a command with <img onerror> shows it as text"
is "$(dq '[j["tags"] for s in d["slaves"] for j in s["jobs"] if j["tags"]]')" "[]" "no element in a job cell but div and span"
is "$(dq '"img" in d["tags"]')" False "no img element anywhere"
is "$(dq 'd["title"]')" "Serveur Multiprocesseurs" "the title is the page's (no onerror ran)"
# the batch's progress
is "$(dq '[b["id"] for b in d["batches"]]')" "['$BATCH']" "one batch row, data-batch its id"
is "$(dq '(lambda c: " ".join(c[k] for k in ("done", "failed", "running", "queued", "submitted", "pct")))(d["batches"][0]["cells"])')" \
    "3 1 4 0 7 42%" "its counts: 3 done, 1 failed, 4 running, 0 queued, of 7: 42%"
is "$(dq '[(k, s) for k, s in d["batches"][0]["bar"]]')" \
    "[('ok', 'width: 28.57%;'), ('fail', 'width: 14.29%;'), ('run', 'width: 57.14%;')]" \
    "its bar: 2 ok, 1 failed, 4 running of 7"

# 5. The screenshot: a PNG of the window's size, not a blank page.
SHOT=$T/monitoring-page.png
[ "${SMP_SCREENSHOT:-}" = 1 ] && SHOT=$TOP/doc/monitoring-page.png
rm -f "$SHOT"
render "$URL" /dev/null --window-size=1280,800 --screenshot="$SHOT"
is "$(python3 -c 'import struct, sys; b = open(sys.argv[1], "rb").read(24); print(b[:8] == b"\x89PNG\r\n\x1a\n", struct.unpack(">II", b[16:24]))' "$SHOT" 2>&1)" \
    "True (1280, 800)" "the screenshot is a 1280x800 PNG"
check "of a page with something on it ($(wc -c <"$SHOT") bytes)" test "$(wc -c <"$SHOT")" -gt 30000

# 6. The same page against a stub of status.json: MODE down (the
# connection closes unanswered), token (401 without the right Bearer),
# else a minimal status; every request's path and Authorization logged.
cat >"$T/stub.py" <<'EOF'
import json, sys
from http.server import HTTPServer, BaseHTTPRequestHandler
page = open(sys.argv[1], 'rb').read()
mode = lambda: open(sys.argv[2]).read().strip()
log = open(sys.argv[3], 'a')
ST = json.dumps({'version': 'stub', 'uptime_s': 1, 'slots': 0, 'slaves_up': 0, 'slaves_total': 0, 'running': 0, 'queued': 0,
                 'finished_total': 0, 'failed_total': 0, 'journal_bytes': None, 'slaves': [], 'batches': []}).encode()
class H(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass
    def reply(self, code, body, ctype):
        self.send_response(code)
        self.send_header('Content-Type', ctype)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        log.write('%s %s\n' % (self.path, self.headers.get('Authorization', '-')))
        log.flush()
        if self.path == '/':
            return self.reply(200, page, 'text/html; charset=utf-8')
        if self.path != '/status.json':
            return self.reply(404, b'', 'text/plain')
        m = mode()
        if m == 'down':
            self.close_connection = True
            return
        if m == 'token' and self.headers.get('Authorization') != 'Bearer s3cr3t':
            return self.reply(401, b'', 'text/plain')
        self.reply(200, ST, 'application/json')
s = HTTPServer(('127.0.0.1', 0), H)
print('stub on port %d' % s.server_address[1], flush=True)
s.serve_forever()
EOF
echo down >"$T/mode"
: >"$T/stub.req"
python3 "$T/stub.py" "$T/page.html" "$T/mode" "$T/stub.req" >"$T/stub.log" 2>&1 &
PIDS+=("$!")
line=$(wait_for_line "$T/stub.log" 'stub on port' 10) || bail "the stub did not start: $(cat "$T/stub.log")"
STUB=http://127.0.0.1:${line##* }/

render "$STUB" "$T/down.html" --dump-dom
dom "$T/down.html"
check "master down: 'master unreachable since HH:MM:SS' ($(dq 'd["banner"]'))" \
    test "$(dq '__import__("re").match("master unreachable since [0-9]{2}:[0-9]{2}:[0-9]{2}", d["banner"]) is not None and d["banner_on"]')" = True
check "it keeps retrying: $(grep -c '^/status.json' "$T/stub.req") requests in 5 s" test "$(grep -c '^/status.json' "$T/stub.req")" -ge 3
is "$(dq 'd["updated"]')" "not updated yet" "and shows no update"

echo token >"$T/mode"
: >"$T/stub.req"
render "$STUB" "$T/401.html" --dump-dom
dom "$T/401.html"
is "$(dq 'd["banner"]')" "this master needs a token: open /#token=..." "401: 'this master needs a token'"
: >"$T/stub.req"
render "${STUB}#token=s3cr3t" "$T/token.html" --dump-dom
dom "$T/token.html"
is "$(dq 'd["banner_on"]')/$(dq 'd["tiles"]["version"]')" "False/stub" "#token=s3cr3t: no banner, the status shown"
check "every status.json request carried 'Authorization: Bearer s3cr3t'" \
    test "$(grep '^/status.json' "$T/stub.req" | sort -u)" = "/status.json Bearer s3cr3t"
is "$(cut -d' ' -f1 "$T/stub.req" | sort -u | tr '\n' ' ')" "/ /status.json " "the page asked for nothing but / and status.json"

done_testing
