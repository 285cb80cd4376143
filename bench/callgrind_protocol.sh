#!/usr/bin/env bash
# Terminal-side instructions per steady-state sale (issue 8), by callgrind: bench_protocol runs
# sales 2..N of each flow between CALLGRIND_TOGGLE_COLLECT requests, so only the terminal's
# work inside evt_app_sale is counted (the emulator is another process, not traced; the
# receipt PNG preview, a sim printer artefact, is off). A manual mode (valgrind is slow):
#
#   bench/callgrind_protocol.sh [build dir, default build/sim-debug] [sales, default 6]
#
# Prints, per flow, instructions per sale (Ir) and the share spent under mbedtls_ssl_handshake.
set -euo pipefail
BUILD="${1:-build/sim-debug}"
SALES="${2:-6}"
BENCH="$BUILD/bench/bench_protocol"
command -v valgrind >/dev/null || { echo "valgrind missing (apt-get install valgrind)" >&2; exit 1; }
[ -x "$BENCH" ] || { echo "$BENCH not built" >&2; exit 1; }
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
printf '%-8s %16s %22s\n' flow "Ir per sale" "of which handshake"
for flow in before tickets kept; do
    valgrind --tool=callgrind --collect-atstart=no --callgrind-out-file="$out/$flow.out" \
        "$BENCH" --flow "$flow" --sales "$SALES" >"$out/$flow.txt" 2>"$out/$flow.err" ||
        { echo "bench_protocol --flow $flow failed under valgrind:" >&2; tail "$out/$flow.err" >&2; exit 1; }
    total="$(awk '/^(summary|totals):/ {print $2; exit}' "$out/$flow.out")"
    hs="$(callgrind_annotate --inclusive=yes "$out/$flow.out" 2>/dev/null |
        awk '/ mbedtls_ssl_handshake[ (]|:mbedtls_ssl_handshake[ (]/ {gsub(",", "", $1); print $1; exit}' || true)"
    hs="${hs:-0}"
    n=$((SALES - 1))
    printf '%-8s %16d %22d\n' "$flow" $((total / n)) $((hs / n))
done
