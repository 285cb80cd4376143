#!/usr/bin/env bash
# The libFuzzer targets of tests/fuzz (docs/fuzzing.md): builds the fuzz preset, then runs every
# target for a bounded time on a scratch copy of its seed corpus (tests/fuzz/corpus/<target>,
# plus generated flash images for the journal) with its dictionary (tests/fuzz/dict).
#
#   tools/fuzz.sh                   short run, as CI does: EVT_FUZZ_SECONDS per target
#                                   (default 20), EVT_FUZZ_PARALLEL targets at a time (nproc)
#   tools/fuzz.sh --long            long run: EVT_FUZZ_LONG_SECONDS per target (default 900),
#                                   one target at a time, each on one core
#   tools/fuzz.sh [--long] name...  only the named targets (voucher, json, ...)
#
# Prints one line per target: name, executions, executions per second, coverage (cov = edges,
# ft = features), corpus size, result. Exits non-zero if any target crashed, failed an
# invariant, leaked, hung (-timeout) or ran out of memory; its reproducer and log stay in
# build/fuzz/run/<target>/ (replay: build/fuzz/tests/fuzz/fuzz_<target> <reproducer>).
# The repository is never written: new corpus entries go to the scratch copy.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

TARGETS=(voucher json money proto http1 ecr config journal receipt_ref)
BIN="build/fuzz/tests/fuzz"
RUN="build/fuzz/run"

long=0
selected=()
for arg in "$@"; do
    case "$arg" in
    --long) long=1 ;;
    -h | --help)
        sed -n '2,18p' "$0"
        exit 0
        ;;
    *) selected+=("$arg") ;;
    esac
done
if [ "${#selected[@]}" -eq 0 ]; then
    selected=("${TARGETS[@]}")
fi
for t in "${selected[@]}"; do
    if [[ ! " ${TARGETS[*]} " == *" $t "* ]]; then
        echo "fuzz.sh: unknown target $t (targets: ${TARGETS[*]})" >&2
        exit 2
    fi
done

if [ "$long" -eq 1 ]; then
    seconds="${EVT_FUZZ_LONG_SECONDS:-900}"
    parallel=1
else
    seconds="${EVT_FUZZ_SECONDS:-20}"
    parallel="${EVT_FUZZ_PARALLEL:-$(nproc)}"
fi

echo "== build fuzz preset"
if ! cmake --preset fuzz >/dev/null || ! cmake --build --preset fuzz -j"$(nproc)"; then
    echo "fuzz.sh: build of the fuzz preset failed" >&2
    exit 1
fi

# Inputs larger than libFuzzer's default 4096 bytes where the format needs them.
max_len() {
    case "$1" in
    journal) echo 16400 ;; # header + 8 sectors of 2 KiB
    http1 | ecr) echo 20000 ;; # past the 16 KiB header section and ECR line limits
    *) echo 4096 ;;
    esac
}

# Runs one target; leaves build/fuzz/run/<t>/{log,summary} and any reproducer.
run_target() {
    local t="$1" dir="$RUN/$1"
    rm -rf "$dir"
    mkdir -p "$dir/corpus"
    if [ -d "tests/fuzz/corpus/$t" ]; then
        cp tests/fuzz/corpus/"$t"/* "$dir/corpus/"
    fi
    # Seeds too large or too binary to commit are made here.
    case "$t" in
    journal)
        "$BIN/fuzz_journal_seeds" "$dir/corpus" >"$dir/seeds.log" 2>&1 || {
            echo "$t seed generation failed" >"$dir/summary"
            return 1
        }
        ;;
    ecr) # a line over the 16384-byte limit, then a sale the link must still take
        { echo P; head -c 16390 /dev/zero | tr '\0' 'x'; echo; tail -n +2 tests/fuzz/corpus/ecr/sale-two-items.jsonl; } \
            >"$dir/corpus/over-long-line.jsonl"
        ;;
    esac
    local dict=()
    if [ -f "tests/fuzz/dict/$t.dict" ]; then
        dict=(-dict="tests/fuzz/dict/$t.dict")
    fi
    local started status
    started=$(date +%s)
    "$BIN/fuzz_$t" "${dict[@]}" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -max_len="$(max_len "$t")" -print_final_stats=1 -artifact_prefix="$dir/" \
        "$dir/corpus" >"$dir/log" 2>&1
    status=$?
    local elapsed=$(($(date +%s) - started))
    local execs rate cov ft corp result
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$dir/log" | tail -1)
    cov=$(grep -o 'cov: [0-9]*' "$dir/log" | tail -1 | cut -d' ' -f2)
    ft=$(grep -o 'ft: [0-9]*' "$dir/log" | tail -1 | cut -d' ' -f2)
    corp=$(ls "$dir/corpus" | wc -l)
    if [ "$status" -eq 0 ]; then
        result="ok"
    elif grep -q 'invariant failed' "$dir/log"; then
        result="FAILED: invariant ($(grep -m1 -A1 'invariant failed' "$dir/log" | tail -1 | sed 's/^ *//'))"
    elif grep -q 'detected memory leaks' "$dir/log"; then
        result="FAILED: leak"
    elif grep -q 'ALARM: working on the last Unit' "$dir/log"; then
        result="FAILED: timeout"
    elif grep -q 'out-of-memory' "$dir/log"; then
        result="FAILED: out of memory"
    else
        result="FAILED: $(grep -m1 -oE 'ERROR: AddressSanitizer: [a-z-]+|runtime error: [^,]*|deadly signal' "$dir/log" || echo "exit $status")"
    fi
    local repro
    repro=$(ls "$dir"/crash-* "$dir"/leak-* "$dir"/timeout-* "$dir"/oom-* 2>/dev/null | head -1)
    printf '%-12s execs %-10s %7s/s  cov %-5s ft %-6s corpus %-6s %4ss  %s%s\n' "$t" \
        "${execs:-0}" "${rate:-0}" "${cov:-?}" "${ft:-?}" "$corp" "$elapsed" "$result" \
        "${repro:+  reproducer: $repro}" >"$dir/summary"
    [ "$status" -eq 0 ]
}

mode="short"
if [ "$long" -eq 1 ]; then
    mode="long"
fi
echo "== fuzz ($mode): ${#selected[@]} targets, ${seconds}s each, $parallel at a time"
running=0
for t in "${selected[@]}"; do
    if [ "$running" -ge "$parallel" ]; then
        wait -n
        running=$((running - 1))
    fi
    run_target "$t" &
    running=$((running + 1))
done
wait

failed=0
for t in "${selected[@]}"; do
    if [ -f "$RUN/$t/summary" ]; then
        cat "$RUN/$t/summary"
        grep -q ' ok$' "$RUN/$t/summary" || failed=$((failed + 1))
    else
        echo "$t: no result"
        failed=$((failed + 1))
    fi
done
echo "fuzz: $((${#selected[@]} - failed)) targets ok, $failed failed"
[ "$failed" -eq 0 ]
