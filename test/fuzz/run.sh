#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan) and runs each for
# FUZZ_SECONDS (default 20; CI runs the default, a long run sets more).
# Prints "N passed, M failed" over the targets.
set -uo pipefail
cd "$(dirname "$0")/../.."
seconds=${FUZZ_SECONDS:-20}
out=$(mktemp -d /tmp/ptb-fuzz.XXXXXX)
trap 'rm -rf "$out"' EXIT
flags=(-std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -Isrc)
core=(src/core/*.cpp)
passed=0
failed=0
for target in snapshot_reader schedule encryption; do
  if ! clang++ "${flags[@]}" "test/fuzz/${target}_fuzz.cpp" "${core[@]}" -lzstd -lcrypto -o "$out/$target" 2>"$out/$target.build"; then
    echo "not ok - $target: build failed"; tail -n 20 "$out/$target.build"; failed=$((failed + 1)); continue
  fi
  corpus="$out/corpus-$target"
  cp -r "test/fuzz/corpus/${target/_reader/}" "$corpus"
  if "$out/$target" -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
       -print_final_stats=1 "$corpus" >"$out/$target.log" 2>&1; then
    runs=$(grep -m1 -oE 'stat::number_of_executed_units: *[0-9]+' "$out/$target.log" | grep -oE '[0-9]+$')
    echo "ok     - $target: ${runs:-?} inputs in ${seconds}s, no crash"
    passed=$((passed + 1))
  else
    echo "not ok - $target: the fuzzer found a failure"; grep -E 'ERROR|SUMMARY|Test unit written' "$out/$target.log" | head -n 10
    failed=$((failed + 1))
  fi
done
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
