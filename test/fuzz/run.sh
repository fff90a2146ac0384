#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan) and runs each for
# FUZZ_SECONDS (default 20; CI runs the default, a long run sets more).
# Prints "N passed, M failed" over the targets.
set -uo pipefail
cd "$(dirname "$0")/../.."
source scripts/step.sh
seconds=${FUZZ_SECONDS:-20}
out=$(mktemp -d /tmp/ptb-fuzz.XXXXXX)
trap 'rm -rf "$out"' EXIT
flags=(-std=c++20 -g -O1 -fsanitize=address,undefined -fno-sanitize-recover=undefined -Isrc)
passed=0
failed=0
# src/core is compiled once for all targets (two at a time), each target
# then only compiles its own entry file and links.
compile_core() {
  mkdir -p "$out/core"
  printf '%s\n' src/core/*.cpp | xargs -P 2 -I{} sh -c \
    'clang++ "$@" -fsanitize=fuzzer-no-link -c "$0" -o "'"$out"'/core/$(basename "$0" .cpp).o"' {} "${flags[@]}" \
    2>"$out/core.build"
}
compile() {  # TARGET; the compiler's messages go to a file, shown on failure
  clang++ "${flags[@]}" -fsanitize=fuzzer "test/fuzz/$1_fuzz.cpp" "$out"/core/*.o -lzstd -lcrypto -o "$out/$1" 2>"$out/$1.build"
}
if ! step "fuzz: compiling src/core with clang, ASan and UBSan (a minute or two)" compile_core; then
  echo "not ok - src/core: build failed"; tail -n 20 "$out/core.build"; echo "0 passed, 1 failed"; exit 1
fi
for target in snapshot_reader schedule encryption; do
  if ! step "fuzz: compiling and linking $target" compile "$target"; then
    echo "not ok - $target: build failed"; tail -n 20 "$out/$target.build"; failed=$((failed + 1)); continue
  fi
  corpus="$out/corpus-$target"
  cp -r "test/fuzz/corpus/${target/_reader/}" "$corpus"
  echo "-- fuzz: running $target for ${seconds} s" >&2
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
