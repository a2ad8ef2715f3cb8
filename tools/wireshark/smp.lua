-- smp.lua - a Wireshark / tshark dissector for serveur multiprocesseurs
-- (doc/protocol.md; lib/proto.c is the reference: this file follows its codecs).
--
--   master <-> slave : UDP datagrams, format 6: [37-byte header][fields][payload]
--                      keyed (flags bit 1): all after the header sealed, a 16-byte tag ends it
--   client <-> master: TCP frames, version 4: [u32 length][u8 type][fields]
--                      keyed (HELLO/WELCOME flag AUTH): every later frame is
--                      [u32 length][sealed type || fields][16-byte tag]
--
-- Install and use: tools/wireshark/README.md. Every field is named for display
-- filters (smp.type == "RESULT", smp.job_id == 3) as --trace names its keys; a
-- malformed message is marked (expert info smp.malformed) and never raises a
-- Lua error. The protocol is "smpm": Wireshark's own "smp" (the Session
-- Multiplex Protocol) has the name.

local smp = Proto("smpm", "Serveur Multiprocesseurs")
-- the TCP side: a helper whose dissector reassembles frames; every item it
-- shows is of "smp"
local smp_tcp = Proto("smpm_tcp", "Serveur Multiprocesseurs TCP frames")

local DGRAM_MAGIC = 0x534D
local DGRAM_VERSION = 6
local DGRAM_HEADER_LEN = 37
local DGRAM_TAG_LEN = 16
local DGRAM_FLAG_AUTH = 1
local FRAG_MAX = 60000
local MAX_OUTPUT_CAP = 32 * 1024 * 1024
local FRAME_MAGIC = 0x534D5043
local FRAME_FLAG_AUTH = 1
local FRAME_SEAL_LEN = 16
local FRAME_MAX = 2 * MAX_OUTPUT_CAP + 4096 + 512 + FRAME_SEAL_LEN -- FRAME_MAX_FROM_MASTER, sealed
local RESULT_MESSAGE_MAX = 4096

local DG_TYPES = { "PING", "PONG", "JOB", "JOB_ACK", "RESULT", "RESULT_ACK", "CANCEL", "COOKIE", "LEAVING", "OUTPUT" }
local F_TYPES = { "HELLO", "WELCOME", "SUBMIT", "END", "RESULT", "NOTICE", "ERROR", "BYE", "READY", "ATTACH", "BATCH",
    "ACCEPTED", "ACK", "CANCEL", "DETACH", "BATCH_INFO", "COMMAND", "STARTED", "STATUS", "STATUS_SLAVE",
    "STATUS_BATCH", "STATUS_JOB", "OPTIONS", "OUTPUT" }
local JOB_STATES = { "RECEIVING", "RUNNING", "DONE", "GONE" }
local RUN_STATUSES = { [0] = "EXITED", "SIGNALED", "NOT_STARTED", "REJECTED", "TIMED_OUT", "NO_SLAVE", "CANCELLED" }
local BATCH_STATES = { "ATTACHED", "DETACHED", "ORPHANED", "FINISHED", "DELIVERED", "CANCELLED" }
local SLAVE_STATES = { "UP", "SUSPECT", "DEAD", "RETIRED" }
local STATUS_JOB_STATES = { "SENDING", "RUNNING", "RETURNING", "CANCELLING" }
local ATTACH_MODES = { [0] = "NEW", "RESUME", "LIST", "FOLLOW", "STATUS" }
local STREAMS = { "stdout", "stderr" }
local OPTION_KEYS = { "HALT", "JOBS", "DELAY", "FAIL_ATTEMPTS", "TIMEOUT_PCT", "LINE_BUFFER", "WD", "ENV",
    "JOBS_SLOTS", "DEADLINE", "PRIORITY", "ORDER" }
local JOBX_KEYS = { "STREAM", "WD", "ENV", "ORIGIN" }

local function name_of(names, v)
    return names[v] or tostring(v)
end

-- One field per name, for both transports: a name used by several messages
-- with several widths is declared at the widest (seq: a datagram's u64, a
-- frame's u32).
local F = {}
local is64 = {}
local function u8(n, d, b) F[n] = ProtoField.uint8("smp." .. n, d, b or base.DEC) end
local function u16(n, d, b) F[n] = ProtoField.uint16("smp." .. n, d, b or base.DEC) end
local function u32(n, d, b) F[n] = ProtoField.uint32("smp." .. n, d, b or base.DEC) end
local function u64(n, d, b) F[n] = ProtoField.uint64("smp." .. n, d, b or base.DEC); is64[F[n]] = true end
local function str(n, d) F[n] = ProtoField.string("smp." .. n, d) end
local function bytes(n, d) F[n] = ProtoField.bytes("smp." .. n, d) end

-- the datagram header, and what every message has
u32("magic", "Magic", base.HEX)
u16("version", "Version")
str("type", "Type")
u8("type_code", "Type number")
u16("flags", "Flags", base.HEX)
u64("sender_boot", "Sender boot id", base.HEX)
u64("receiver_boot", "Receiver boot id", base.HEX)
u64("seq", "Sequence number")
u64("job_id", "Job id")
u32("size", "Size on the wire (bytes)")
bytes("tag", "Tag")
bytes("encrypted", "Encrypted (sealed) body")
-- datagrams' fields
str("frag", "Fragment (I/N)")
u32("offset", "Offset")
u32("total", "Message total (bytes)")
u32("len", "Length (bytes)")
u16("frag_size", "Fragment size")
u32("cum", "Cumulative count")
u64("sack", "Selective ack bits", base.HEX)
str("state", "State")
u8("complete", "Complete")
u16("slots_free", "Free slots")
u16("slots_total", "Slots")
u64("echo_us", "Echoed clock (us)")
u64("floor", "Floor (job ids below are finished)")
u64("master_id", "Master identity", base.HEX)
u64("highest_job", "Highest job id taken")
u32("load_milli", "Load average (x1000)")
u16("cpus", "CPUs")
u64("mem_avail", "Available memory (bytes)")
u16("load_running", "Commands running (in the load)")
u64("mem_free", "Available memory (bytes)")
u32("weight_milli", "Weight (x1000)")
u8("slave_held", "Held back (1 load, 2 memfree)")
bytes("cookie", "Cookie")
bytes("eph_pub", "Ephemeral public key (X25519)")
u8("stream", "Stream")
bytes("payload", "Payload")
bytes("padding", "Padding")
u32("reassembled", "Reassembled message (bytes)")
u16("reassembled_frags", "Reassembled from fragments")
-- a job request (one-fragment JOB) and a result body (one-fragment RESULT, F_RESULT)
u32("timeout_ms", "Timeout (ms)")
u32("length", "Command length")
str("command", "Command")
F.ext_key = ProtoField.uint8("smp.ext_key", "Extension key", base.DEC, JOBX_KEYS)
u16("ext_len", "Extension length")
bytes("ext_value", "Extension value")
u32("origin_seq", "Origin: the client's command number") -- JOBX_ORIGIN: the slave console's [N]
str("origin_name", "Origin: the client's name")
str("wd", "Working directory") -- JOBX_WD
str("env", "Environment entry") -- JOBX_ENV
str("status", "Run status")
F.exit_code = ProtoField.int32("smp.exit_code", "Exit code")
u8("term_signal", "Signal")
u8("result_flags", "Result flags", base.HEX)
u64("start_ms", "Started (ms since 1970)")
u64("duration_us", "Duration (us)")
u32("stdout_len", "Stdout length")
str("stdout_data", "Stdout")
u32("stderr_len", "Stderr length")
str("stderr_data", "Stderr")
u32("message_len", "Message length")
str("message", "Message")
-- frames' fields (lib/proto.h's names)
u32("frame_len", "Frame length (type, fields, tag)")
u32("timeout", "Timeout (ms)")
u32("retries", "Retries")
bytes("nonce", "Nonce")
bytes("pub", "Public key (X25519)")
bytes("proof", "Proof")
u16("slaves", "Slaves")
u16("alive", "Alive")
u32("slots", "Slots")
u32("count", "Count")
u16("host_len", "Host length")
str("host", "Host")
str("text", "Text")
str("mode", "Mode")
u64("batch", "Batch id", base.HEX)
u32("have", "Results held")
u32("held_bits", "Held bits")
bytes("held", "Held")
u32("accepted", "Accepted")
u64("done", "Done")
u64("created_ms", "Created (ms since 1970)")
u32("submitted", "Submitted")
u32("running", "Running")
u32("queued", "Queued")
u64("failed", "Failed")
u16("name_len", "Name length")
str("name", "Name")
u32("index", "Index")
str("line", "Line")
u16("attempt", "Attempt")
u16("run", "Run")
u64("uptime_ms", "Uptime (ms)")
u64("journal_bytes", "Journal bytes")
u32("finished_window", "Finished in the window")
u16("window_s", "Window (s)")
u32("clients", "Clients")
u16("slaves_up", "Slaves up")
u32("batches", "Batches")
u32("jobs", "Jobs")
u64("cache_hits", "Cache hits")
u64("cache_misses", "Cache misses")
u64("cache_entries", "Cache entries")
u64("cache_bytes", "Cache bytes")
u64("cache_max_bytes", "Cache size (--cache-size)")
u64("cache_age_ms", "Cache age (--cache-age, ms)")
u64("finished", "Finished (by run status)")
str("status_version", "Master version")
u32("dispatched", "Dispatched")
u64("sent", "Datagrams sent")
u64("retransmitted", "Retransmitted")
u32("rtt_us", "Round trip (us)")
u64("last_heard_ms", "Last heard (ms ago)")
u16("load", "Load (hundredths)")
u64("started_ms", "Started (ms since 1970)")
u16("slave", "Slave index")
u64("running_ms", "Running (ms)")
str("client", "Client")
u8("option_key", "Option key")
u16("option_len", "Option length")
bytes("option_value", "Option value")
bytes("data", "Data")

local fields = {}
for _, f in pairs(F) do fields[#fields + 1] = f end
smp.fields = fields

local ef_malformed = ProtoExpert.new("smp.malformed", "Malformed message", expert.group.MALFORMED, expert.severity.ERROR)
local ef_encrypted = ProtoExpert.new("smp.sealed", "Sealed: fields encrypted", expert.group.SECURITY, expert.severity.NOTE)
smp.experts = { ef_malformed, ef_encrypted }

smp.prefs.udp_ports = Pref.range("UDP ports", "10001-10003", "UDP ports of the slaves (serveur_esclave PORT)", 65535)
smp.prefs.tcp_ports = Pref.range("TCP ports", "6000", "TCP ports of the masters (serveur_maitre PORT)", 65535)

-- ------------------------------------------------------------ reader ---
-- A bounded reader: a field that does not fit sets err and adds nothing,
-- so that no tvb access can throw (a Lua error would hide what is wrong).
local Reader = {}
Reader.__index = Reader

local function reader(tvb, off, len)
    return setmetatable({ tvb = tvb, pos = off, stop = off + len, err = nil }, Reader)
end

function Reader:left() return self.stop - self.pos end

function Reader:take(n)
    if self.err then return nil end
    if n > self:left() then
        self.err = "truncated"
        return nil
    end
    if n == 0 then return nil end
    local rg = self.tvb:range(self.pos, n)
    self.pos = self.pos + n
    return rg
end

local function add_num(tree, field, rg, v)
    if is64[field] and type(v) == "number" then v = UInt64(v) end
    return tree:add(field, rg, v)
end

-- an unsigned field of n bytes (1, 2, 4 or 8): its value (a number; 8
-- bytes: a UInt64), or nil
function Reader:uint(tree, field, n)
    local rg = self:take(n)
    if not rg then return nil end
    local v = n == 8 and rg:uint64() or rg:uint()
    if tree and field then add_num(tree, field, rg, v) end
    return v
end

-- n bytes as a field of its own (string or bytes); an empty one shown empty
function Reader:blob(tree, field, n)
    if n == 0 then return nil end -- nothing to show
    local rg = self:take(n)
    if rg and tree and field then tree:add(field, rg) end
    return rg
end

-- a named value (u8) shown as its name
function Reader:named(tree, field, names)
    local rg = self:take(1)
    if not rg then return nil end
    local v = rg:uint()
    tree:add(field, rg, name_of(names, v))
    return v
end

local function u64num(v) -- a UInt64 as a Lua number (exact up to 2^53)
    if type(v) == "number" then return v end
    return v:tonumber()
end

local function malformed(tree, pinfo, why)
    tree:add_proto_expert_info(ef_malformed, "Malformed: " .. why)
    pinfo.cols.info:append(" [Malformed: " .. why .. "]")
end

-- ------------------------------------------------------- bodies ---
-- A job request (doc/protocol.md 3.1): timeout, length, command, extensions.
local function job_request(r, tree)
    r:uint(tree, F.timeout_ms, 4)
    local n = r:uint(tree, F.length, 4)
    if not n then return end
    r:blob(tree, F.command, n)
    while not r.err and r:left() > 0 do
        local key = r:uint(tree, F.ext_key, 1)
        local len = r:uint(tree, F.ext_len, 2)
        local v = len and r:blob(tree, F.ext_value, len)
        -- what the slave reads in it, named (a bad one is the slave's to refuse)
        if v and key == 4 and len >= 4 then
            tree:add(F.origin_seq, v:range(0, 4))
            if len > 4 then tree:add(F.origin_name, v:range(4, len - 4)) end
        elseif v and key == 2 then
            tree:add(F.wd, v)
        elseif v and key == 3 then
            tree:add(F.env, v)
        end
    end
end

-- A result body (doc/protocol.md 3.2); returns an error or nil.
local function result_body(r, tree)
    local st = r:take(1)
    local status
    if st then
        status = st:uint()
        tree:add(F.status, st, name_of(RUN_STATUSES, status))
    end
    local ec = r:take(4)
    if ec then tree:add(F.exit_code, ec, ec:int()) end
    r:uint(tree, F.term_signal, 1)
    local flags = r:uint(tree, F.result_flags, 1)
    r:uint(tree, F.start_ms, 8)
    r:uint(tree, F.duration_us, 8)
    local lens = { { F.stdout_len, F.stdout_data, MAX_OUTPUT_CAP }, { F.stderr_len, F.stderr_data, MAX_OUTPUT_CAP },
        { F.message_len, F.message, RESULT_MESSAGE_MAX } }
    for _, l in ipairs(lens) do
        local n = r:uint(tree, l[1], 4)
        if n then
            if n > l[3] then return "a length over its maximum" end
            r:blob(tree, l[2], n)
        end
    end
    if r.err then return r.err end
    if status > 6 then return "unknown run status" end
    -- bit 3: from the master's cache (client --cache)
    if bit32.band(flags, bit32.bnot(15)) ~= 0 then return "unknown result flags" end
    return nil
end

-- ------------------------------------------------------ datagrams ---
-- A JOB or RESULT of several fragments, put together as lib/proto.c's
-- receiver does: by sender (address, port, boot id), job id and type, each
-- offset once (a retransmission adds nothing). The packet whose fragment
-- completes it shows it; 'completed' keeps that for later passes (the
-- Wireshark window dissects a packet again when it is clicked).
local partial = {}
local completed = {}
local REASSEMBLY_MAX = 2 * MAX_OUTPUT_CAP + 8192 -- RESULT_MAX_BYTES, and a margin

function smp.init()
    partial = {}
    completed = {}
end

-- The whole message (a ByteArray) and its fragment count if this fragment
-- completes it, else nil.
local function reassemble(pinfo, key, total, offset, fs, bytes)
    local done = completed[pinfo.number]
    if done then return done.msg, done.frags end
    if pinfo.visited or total > REASSEMBLY_MAX then return nil end
    local m = partial[key]
    -- a fragment that disagrees with the message begun under the key is dropped, as xfer_rx_add drops it
    -- (the receiver keeps the first total and fragment size; restarting lost what it assembles)
    if m and (m.total ~= total or m.fs ~= fs) then return nil end
    if not m then
        m = { total = total, fs = fs, got = 0, parts = {} }
        partial[key] = m
    end
    if m.parts[offset] then return nil end
    m.parts[offset] = bytes
    m.got = m.got + bytes:len()
    if m.got < total then return nil end
    local msg, frags = ByteArray.new(), 0
    for at = 0, total - 1, fs do
        msg:append(m.parts[at])
        frags = frags + 1
    end
    partial[key] = nil
    completed[pinfo.number] = { msg = msg, frags = frags }
    return msg, frags
end

local function dissect_dgram(tvb, pinfo, root)
    local n = tvb:len()
    pinfo.cols.protocol = "SMP"
    local tree = root:add(smp, tvb:range(0, n))
    tree:add(F.size, tvb:range(0, n), n):set_generated()
    local r = reader(tvb, 0, n)
    local info = "SMP"
    local function done(why)
        pinfo.cols.info = info
        if why then malformed(tree, pinfo, why) end
        return n
    end
    local magic = r:uint(tree, F.magic, 2)
    if magic and magic ~= DGRAM_MAGIC then return done("bad magic") end
    local version = r:uint(tree, F.version, 1)
    if version and version ~= DGRAM_VERSION then return done("unsupported version " .. version) end
    local trg = r:take(1)
    local typ
    if trg then
        typ = trg:uint()
        tree:add(F.type, trg, name_of(DG_TYPES, typ))
        tree:add(F.type_code, trg, typ)
        info = "SMP " .. name_of(DG_TYPES, typ)
        tree:append_text(", " .. name_of(DG_TYPES, typ))
    end
    local flags = r:uint(tree, F.flags, 1)
    local sender_boot = r:uint(tree, F.sender_boot, 8)
    r:uint(tree, F.receiver_boot, 8)
    local seq = r:uint(tree, F.seq, 8)
    local job_id = r:uint(tree, F.job_id, 8)
    if r.err then return done("truncated header") end
    info = info .. " seq=" .. tostring(seq)
    if u64num(job_id) ~= 0 then info = info .. " job_id=" .. tostring(job_id) end
    if bit32.band(flags, bit32.bnot(DGRAM_FLAG_AUTH)) ~= 0 then return done("unknown flags") end
    if bit32.band(flags, DGRAM_FLAG_AUTH) ~= 0 then
        if n < DGRAM_HEADER_LEN + DGRAM_TAG_LEN then return done("truncated (no room for the tag)") end
        if typ < 1 or typ > #DG_TYPES then return done("unknown type") end
        if n > DGRAM_HEADER_LEN + DGRAM_TAG_LEN then
            tree:add(F.encrypted, tvb:range(DGRAM_HEADER_LEN, n - DGRAM_HEADER_LEN - DGRAM_TAG_LEN))
        end
        tree:add(F.tag, tvb:range(n - DGRAM_TAG_LEN, DGRAM_TAG_LEN))
        tree:add_proto_expert_info(ef_encrypted)
        info = info .. " encrypted"
        return done(nil)
    end
    local why
    if typ == 1 or typ == 8 then -- PING, COOKIE
        r:uint(tree, F.echo_us, 8)
        if typ == 1 then r:uint(tree, F.floor, 8) end
        r:blob(tree, F.cookie, 16)
        if typ == 1 then r:uint(tree, F.master_id, 8) end
        r:blob(tree, F.eph_pub, 32)
    elseif typ == 2 then -- PONG
        r:uint(tree, F.echo_us, 8)
        local total = r:uint(tree, F.slots_total, 2)
        local free = r:uint(tree, F.slots_free, 2)
        r:uint(tree, F.highest_job, 8)
        r:blob(tree, F.eph_pub, 32)
        if not r.err and r:left() == 16 then -- the load fields (PING_WANTS_LOAD)
            r:uint(tree, F.load_milli, 4)
            r:uint(tree, F.cpus, 2)
            r:uint(tree, F.mem_avail, 8)
            r:uint(tree, F.load_running, 2)
        end
        if not r.err then info = info .. " slots=" .. free .. "/" .. total end
    elseif typ == 3 or typ == 5 then -- JOB, RESULT
        if typ == 3 then r:uint(tree, F.floor, 8) end
        local total = r:uint(tree, F.total, 4)
        local offset = r:uint(tree, F.offset, 4)
        local fs = r:uint(tree, F.frag_size, 2)
        if not r.err then
            local len = r:left()
            if len > 0 then
                local prg = tvb:range(r.pos, len)
                tree:add(F.len, prg, len):set_generated()
                tree:add(F.payload, prg)
            else
                tree:add(F.len, len):set_generated()
            end
            if fs == 0 or fs > FRAG_MAX or len == 0 or total == 0 or offset % fs ~= 0 or offset >= total or
                len ~= math.min(total - offset, fs) then
                why = "bad fragment bounds"
            else
                local frag = string.format("%d/%d", offset / fs + 1, math.ceil(total / fs))
                tree:add(F.frag, frag):set_generated()
                info = info .. " frag=" .. frag .. " offset=" .. offset .. " total=" .. total .. " len=" .. len
                local whole_tvb, whole_off, frags = tvb, r.pos, 1
                if offset ~= 0 or len ~= total then -- one of several: the last to come shows the message
                    local key = table.concat({ tostring(pinfo.src), pinfo.src_port, tostring(sender_boot),
                        tostring(job_id), typ }, " ")
                    local msg
                    msg, frags = reassemble(pinfo, key, total, offset, fs, tvb:bytes(r.pos, len))
                    whole_tvb = msg and msg:tvb(name_of(DG_TYPES, typ) .. " reassembled")
                    whole_off = 0
                end
                if whole_tvb then -- the whole message: decode it
                    if frags > 1 then
                        tree:add(F.reassembled, whole_tvb:range(0, total), total):set_generated()
                        tree:add(F.reassembled_frags, frags):set_generated()
                        info = info .. " [reassembled " .. total .. " bytes from " .. frags .. " fragments]"
                    end
                    local body = reader(whole_tvb, whole_off, total)
                    if typ == 3 then
                        job_request(body, tree)
                    else
                        result_body(body, tree)
                    end
                end
            end
            r.pos = r.stop
        end
    elseif typ == 4 or typ == 6 then -- JOB_ACK, RESULT_ACK
        if typ == 4 then
            r:named(tree, F.state, JOB_STATES)
        else
            r:uint(tree, F.complete, 1)
        end
        local cum = r:uint(tree, F.cum, 4)
        local sack = r:uint(tree, F.sack, 8)
        if typ == 4 then r:uint(tree, F.slots_free, 2) end
        if not r.err then info = info .. " cum=" .. cum .. " sack=0x" .. sack:tohex():gsub("^0+(.)", "%1") end
    elseif typ == 7 then -- CANCEL
        r:blob(tree, F.padding, 16)
    elseif typ == 9 then -- LEAVING: the header says it all
    elseif typ == 10 then -- OUTPUT
        local s = r:uint(tree, F.stream, 1)
        local offset = r:uint(tree, F.offset, 4)
        if not r.err then
            local len = r:left()
            if len > 0 then
                local prg = tvb:range(r.pos, len)
                tree:add(F.len, prg, len):set_generated()
                tree:add(F.payload, prg)
            else
                tree:add(F.len, len):set_generated()
            end
            r.pos = r.stop
            if s < 1 or s > 2 or len == 0 or len > FRAG_MAX or offset + len > MAX_OUTPUT_CAP then
                why = "bad output chunk"
            end
            info = info .. " offset=" .. offset .. " len=" .. len
        end
    else
        return done("unknown type " .. tostring(typ))
    end
    if why then return done(why) end
    if r.err then return done("truncated") end
    if r:left() ~= 0 then
        tree:add(F.padding, tvb:range(r.pos, r:left()))
        return done("trailing bytes")
    end
    if typ ~= 1 and typ ~= 2 and typ ~= 8 and typ ~= 9 and u64num(job_id) == 0 then return done("job id 0") end
    return done(nil)
end

smp.dissector = function(tvb, pinfo, root)
    return dissect_dgram(tvb, pinfo, root)
end

-- --------------------------------------------------------- frames ---
-- Per TCP connection: which end is the client, whether each direction is
-- sealed after its first frame (HELLO's and WELCOME's flag AUTH), and how
-- many frames each direction has had. Filled on the first pass, in
-- packet order; 'seen' keeps each frame's verdict for later passes.
local streams = {}
local seen = {}

function smp_tcp.init()
    streams = {}
    seen = {}
end

local function frame_fields(typ, r, tree, pinfo, info)
    local why
    local function text(flen, ffield, lenbytes)
        local n = r:uint(tree, flen, lenbytes)
        if n then return r:blob(tree, ffield, n) end
    end
    if typ == 1 then -- HELLO
        local magic = r:uint(tree, F.magic, 4)
        r:uint(tree, F.version, 2)
        if not r.err and magic ~= FRAME_MAGIC then return "bad magic" end
        local flags = r:uint(tree, F.flags, 2)
        r:uint(tree, F.timeout, 4)
        r:uint(tree, F.retries, 4)
        r:blob(tree, F.nonce, 32)
        if flags and bit32.band(flags, FRAME_FLAG_AUTH) ~= 0 then
            r:blob(tree, F.pub, 32)
            r:blob(tree, F.tag, 32)
        end
    elseif typ == 2 then -- WELCOME
        r:uint(tree, F.version, 2)
        r:uint(tree, F.slaves, 2)
        r:uint(tree, F.alive, 2)
        r:uint(tree, F.slots, 4)
        local flags = r:uint(tree, F.flags, 2)
        r:blob(tree, F.nonce, 32)
        if flags and bit32.band(flags, FRAME_FLAG_AUTH) ~= 0 then
            r:blob(tree, F.pub, 32)
            r:blob(tree, F.proof, 32)
        end
    elseif typ == 3 then -- SUBMIT
        local seq = r:uint(tree, F.seq, 4)
        if seq then
            info[#info + 1] = "seq=" .. seq
            tree:add(F.len, r:left()):set_generated()
            r:blob(tree, F.command, r:left())
        end
    elseif typ == 4 then -- END
        r:uint(tree, F.count, 4)
    elseif typ == 5 then -- RESULT
        local seq = r:uint(tree, F.seq, 4)
        if seq then info[#info + 1] = "seq=" .. seq end
        text(F.host_len, F.host, 2)
        if r.err then return r.err end
        why = result_body(r, tree)
        if why then return why end
        if r:left() ~= 0 then return "trailing bytes" end
    elseif typ == 6 or typ == 7 then -- NOTICE, ERROR
        text(F.len, F.text, 2)
    elseif typ == 8 or typ == 9 or typ == 15 then -- BYE, READY, DETACH: no fields
    elseif typ == 14 then -- CANCEL
        if r:left() > 0 then
            local rg = r:take(1)
            tree:add(F.mode, rg, rg:uint() == 1 and "QUEUED" or "ALL")
        end
    elseif typ == 10 then -- ATTACH
        r:named(tree, F.mode, ATTACH_MODES)
        r:uint(tree, F.batch, 8)
        r:uint(tree, F.have, 4)
        if not r.err and r:left() > 0 then
            local bits = r:uint(tree, F.held_bits, 4)
            if bits then r:blob(tree, F.held, math.floor((bits + 7) / 8)) end
        end
    elseif typ == 11 then -- BATCH
        r:uint(tree, F.batch, 8)
        r:uint(tree, F.flags, 1)
        r:uint(tree, F.accepted, 4)
        r:uint(tree, F.total, 4)
        r:uint(tree, F.done, 4)
    elseif typ == 12 or typ == 13 then -- ACCEPTED, ACK
        r:uint(tree, F.count, 4)
    elseif typ == 16 then -- BATCH_INFO
        r:uint(tree, F.batch, 8)
        r:uint(tree, F.created_ms, 8)
        r:named(tree, F.state, BATCH_STATES)
        r:uint(tree, F.submitted, 4)
        r:uint(tree, F.done, 4)
        r:uint(tree, F.running, 4)
        text(F.name_len, F.name, 2)
    elseif typ == 17 then -- COMMAND
        r:uint(tree, F.index, 4)
        local seq = r:uint(tree, F.seq, 4)
        if seq then
            info[#info + 1] = "seq=" .. seq
            tree:add(F.len, r:left()):set_generated()
            r:blob(tree, F.line, r:left())
        end
    elseif typ == 18 then -- STARTED
        local seq = r:uint(tree, F.seq, 4)
        if seq then info[#info + 1] = "seq=" .. seq end
        r:uint(tree, F.attempt, 2)
        text(F.host_len, F.host, 2)
        if not r.err and r:left() >= 2 then r:uint(tree, F.run, 2) end
    elseif typ == 19 then -- STATUS
        r:uint(tree, F.uptime_ms, 8)
        r:uint(tree, F.journal_bytes, 8)
        r:uint(tree, F.finished_window, 4)
        r:uint(tree, F.window_s, 2)
        r:uint(tree, F.flags, 1)
        r:uint(tree, F.clients, 4)
        r:uint(tree, F.queued, 4)
        r:uint(tree, F.running, 4)
        r:uint(tree, F.slots, 4)
        r:uint(tree, F.slaves, 2)
        r:uint(tree, F.slaves_up, 2)
        r:uint(tree, F.batches, 4)
        for _ = 1, 7 do r:uint(tree, F.finished, 8) end
        r:uint(tree, F.failed, 8)
        text(nil, F.status_version, 1)
        if not r.err and r:left() > 0 then r:uint(tree, F.jobs, 4) end
        if not r.err and r:left() > 0 then -- a master with the result cache
            for _, f in ipairs({ F.cache_hits, F.cache_misses, F.cache_entries, F.cache_bytes, F.cache_max_bytes,
                F.cache_age_ms }) do r:uint(tree, f, 8) end
        end
    elseif typ == 20 then -- STATUS_SLAVE
        r:named(tree, F.state, SLAVE_STATES)
        r:uint(tree, F.slots, 2)
        r:uint(tree, F.running, 4)
        r:uint(tree, F.dispatched, 4)
        r:uint(tree, F.done, 8)
        r:uint(tree, F.failed, 8)
        r:uint(tree, F.sent, 8)
        r:uint(tree, F.retransmitted, 8)
        r:uint(tree, F.rtt_us, 4)
        r:uint(tree, F.last_heard_ms, 8)
        r:uint(tree, F.load, 2)
        text(F.name_len, F.name, 2)
        if not r.err and r:left() > 0 then -- a master with load-aware dispatch
            r:uint(tree, F.mem_free, 8)
            r:uint(tree, F.cpus, 2)
            r:uint(tree, F.weight_milli, 4)
            r:uint(tree, F.slave_held, 1)
        end
    elseif typ == 21 then -- STATUS_BATCH
        r:uint(tree, F.batch, 8)
        r:uint(tree, F.started_ms, 8)
        r:named(tree, F.state, BATCH_STATES)
        r:uint(tree, F.flags, 1)
        r:uint(tree, F.submitted, 4)
        r:uint(tree, F.queued, 4)
        r:uint(tree, F.running, 4)
        r:uint(tree, F.done, 4)
        r:uint(tree, F.failed, 4)
        text(F.name_len, F.name, 2)
    elseif typ == 22 then -- STATUS_JOB
        r:uint(tree, F.slave, 2)
        r:named(tree, F.state, STATUS_JOB_STATES)
        r:uint(tree, F.batch, 8)
        local seq = r:uint(tree, F.seq, 4)
        if seq then info[#info + 1] = "seq=" .. seq end
        r:uint(tree, F.running_ms, 8)
        text(F.name_len, F.client, 2)
        text(F.len, F.command, 2)
    elseif typ == 23 then -- OPTIONS
        while not r.err and r:left() > 0 do
            local krg = r:take(1)
            tree:add(F.option_key, krg, krg:uint()):append_text(" (" .. name_of(OPTION_KEYS, krg:uint()) .. ")")
            local len = r:uint(tree, F.option_len, 2)
            if len then r:blob(tree, F.option_value, len) end
        end
    elseif typ == 24 then -- OUTPUT
        local seq = r:uint(tree, F.seq, 4)
        if seq then info[#info + 1] = "seq=" .. seq end
        r:uint(tree, F.attempt, 2)
        local s = r:uint(tree, F.stream, 1)
        local offset = r:uint(tree, F.offset, 4)
        if not r.err then
            local len = r:left()
            tree:add(F.len, len):set_generated()
            r:blob(tree, F.data, len)
            if s > 2 or (s == 0) ~= (len == 0) or len > FRAG_MAX or offset + len > MAX_OUTPUT_CAP then
                return "bad output chunk"
            end
        end
    else
        return "unknown type"
    end
    return r.err
end

-- One whole frame (dissect_tcp_pdus hands them over one by one).
local function dissect_frame(tvb, pinfo, root)
    local n = tvb:len()
    local tree = root:add(smp, tvb:range(0, n))
    local flen = tvb:range(0, 4):uint()
    tree:add(F.frame_len, tvb:range(0, 4), flen)
    tree:add(F.size, tvb:range(0, n), n):set_generated()

    -- this frame's place in its direction, and whether it is sealed
    local key = pinfo.number .. "/" .. tostring(pinfo.private.smp_pdu or 0)
    pinfo.private.smp_pdu = tostring((tonumber(pinfo.private.smp_pdu) or 0) + 1)
    local verdict = seen[key]
    if verdict == nil then
        -- the connection by its two ends (tcp.stream is not there when
        -- a first pass dissects without a tree)
        local src = tostring(pinfo.src) .. ":" .. pinfo.src_port
        local dst = tostring(pinfo.dst) .. ":" .. pinfo.dst_port
        local sid = src < dst and src .. " " .. dst or dst .. " " .. src
        local st = streams[sid]
        if not st then
            st = { counts = {}, sealed = {} }
            streams[sid] = st
        end
        local dir = src
        local index = st.counts[dir] or 0
        st.counts[dir] = index + 1
        verdict = index > 0 and st.sealed[dir] == true
        if index == 0 and n >= 5 + 8 then
            -- HELLO (magic, version, flags) or WELCOME (version..flags):
            -- their flag AUTH seals every later frame of this direction
            local t = tvb:range(4, 1):uint()
            if t == 1 and n >= 5 + 8 then
                st.sealed[dir] = bit32.band(tvb:range(11, 2):uint(), FRAME_FLAG_AUTH) ~= 0
            elseif t == 2 and n >= 5 + 12 then
                st.sealed[dir] = bit32.band(tvb:range(15, 2):uint(), FRAME_FLAG_AUTH) ~= 0
            end
        end
        seen[key] = verdict
    end

    local info = {}
    local why
    if flen < 1 or flen > FRAME_MAX then
        why = "frame length " .. flen .. " out of bounds"
    elseif verdict then
        if flen < 1 + FRAME_SEAL_LEN then
            why = "sealed frame too short for a tag"
        else
            tree:add(F.encrypted, tvb:range(4, flen - FRAME_SEAL_LEN))
            tree:add(F.tag, tvb:range(4 + flen - FRAME_SEAL_LEN, FRAME_SEAL_LEN))
            tree:add_proto_expert_info(ef_encrypted)
            tree:append_text(", encrypted")
            info[1] = "encrypted"
        end
    else
        local trg = tvb:range(4, 1)
        local typ = trg:uint()
        local tname = name_of(F_TYPES, typ)
        tree:add(F.type, trg, tname)
        tree:add(F.type_code, trg, typ)
        tree:append_text(", " .. tname)
        info[1] = tname
        local r = reader(tvb, 5, flen - 1)
        why = frame_fields(typ, r, tree, pinfo, info)
        if why and typ > #F_TYPES then why = "unknown type " .. typ end
    end
    local text = table.concat(info, " ")
    if tostring(pinfo.cols.protocol) ~= "SMP" then
        pinfo.cols.protocol = "SMP"
        pinfo.cols.info = "SMP " .. text
    else
        pinfo.cols.info:append(", " .. text)
    end
    if why then malformed(tree, pinfo, why) end
    return n
end

local function frame_len(tvb, pinfo, offset)
    local flen = tvb:range(offset, 4):uint()
    if flen < 1 or flen > FRAME_MAX then
        return tvb:len() - offset -- not our framing: the rest of the segment, shown malformed
    end
    return flen + 4
end

local function dissect_tcp(tvb, pinfo, root)
    pinfo.private.smp_pdu = "0"
    dissect_tcp_pdus(tvb, root, 4, frame_len, dissect_frame, true)
    return tvb:len()
end
smp_tcp.dissector = dissect_tcp

-- ---------------------------------------------------- registration ---
local udp_table = DissectorTable.get("udp.port")
local tcp_table = DissectorTable.get("tcp.port")
local udp_ports, tcp_ports = "", ""

local function register_ports()
    if udp_ports ~= "" then udp_table:remove(udp_ports, smp) end
    if tcp_ports ~= "" then tcp_table:remove(tcp_ports, smp_tcp) end
    udp_ports, tcp_ports = smp.prefs.udp_ports, smp.prefs.tcp_ports
    if udp_ports ~= "" then udp_table:add(udp_ports, smp) end
    if tcp_ports ~= "" then tcp_table:add(tcp_ports, smp_tcp) end
end

function smp.prefs_changed()
    register_ports()
end
register_ports()

-- Heuristics, for ports not in the preferences: a datagram with the magic
-- and the version; a TCP stream whose first frame is a HELLO (its magic).
-- Each claims the conversation, so that what follows it (a sealed frame,
-- a malformed datagram) is dissected too.
local function heur_udp(tvb, pinfo, root)
    if tvb:len() < 3 or tvb:range(0, 2):uint() ~= DGRAM_MAGIC or tvb:range(2, 1):uint() ~= DGRAM_VERSION then
        return false
    end
    pinfo.conversation = smp
    dissect_dgram(tvb, pinfo, root)
    return true
end

local function heur_tcp(tvb, pinfo, root)
    if tvb:len() < 9 or tvb:range(4, 1):uint() ~= 1 or tvb:range(5, 4):uint() ~= FRAME_MAGIC then
        return false
    end
    pinfo.conversation = smp_tcp
    -- the function itself: smp_tcp.dissector reads back as a dissector
    -- handle, whose call takes the right to ask TCP for more bytes (a frame
    -- over several segments was then cut short: a Lua error)
    dissect_tcp(tvb, pinfo, root)
    return true
end

smp:register_heuristic("udp", heur_udp)
smp_tcp:register_heuristic("tcp", heur_tcp)
