# Serveur multiprocesseurs: client, serveur_maitre, serveur_esclave.
#   make                build the three programs here
#   make test           unit tests + black-box tests of the real programs
#   make test-sanitize  the same suite built with ASan + UBSan (in build-asan/)
#   make test-valgrind  black-box tests under valgrind memcheck
#   make demo           3 slaves + a master on loopback, a client run, then stop
#   make bench          speed and memory against xargs -P, measured in the same run
#   make install        PREFIX=/usr/local DESTDIR=

CC ?= cc
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
# Objects and programs go to $(O); the default is the repository root.
O ?= .
# User CFLAGS are added to ours, not replacing them.
override CFLAGS := -std=c11 -O2 -g -Wall -Wextra $(CFLAGS)

COMMON = buf.o dedup.o proto.o xfer.o log.o platform_posix.o cli.o conf.o
SLAVE = serveur_esclave.o slave.o runner_posix.o
MASTER = serveur_maitre.o master.o
CLIENT = client.o report.o
PROGRAMS = client serveur_maitre serveur_esclave
UNIT_TESTS = tests/unit_codec tests/unit_xfer tests/unit_conf
TOOLS = tests/udp_chaos

all: $(addprefix $(O)/,$(PROGRAMS))

$(O)/client: $(addprefix $(O)/,$(CLIENT) $(COMMON))
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(O)/serveur_maitre: $(addprefix $(O)/,$(MASTER) $(COMMON))
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(O)/serveur_esclave: $(addprefix $(O)/,$(SLAVE) $(COMMON))
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(O)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(CPPFLAGS) -I. -MMD -MP -c -o $@ $<

$(O)/tests/unit_%: $(O)/tests/unit_%.o $(addprefix $(O)/,$(COMMON) report.o)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(O)/tests/udp_chaos: $(O)/tests/udp_chaos.o $(addprefix $(O)/,$(COMMON))
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

-include $(O)/*.d $(O)/tests/*.d

check-programs: all $(addprefix $(O)/,$(UNIT_TESTS) $(TOOLS))

# The suite twice: as built, then with ASan + UBSan.
test: check-programs
	prove $(PROVE_FLAGS) $(UNIT_TESTS) tests/*.t
	$(MAKE) --no-print-directory test-sanitize

SANITIZE_FLAGS = -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
test-sanitize:
	$(MAKE) O=build-asan CFLAGS="$(SANITIZE_FLAGS)" LDFLAGS="$(SANITIZE_FLAGS)" check-programs
	SMP_BIN=$(CURDIR)/build-asan SMP_CHECK_REPORTS=1 prove $(PROVE_FLAGS) \
		$(addprefix build-asan/,$(UNIT_TESTS)) tests/*.t

# memcheck is slow: the suites that do not measure time.
VALGRIND_TESTS = tests/basic.t tests/garbage.t tests/chaos.t
test-valgrind: check-programs
	SMP_WRAP="valgrind -q --leak-check=full --errors-for-leak-kinds=definite --track-fds=no" \
		SMP_CHECK_REPORTS=1 prove $(PROVE_FLAGS) $(VALGRIND_TESTS)

demo: all
	./examples/demo.sh

bench: all
	./bench/run.sh

install: all
	install -d $(DESTDIR)$(BINDIR)
	install -m 755 $(PROGRAMS) $(DESTDIR)$(BINDIR)

clean:
	rm -rf $(PROGRAMS) *.o *.d tests/*.o tests/*.d $(UNIT_TESTS) $(TOOLS) build-asan

.PHONY: all check-programs test test-sanitize test-valgrind demo bench install clean
