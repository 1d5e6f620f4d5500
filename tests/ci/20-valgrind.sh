#!/bin/sh
# The core tests (labels unit and gradcheck) under valgrind memcheck, on the release
# build. Any memcheck error or definite/indirect leak makes valgrind exit 99, which
# fails that test and this stage.
set -eu
command -v valgrind >/dev/null || { echo "valgrind missing: apt-get install valgrind"; exit 1; }
log="$BUILD/valgrind-stage.log"
set +e
ctest --test-dir "$BUILD" -T memcheck -L 'unit|gradcheck' -j "$JOBS" --output-on-failure \
    --overwrite MemoryCheckCommandOptions="--error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect" \
    >"$log" 2>&1
rc=$?
set -e
grep -E "tests passed|tests failed|Failed|Memory checking results|Defects|^ *[0-9]+/[0-9]+ MemCheck" "$log" | tail -n 60
if grep -q "Defects:" "$log"; then echo "valgrind stage: memcheck reported defects (see $log)"; exit 1; fi
exit $rc
