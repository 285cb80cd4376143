# shellcheck shell=bash
# Sourced (bash) by the scripts that drive the mps2-an385 board in QEMU through tools/run-mps2.sh
# as a cashier would: tests/target/smoke_mps2.sh, tests/target/sale_mps2.sh and
# tools/demo.sh --board mps2-an385.
#
# Works in the caller's current directory: run/ is run-mps2.sh's --dir (console and scanner
# FIFOs, printer.bin, log.txt), console.log the console's transcript, qemu.out QEMU's output.
# The caller defines fail MESSAGE (report, exit). mps2_boot sets QEMU_PID, CAT_PID and MARK
# (the console.log offset after which the next screen is looked for). Every wait is for an event
# (screen text, a process end), bounded.

MPS2_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

# mps2_boot IMAGE PROVISION FLASH PLATFORM_PORT ECR_HOSTPORT:GUESTPORT TIMEOUT_S
# Boots the image in the background, the console's screens appended to console.log. An empty
# PLATFORM_PORT or ECR forward leaves that forward out (the board's network reaches nothing).
mps2_boot() {
    rm -rf run
    mkdir -p run
    mkfifo run/console.in run/console.out run/scanner.in run/scanner.out
    : >console.log
    cat run/console.out >>console.log &
    CAT_PID=$!
    local forwards=()
    [ -n "$4" ] && forwards+=(--platform "$4")
    [ -n "$5" ] && forwards+=(--ecr "$5")
    "$MPS2_ROOT/tools/run-mps2.sh" --image "$1" --provision "$2" --flash "$3" \
        --dir run "${forwards[@]}" --timeout "$6" >qemu.out 2>&1 &
    QEMU_PID=$!
    MARK=0
}

# Waits (up to $3 s, default MPS2_WAIT_S or 60) until console.log shows $1 after byte offset $2.
wait_screen() {
    local text="$1" from="${2:-0}" limit="${3:-${MPS2_WAIT_S:-60}}"
    for _ in $(seq $((limit * 10))); do
        if tail -c +"$((from + 1))" console.log | grep -q -- "$text"; then return 0; fi
        kill -0 "$QEMU_PID" 2>/dev/null || fail "QEMU ended while waiting for \"$text\""
        sleep 0.1
    done
    fail "no \"$text\" on the console"
}

# Sends keys once the screen shows $1 after the previous mark (never ahead of a screen).
key_after() {
    local text="$1" keys="$2" from
    from=$(stat -c %s console.log)
    wait_screen "$text" "$MARK"
    printf '%s' "$keys" >run/console.in
    MARK=$from
}

# A confirmation that moves money is taken only after the screen has been up 500 ms
# (docs/cashier-ui.md): like a cashier whose first press was too quick, press OK again until the
# screen $2 follows (bounded: 50 presses, 0.2 s apart).
confirm_after() {
    local text="$1" next="$2" from
    from=$(stat -c %s console.log)
    wait_screen "$text" "$MARK"
    for _ in $(seq 50); do
        printf '\r' >run/console.in
        for _ in 1 2; do
            tail -c +"$((from + 1))" console.log | grep -q -- "$next" && { MARK=$from; return 0; }
            sleep 0.1
        done
    done
    fail "OK at \"$text\" never led to \"$next\""
}

# The cashier ends the day at the idle screen (q): the firmware stops (logging its figures) and
# QEMU exits with the firmware's status, which must be 0. $1 names the moment for the message;
# $2 the idle screen's title when it is not 就绪 (a board without its platform is not ready).
mps2_quit() {
    key_after "${2:-医保电子凭证终端 就绪}" "q"
    wait "$QEMU_PID" || fail "firmware exit status $? $1"
    QEMU_PID=""
    kill "$CAT_PID" 2>/dev/null || true
    CAT_PID=""
}
