# Serveur multiprocesseurs: client, serveur_maitre, serveur_esclave.
#   make                build the three programs here
#   make test           unit tests + black-box tests of the real programs
#   make test-sanitize  the same suite built with ASan + UBSan (in build/asan/)
#   make test-valgrind  black-box tests under valgrind memcheck
#   make soak           randomized soak with faults, SOAK_SECONDS (600); SOAK_SEED=N replays
#   make demo           3 slaves + a master on loopback, a client run, then stop
#   make demo-loss      the same under --simulate loss/dup/reorder: retransmissions, byte-exact results
#   make demo-trace     one command's life, traced and captured (doc/protocol.md "A command's life")
#   make bench          speed and memory against xargs -P, measured in the same run
#   make install        PREFIX=/usr/local DESTDIR= (BINDIR MANDIR DOCDIR SYSCONFDIR SYSTEMDUNITDIR SYSUSERSDIR)
#   make uninstall      the same variables: removes what install put
#   make windows        client.exe, serveur_maitre.exe, serveur_esclave.exe (mingw-w64)
#   make test-windows   those under Wine, alone and mixed with the Linux programs

CC ?= cc
# make install: the usual variables (README.md, "Install"); DESTDIR is
# prepended to every path, for packaging; SYSTEMDUNITDIR empty: no units
# (and no sysusers.d file for their user).
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
DOCDIR ?= $(PREFIX)/share/doc/serveur-multiprocesseurs
SYSCONFDIR ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
SYSTEMDUNITDIR ?=
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
INSTALL ?= install
# Objects and dependency files go to $(O) (build/ by default), the programs
# to $(P) (the repository root), named with the suffix $(EXE).
O ?= build
P ?= .
EXE ?=
# User CFLAGS are added to ours, not replacing them.
override CFLAGS := -std=c11 -O2 -g -Wall -Wextra $(CFLAGS)
INCLUDES = -I. -Ilib

# Sources by folder (see HACKING.md): a file added to a folder is built
# without touching this list. Both platform files are in every build: each
# one's body is under #ifdef.
LIB = $(sort $(wildcard lib/*.c))
CLIENT = client.c $(sort $(wildcard report/*.c))
MASTER = serveur_maitre.c $(sort $(wildcard master/*.c))
SLAVE = serveur_esclave.c $(sort $(wildcard slave/*.c))
objects = $(addprefix $(O)/,$(1:.c=.o))

PROGRAMS = client serveur_maitre serveur_esclave
UNIT_TESTS = $(addprefix $(O)/,$(basename $(sort $(wildcard tests/unit_*.c))))
TOOLS = $(O)/tests/udp_chaos $(O)/tests/journal_tool $(O)/tests/syncgate.so $(O)/tests/norandom.so
FUZZ_TARGETS = dgram frame conf cmdfile slave master journal http
FUZZ_REPLAY = $(addprefix $(O)/tests/fuzz_,$(FUZZ_TARGETS))
# What the unit tests and the fuzz targets link besides their own file.
# master/sched.c is pure policy (no sockets, no clock): unit_sched tests it,
# master/history.c (learned durations, pure too) unit_history,
# and fuzz_master, which includes the rest of master/, links it; so does
# master/cache.c, the result cache's table (unit_cache).
TEST_LINK = $(LIB) report/report.c report/joblog.c report/progress.c report/template.c report/master_addr.c master/sched.c \
	master/history.c master/cache.c
# The state-machine targets include lib/endpoint.c themselves, so that its
# socket calls are their fakes.
FUZZ_LINK = $(filter-out lib/endpoint.c,$(TEST_LINK))

all: $(addprefix $(P)/,$(addsuffix $(EXE),$(PROGRAMS)))

$(P)/client$(EXE): $(call objects,$(CLIENT) $(LIB))
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(P)/serveur_maitre$(EXE): $(call objects,$(MASTER) $(LIB))
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(P)/serveur_esclave$(EXE): $(call objects,$(SLAVE) $(LIB))
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(O)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(CPPFLAGS) $(INCLUDES) -MMD -MP -c -o $@ $<

$(O)/tests/unit_%: $(O)/tests/unit_%.o $(call objects,$(TEST_LINK))
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(O)/tests/udp_chaos: $(O)/tests/udp_chaos.o $(call objects,$(LIB))
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(O)/tests/journal_tool: $(O)/tests/journal_tool.o $(call objects,$(LIB))
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)
# LD_PRELOAD libraries (tests/early.t, tests/norandom.t): plain flags even
# in the sanitizer build, whose runtime must come first in a program of its own.
$(O)/tests/%.so: tests/%.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -O2 -Wall -Wextra -shared -fPIC -o $@ $< -ldl
$(O)/tests/fuzz_%: $(O)/fuzz/fuzz_%.o $(O)/fuzz/replay.o $(call objects,$(FUZZ_LINK))
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The test programs are not intermediate files: make must not delete their
# objects, or every make test would build them again.
.SECONDARY:

-include $(shell find $(O) -name '*.d' 2>/dev/null)

check-programs: all $(UNIT_TESTS) $(TOOLS) $(FUZZ_REPLAY)

# The suite twice: as built, then with ASan + UBSan.
test: check-programs
	prove $(PROVE_FLAGS) $(UNIT_TESTS) tests/*.t
	$(MAKE) --no-print-directory test-sanitize

SANITIZE_FLAGS = -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
ASAN = build/asan
test-sanitize:
	$(MAKE) O=$(ASAN) P=$(ASAN) CFLAGS="$(SANITIZE_FLAGS)" LDFLAGS="$(SANITIZE_FLAGS)" check-programs
	SMP_BIN=$(CURDIR)/$(ASAN) SMP_CHECK_REPORTS=1 prove $(PROVE_FLAGS) \
		$(patsubst $(O)/%,$(ASAN)/%,$(UNIT_TESTS)) tests/*.t

# memcheck is slow: the suites that do not measure time.
VALGRIND_TESTS = tests/basic.t tests/garbage.t tests/chaos.t tests/auth.t tests/fuzz.t
test-valgrind: check-programs
	SMP_WRAP="valgrind -q --leak-check=full --errors-for-leak-kinds=definite --track-fds=no" \
		SMP_CHECK_REPORTS=1 prove $(PROVE_FLAGS) $(VALGRIND_TESTS)

# The randomized soak (tests/soak.py): random rounds for SOAK_SECONDS, the
# seed printed first; SOAK_SEED=N replays one, SOAK_BIN=build/asan soaks
# the sanitizer build (make test-sanitize first), SOAK_FLAGS adds options
# (--faults, --keep, -v). tests/soak.t, in make test, is a short seeded run.
SOAK_SECONDS ?= 600
SOAK_BIN ?= $(CURDIR)
soak: check-programs
	python3 tests/soak.py --bin $(SOAK_BIN) --seconds $(SOAK_SECONDS) $(if $(SOAK_SEED),--seed $(SOAK_SEED)) $(SOAK_FLAGS)

# Windows: the same sources cross-compiled with mingw-w64, objects in
# build/win/, the .exe here. compile.bat builds the same on Windows with
# MinGW's gcc; tests/windows/windows.t checks it against windows-sources.
WIN_CC = x86_64-w64-mingw32-gcc
WIN_CFLAGS = -D__USE_MINGW_ANSI_STDIO=1
WIN_LDFLAGS = -static
WIN_LDLIBS = -lws2_32
windows:
	$(MAKE) --no-print-directory O=build/win P=. EXE=.exe CC=$(WIN_CC) CFLAGS="$(WIN_CFLAGS)" \
		LDFLAGS="$(WIN_LDFLAGS)" LDLIBS="$(WIN_LDLIBS)" all

# What compile.bat must say, in its own words: its flags, and which
# folders each program takes its sources from (windows.t compares the
# files compile.bat hands to gcc with these lists).
windows-sources:
	@echo "set CFLAGS=$(strip $(CFLAGS) $(WIN_CFLAGS) $(INCLUDES))"
	@echo "set LDFLAGS=$(WIN_LDFLAGS)"
	@echo "set LDLIBS=$(WIN_LDLIBS)"
	@echo "LIB=$(LIB)"
	@echo "CLIENT=$(CLIENT)"
	@echo "MASTER=$(MASTER)"
	@echo "SLAVE=$(SLAVE)"

# Skips (visibly) without mingw-w64 and Wine. The Linux programs too: the
# mixed tests need both built from the same sources.
test-windows: all
	@if command -v $(WIN_CC) >/dev/null 2>&1; then $(MAKE) --no-print-directory windows; fi
	prove $(PROVE_FLAGS) tests/windows/windows.t

# libFuzzer (clang) with ASan + UBSan, each target for FUZZ_SECONDS. New
# interesting inputs go to build/fuzz/corpus; after a fix, copy the input
# that crashed (build/fuzz/TARGET-crash-*) into fuzz/corpus/TARGET so that
# make test keeps replaying it.
FUZZ_SECONDS ?= 30
FUZZ_CC ?= clang
FUZZ_SOURCES = $(FUZZ_LINK)
fuzz:
	@command -v $(FUZZ_CC) >/dev/null || { echo "make fuzz needs clang: apt-get install clang"; exit 1; }
	@mkdir -p build/fuzz
	@for t in $(FUZZ_TARGETS); do \
		$(FUZZ_CC) -std=c11 -g -O1 $(INCLUDES) -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
			-o build/fuzz/fuzz_$$t fuzz/fuzz_$$t.c $(FUZZ_SOURCES) || exit 1; \
		mkdir -p build/fuzz/corpus/$$t; \
		echo "== fuzzing $$t for $(FUZZ_SECONDS) s"; \
		build/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 -artifact_prefix=build/fuzz/$$t- \
			build/fuzz/corpus/$$t fuzz/corpus/$$t 2>build/fuzz/$$t.log || { tail -40 build/fuzz/$$t.log; exit 1; }; \
		grep -E 'stat::number_of_executed_units|stat::new_units_added' build/fuzz/$$t.log; \
	done

# Keeps, in fuzz/corpus, the inputs of the last fuzzing run that reach new
# code (libFuzzer's merge): they become regression tests of make test.
fuzz-merge:
	@for t in $(FUZZ_TARGETS); do \
		build/fuzz/fuzz_$$t -merge=1 fuzz/corpus/$$t build/fuzz/corpus/$$t 2>&1 | grep -E 'MERGE-OUTER: [0-9]+ new files' ; \
	done

demo: all
	./examples/demo.sh
demo-loss: all
	./examples/demo-loss.sh
demo-trace: all
	./examples/one-command.sh

bench: all
	./bench/run.sh

# Issue 13's primitives alone: aead_seal MB/s, X25519 per second.
bench-crypto: $(O)/bench/crypto
	$(O)/bench/crypto
$(O)/bench/crypto: $(O)/bench/crypto.o $(call objects,$(LIB))
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Installed under names of their own (smp-*: README.md, "Install"): the
# build names stay client, serveur_maitre, serveur_esclave. The man pages
# and units name /usr/share/doc/..., /etc/..., /usr/local/... as written in
# the source; sed sets the install's own paths.
INSTALL_NAMES = client:smp-client serveur_maitre:smp-maitre serveur_esclave:smp-esclave
MAN_PAGES = man/smp-client.1 man/smp-slaves.conf.5 man/smp-maitre.8 man/smp-esclave.8
DOCS = README.md
DOC_DOCS = $(sort $(wildcard doc/*.md doc/*.png))
UNITS = contrib/systemd/smp-maitre.service contrib/systemd/smp-esclave@.service
INSTALL_SED = sed -E -e 's,(^|[^/[:alnum:]])/usr(/local)?/share/doc/serveur-multiprocesseurs,\1$(DOCDIR),g' \
	-e 's,(^|[^/[:alnum:]])(/usr/local)?/etc/serveur-multiprocesseurs,\1$(SYSCONFDIR)/serveur-multiprocesseurs,g' \
	-e 's,(^|[^/[:alnum:]])/usr/local/bin/,\1$(BINDIR)/,g'
install: all
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(DOCDIR)/doc
	@set -e; for p in $(INSTALL_NAMES); do \
		echo "$(INSTALL) -m 755 $${p%%:*}$(EXE) $(DESTDIR)$(BINDIR)/$${p#*:}$(EXE)"; \
		$(INSTALL) -m 755 $${p%%:*}$(EXE) $(DESTDIR)$(BINDIR)/$${p#*:}$(EXE); \
	done
	@set -e; for m in $(MAN_PAGES); do \
		d=$(DESTDIR)$(MANDIR)/man$${m##*.}; \
		echo "install $$m $$d/"; \
		$(INSTALL) -d $$d; \
		$(INSTALL_SED) $$m >$$d/$${m#man/}; chmod 644 $$d/$${m#man/}; \
	done
	$(INSTALL) -m 644 $(DOCS) slaves.conf $(DESTDIR)$(DOCDIR)
	$(INSTALL) -m 644 $(DOC_DOCS) $(DESTDIR)$(DOCDIR)/doc
	@set -e; if [ -n "$(SYSTEMDUNITDIR)" ]; then \
		$(INSTALL) -d $(DESTDIR)$(SYSTEMDUNITDIR); \
		for u in $(UNITS); do \
			echo "install $$u $(DESTDIR)$(SYSTEMDUNITDIR)/"; \
			$(INSTALL_SED) $$u >$(DESTDIR)$(SYSTEMDUNITDIR)/$${u##*/}; chmod 644 $(DESTDIR)$(SYSTEMDUNITDIR)/$${u##*/}; \
		done; \
		$(INSTALL) -d $(DESTDIR)$(SYSUSERSDIR); \
		echo "$(INSTALL) -m 644 contrib/systemd/smp-sysusers.conf $(DESTDIR)$(SYSUSERSDIR)/smp.conf"; \
		$(INSTALL) -m 644 contrib/systemd/smp-sysusers.conf $(DESTDIR)$(SYSUSERSDIR)/smp.conf; \
	fi

# Removes what install put (give it the same variables), and the
# directories of our own when they are empty.
uninstall:
	rm -f $(foreach p,$(INSTALL_NAMES),$(DESTDIR)$(BINDIR)/$(lastword $(subst :, ,$(p)))$(EXE))
	rm -f $(foreach m,$(MAN_PAGES),$(DESTDIR)$(MANDIR)/man$(subst .,,$(suffix $(m)))/$(notdir $(m)))
	rm -f $(addprefix $(DESTDIR)$(DOCDIR)/,$(DOCS) slaves.conf $(DOC_DOCS))
	$(if $(SYSTEMDUNITDIR),rm -f $(addprefix $(DESTDIR)$(SYSTEMDUNITDIR)/,$(notdir $(UNITS))) $(DESTDIR)$(SYSUSERSDIR)/smp.conf)
	-rmdir $(DESTDIR)$(DOCDIR)/doc $(DESTDIR)$(DOCDIR) 2>/dev/null

# Also what builds before build/ left beside the sources (objects at the
# root, test programs in tests/), so that an updated checkout is clean.
FLAT_LEFTOVERS = $(wildcard *.o *.d build-asan build-win build-fuzz tests/*.o tests/*.d tests/udp_chaos $(basename $(wildcard tests/unit_*.c)) \
	$(addprefix tests/fuzz_,$(FUZZ_TARGETS)))
clean:
	rm -rf $(PROGRAMS) $(addsuffix .exe,$(PROGRAMS)) build $(FLAT_LEFTOVERS)

.PHONY: all check-programs bench-crypto test test-sanitize test-valgrind soak fuzz fuzz-merge windows windows-sources test-windows demo demo-loss demo-trace bench \
	install uninstall clean
