/*
 * trace.h - --trace: one line on stderr per datagram or frame sent or
 * received (doc/protocol.md "Reading a trace"), with the field names of
 * the Wireshark dissector (tools/wireshark/smp.lua, without "smp."):
 *
 *   trace HH:MM:SS.uuuuuu PROG DIR LINK PEER TYPE key=value ...
 *
 * Off by default: each call site costs one branch (if (trace_on) ...).
 */
#ifndef TRACE_H
#define TRACE_H

#include <stddef.h>
#include <stdint.h>

#include "proto.h"

/* Why a datagram is sent: decided by the code that sends it, passed down
 * to the one UDP path (endpoint_send). */
enum trace_why {
    WHY_FIRST = 1, /* first transmission */
    WHY_RTO,       /* retransmission by timeout */
    WHY_FAST,      /* fast retransmission: marked lost by a later SACK */
    WHY_PROBE,     /* a probe of a silent job or peer */
    WHY_REPLY,     /* an answer to what was received: acks, PONG, COOKIE */
    WHY_PING,      /* the periodic PING */
};
enum trace_dir { TRACE_SEND = 0, TRACE_RECV = 1 };

extern int trace_on;
/* --trace: lines from now on, PROG is prog ("client", "maitre", "esclave"). */
void trace_start(const char *prog);

/* A datagram of size bytes on the wire to or from peer; why on send
 * lines; dropped (NULL: none) on a recv line of one refused before it was
 * opened: d then holds what of its header decoded. */
void trace_dgram(enum trace_dir dir, const net_addr *peer, const dgram *d, size_t size, enum trace_why why,
                 const char *dropped);
/* A frame of type, its fields in the clear (before sealing, after
 * opening), size bytes on the wire (length prefix, body, tag). */
void trace_frame(enum trace_dir dir, const char *peer, uint8_t type, const breader *fields, size_t size);
/* The send line of the frame begun at start in w (frame_begin), all its
 * fields in, before it is closed: seal_len the tag it will get (0 or
 * FRAME_SEAL_LEN). */
void trace_frame_out(const char *peer, bwriter *w, size_t start, size_t seal_len);

#endif
