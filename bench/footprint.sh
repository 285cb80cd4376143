#!/usr/bin/env bash
# Footprint of a board image against the MCU budget of issue 6 (docs/performance.md,
# docs/board-mps2-an385.md): flash and static RAM by dependency and by core module, read from
# the linker's map file; the arena peak and the deepest stack measured during the emulated
# sale (the board logs them when the firmware stops: "arena peak N of M bytes; stack used S
# of T bytes", the stack is painted at reset); and a pass/fail line for each budget.
#
#   bench/footprint.sh --map IMAGE.elf.map [--figures LOG] [--flash-budget KIB] [--ram-budget KIB]
#                      [--report-only]
#
# The per-dependency rows come from the map's input sections, whose sizes are taken before the
# linker merges identical strings (a few hundred bytes counted twice); the totals and the
# budget use the image itself (arm-none-eabi-size of the ELF next to the map).
# RAM for the budget = static state (.data + .bss: firmware, drivers, lwIP's pools) + arena
# peak + stack used + the C library's heap reserve (.evt_libc_heap, counted whole: newlib's
# use of it is not measured). The arena and stack *reservations* in the linker script are
# what the image sets aside, not what a sale needs; both are printed.
# Exit status: 0 when every budget holds, 1 when one is exceeded or a figure is missing;
# with --report-only, 0 whenever the report could be made (the verdicts are still printed).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MAP="" FIGURES="" FLASH_BUDGET=384 RAM_BUDGET=128 REPORT_ONLY=0
while [ $# -gt 0 ]; do
    case "$1" in
    --map) MAP="$2"; shift 2 ;;
    --figures) FIGURES="$2"; shift 2 ;;
    --flash-budget) FLASH_BUDGET="$2"; shift 2 ;;
    --ram-budget) RAM_BUDGET="$2"; shift 2 ;;
    --report-only) REPORT_ONLY=1; shift ;;
    *) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
    esac
done
[ -f "$MAP" ] || { echo "footprint: no map file ${MAP:-(none)}" >&2; exit 1; }

# Core objects to their module: firmware/<module>/<name>.c -> <name> <module>.
modules=$(cd "$ROOT/firmware" && for f in */*.c; do echo "${f##*/} ${f%%/*}"; done)

awk -v modules="$modules" '
function hex(s,    i, c, v) {
    v = 0; s = tolower(s); sub(/^0x/, "", s)
    for (i = 1; i <= length(s); i++) { c = index("0123456789abcdef", substr(s, i, 1)) - 1; v = v * 16 + c }
    return v
}
function group(file,    lib, obj, m) {
    lib = file; obj = ""
    if (match(file, /\(.*\)$/)) { obj = substr(file, RSTART + 1, RLENGTH - 2); lib = substr(file, 1, RSTART - 1) }
    sub(/.*\//, "", lib)
    if (lib == "libevt_core.a") {
        m = obj; sub(/\.obj$/, "", m)
        if (m in module) return "core/" module[m]
        if (m ~ /^gb18030/) return "core/gb18030"
        return "core/other"
    }
    if (lib ~ /^lib(mbedtls|mbedx509|mbedcrypto|everest|p256m)\.a$/) return "mbedTLS"
    if (lib ~ /^libevt_lwip/) return obj ~ /^(net_lwip|lwip_port|lan9118)\.c/ ? "board+drivers" : "lwIP"
    if (lib == "libcjson.a") return "cJSON"
    if (lib == "libqrencode.a") return "libqrencode"
    if (lib ~ /^lib(c_nano|g_nano|c|g|gcc|m|nosys)\.a$/) return "C library"
    if (lib ~ /^libevt_(hal_|mps2|qrencode_port)/ || lib ~ /main\.c\.obj$/) return "board+drivers"
    if (file == "(alignment)") return "alignment"
    return "other"
}
function add(out, size, file,    g, kind) {
    if (out ~ /^\.evt_(nvdata|provision)$/ || out ~ /^\.(debug|comment|ARM\.attributes)/) return
    if (out == ".data") { kind = "both" } else if (out == ".bss") { kind = "ram" }
    else if (out ~ /^\.evt_(arena|stack|libc_heap)$/) return
    else kind = "flash"
    g = group(file)
    if (kind != "ram") { flash[g] += size; flash_total += size }
    if (kind != "flash") { ram[g] += size; ram_total += size }
    seen[g] = 1
}
BEGIN {
    n = split(modules, w, /[ \n]/)
    for (i = 1; i + 1 <= n; i += 2) { key = w[i] ".obj"; module[w[i] ".obj"] = w[i + 1]; module[w[i]] = w[i + 1] }
}
/^Linker script and memory map/ { inmap = 1; next }
!inmap { next }
/^\.evt_arena /     { arena = hex($3) }
/^\.evt_stack /     { stack = hex($3) }
/^\.evt_libc_heap / { heap = hex($3) }
/^\.[A-Za-z_.]/ { out = $1; pending = ""; next }
/^ \*fill\* +0x[0-9a-f]+ +0x[0-9a-f]+/ { add(out, hex($3), "(alignment)"); next }
/^ [.A-Za-z_]/ && NF == 1 { pending = $1; next }
/^ [.A-Za-z_][^ ]* +0x[0-9a-f]+ +0x[0-9a-f]+ +[^ ]/ { add(out, hex($3), $4); pending = ""; next }
/^ +0x[0-9a-f]+ +0x[0-9a-f]+ +[^ ]/ && pending != "" { add(out, hex($2), $3); pending = ""; next }
/^ COMMON +0x[0-9a-f]+ +0x[0-9a-f]+/ { add(out, hex($3), $4); next }
END {
    printf "%-22s %10s %10s\n", "by dependency", "flash B", "static RAM B"
    for (g in seen) { top = g; sub(/\/.*/, "", top); f[top] += flash[g]; r[top] += ram[g] }
    ordern = split("core|mbedTLS|lwIP|cJSON|libqrencode|C library|board+drivers|alignment|other", order, "|")
    for (i = 1; i <= ordern; i++) if (order[i] in f) printf "  %-20s %10d %10d\n", order[i], f[order[i]], r[order[i]]
    printf "  %-20s %10d %10d\n", "total", flash_total, ram_total
    printf "%-22s %10s %10s\n", "core by module", "flash B", "static RAM B"
    cmd = "sort"
    for (g in seen) if (g ~ /^core\//) printf "  %-20s %10d %10d\n", substr(g, 6), flash[g], ram[g] | cmd
    close(cmd)
    printf "reserved: arena %d B, stack %d B, C heap %d B\n", arena, stack, heap
    printf "TOTALS %d %d %d\n", flash_total, ram_total, heap
}' "$MAP" >footprint.$$ || { rm -f footprint.$$; exit 1; }
trap 'rm -f footprint.$$' EXIT
grep -v '^TOTALS' footprint.$$
read -r _ _ _ heap < <(grep '^TOTALS' footprint.$$)
ELF="${MAP%.map}"
[ -f "$ELF" ] || { echo "footprint: no image $ELF next to the map" >&2; exit 1; }
read -r text data bss _ < <(arm-none-eabi-size "$ELF" | tail -1)
# .bss as arm-none-eabi-size counts it includes the NOLOAD arena, C heap and stack regions:
# the static state is .data + .bss proper.
bss_proper=$(arm-none-eabi-size -A "$ELF" | awk '$1 == ".bss" {print $2}')
flash_total=$((text + data))
static_ram=$((data + bss_proper))
echo "image: flash $flash_total B (text $text + data $data), static RAM $static_ram B (data $data + bss $bss_proper)"

status=0
flash_limit=$((FLASH_BUDGET * 1024))
verdict() { [ "$1" -le "$2" ] && echo pass || { echo FAIL; }; }
printf 'flash: %d B (%d KiB) of %d KiB budget: %s\n' "$flash_total" $(((flash_total + 1023) / 1024)) \
    "$FLASH_BUDGET" "$(verdict "$flash_total" "$flash_limit")"
[ "$flash_total" -le "$flash_limit" ] || status=1

if [ -z "$FIGURES" ]; then
    echo "RAM: no sale figures given (--figures): arena peak and stack not measured"
    exit 1
fi
line=$(grep -a -o 'arena peak [0-9]* of [0-9]* bytes; stack used [0-9]* of [0-9]* bytes' "$FIGURES" | tail -1 || true)
[ -n "$line" ] || { echo "RAM: no \"arena peak … stack used …\" line in $FIGURES" >&2; exit 1; }
read -r arena_peak stack_used < <(sed -E 's/arena peak ([0-9]+) of [0-9]+ bytes; stack used ([0-9]+) of.*/\1 \2/' <<<"$line")
ram_total=$((static_ram + arena_peak + stack_used + heap))
ram_limit=$((RAM_BUDGET * 1024))
printf 'RAM in use during the sale: static %d + arena peak %d + stack %d + C heap %d = %d B (%d KiB) of %d KiB budget: %s\n' \
    "$static_ram" "$arena_peak" "$stack_used" "$heap" "$ram_total" $(((ram_total + 1023) / 1024)) \
    "$RAM_BUDGET" "$(verdict "$ram_total" "$ram_limit")"
[ "$ram_total" -le "$ram_limit" ] || status=1
# lwIP's pools are part of the static RAM above; their high-water marks during the sale say
# how much of them the sale needed (lwipopts.h sizes them).
pools=$(grep -a -o 'lwIP heap used at most .*' "$FIGURES" | tail -1 || true)
[ -z "$pools" ] || echo "static lwIP pools during the sale: ${pools#lwIP }"
[ "$REPORT_ONLY" -eq 1 ] && exit 0
exit "$status"
