#!/usr/bin/env bash
# A checkout built before the build/ layout (issue 9) and then updated:
# the flat build's objects and test programs are still there. git must
# not offer them for a commit, and make clean must remove them.
. "$(dirname "$0")/lib.sh"
command -v git >/dev/null || skip_all "needs git: apt-get install git"

# The source tree (without what builds made, and without .git), in a
# repository of its own: the check does not depend on this checkout's state.
mkdir -p "$T/tree"
(cd "$TOP" && tar cf - --exclude=./.git --exclude=./build --exclude='*.o' --exclude='*.d' --exclude='*.exe' \
    --exclude=./client --exclude=./serveur_maitre --exclude=./serveur_esclave .) | tar xf - -C "$T/tree" ||
    bail "cannot copy the source tree"
cd "$T/tree" || bail "no copy"
git init -q . && git add -A && git -c user.name=t -c user.email=t@t commit -qm tree || bail "git init"

# What make left in the old flat layout (a0e6d20): objects and dependency
# files beside the sources, test programs in tests/, the sanitizer, Windows
# and fuzzing builds in build-asan/, build-win/, build-fuzz/.
stale="master.o master.d slave.o slave.d buf.o buf.d client.o client.d tests/unit_codec tests/unit_xfer
       tests/unit_auth tests/unit_conf tests/udp_chaos tests/udp_chaos.o tests/udp_chaos.d tests/fuzz_dgram
       tests/fuzz_master build-asan/master.o build-asan/tests/unit_codec build-win/master.o
       build-fuzz/corpus/dgram/1 build-fuzz/fuzz_dgram"
for f in $stale; do mkdir -p "$(dirname "$f")"; echo junk >"$f"; done
is "$(git status --porcelain --untracked-files=all | tr '\n' ' ')" "" \
    "git status shows none of the flat build's objects and test programs"
make -s clean >"$T/clean.out" 2>&1
left=""
for f in $stale; do [ -e "$f" ] && left="$left $f"; done
is "$left" "" "make clean removes them"
is "$(git status --porcelain --untracked-files=all | tr '\n' ' ')" "" "and the tree is as committed (nothing tracked removed)"

done_testing
