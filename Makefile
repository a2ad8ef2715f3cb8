# Serveur multiprocesseurs: client, serveur_maitre, serveur_esclave.
#   make            build the three programs here
#   make test       unit tests + black-box tests of the real programs
#   make demo       3 slaves + a master on loopback, a client run, then stop
#   make bench      speed and memory against xargs -P measured in the same run
#   make install    PREFIX=/usr/local DESTDIR=

CC ?= cc
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
WARN = -Wall -Wextra
# User CFLAGS are added to ours, not replacing them.
override CFLAGS := -std=c11 -O2 -g $(WARN) $(CFLAGS)

COMMON = buf.o dedup.o proto.o xfer.o log.o platform_posix.o cli.o conf.o
SLAVE = serveur_esclave.o slave.o runner_posix.o
MASTER = serveur_maitre.o master.o
CLIENT = client.o report.o
PROGRAMS = client serveur_maitre serveur_esclave
UNIT_TESTS = tests/unit_codec tests/unit_xfer tests/unit_conf

all: $(PROGRAMS)

client: $(CLIENT) $(COMMON)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)
serveur_maitre: $(MASTER) $(COMMON)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)
serveur_esclave: $(SLAVE) $(COMMON)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

%.o: %.c
	$(CC) $(CFLAGS) $(CPPFLAGS) -MMD -MP -c -o $@ $<

tests/unit_%: tests/unit_%.c $(COMMON) report.o
	$(CC) $(CFLAGS) -I. -o $@ $^ $(LDLIBS)

-include *.d tests/*.d

test: all $(UNIT_TESTS) tests/udp_chaos
	prove -v tests/*.t

tests/udp_chaos: tests/udp_chaos.c $(COMMON)
	$(CC) $(CFLAGS) -I. -o $@ $^ $(LDLIBS)

demo: all
	./tests/demo.sh

bench: all
	./bench/run.sh

install: all
	install -d $(DESTDIR)$(BINDIR)
	install -m 755 $(PROGRAMS) $(DESTDIR)$(BINDIR)

clean:
	rm -f $(PROGRAMS) *.o *.d tests/*.o tests/*.d $(UNIT_TESTS) tests/udp_chaos

.PHONY: all test demo bench install clean
