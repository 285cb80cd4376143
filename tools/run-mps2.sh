#!/usr/bin/env bash
# Boots the mps2-an385 image in qemu-system-arm with the board's UARTs on host files and
# FIFOs, so a person or a script can watch the cashier screens, type keys, feed scan lines
# and collect the printer's ESC/POS bytes:
#
#   UART0 console  stdio (default), or with --dir: DIR/console.in (keys, write) and
#                  DIR/console.out (screens, read)
#   UART1 scanner  DIR/scanner.in: write one line per scan (e.g. echo CODE > DIR/scanner.in)
#   UART2 printer  DIR/printer.bin: every receipt's ESC/POS bytes, in order
#                  (tools/receipt-view renders them)
#   UART3 log      DIR/log.txt
#
# The journal's NOR flash is the host file --flash (created blank on first boot, kept across
# runs: that is the board's non-volatile memory).
#
# Network: the LAN9118 is on QEMU's user network, restricted (restrict=on: the guest reaches
# nothing outside but what is forwarded here, all of it on 127.0.0.1). QEMU's DHCP gives the
# board 10.0.2.15. --platform PORT forwards the guest's 10.0.2.100:443 to 127.0.0.1:PORT (the
# platform emulator; provision platform_url = https://10.0.2.100/... with tls_server_name),
# one socat per connection; --ecr HOSTPORT:GUESTPORT forwards 127.0.0.1:HOSTPORT to the
# board's ECR link (provision ecr_bind = 0.0.0.0, ecr_port = GUESTPORT).
#
# usage: tools/run-mps2.sh --provision FILE [--flash FILE] [--dir DIR] [--image ELF]
#                          [--timeout SECONDS] [--platform PORT] [--ecr HOSTPORT:GUESTPORT]
# Without --dir the console is this terminal (keys: digits, Enter = OK, c, m, b, q) and the
# other UARTs go to ./mps2-run/. --timeout bounds the run (default: none with a terminal,
# 600 s with --dir); QEMU's exit status is the firmware's (0 after q).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
IMAGE="$ROOT/build/mps2-an385/boards/mps2-an385/evt-mps2.elf"
PROVISION="" FLASH="evt-mps2-flash.img" DIR="" TIMEOUT="" PLATFORM_PORT="" ECR_FWD=""

usage() { sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
while [ $# -gt 0 ]; do
    case "$1" in
    --provision) PROVISION="$2"; shift 2 ;;
    --flash) FLASH="$2"; shift 2 ;;
    --dir) DIR="$2"; shift 2 ;;
    --image) IMAGE="$2"; shift 2 ;;
    --timeout) TIMEOUT="$2"; shift 2 ;;
    --platform) PLATFORM_PORT="$2"; shift 2 ;;
    --ecr) ECR_FWD="$2"; shift 2 ;;
    -h | --help) usage ;;
    *) echo "run-mps2: unknown option $1" >&2; usage ;;
    esac
done
[ -n "$PROVISION" ] || usage
command -v qemu-system-arm >/dev/null || { echo "run-mps2: qemu-system-arm missing (tools/bootstrap.sh)" >&2; exit 1; }
[ -f "$IMAGE" ] || { echo "run-mps2: no image $IMAGE (cmake --preset mps2-an385 && cmake --build --preset mps2-an385)" >&2; exit 1; }
case "$PROVISION$FLASH" in *" "*) echo "run-mps2: paths must not contain spaces (semihosting command line)" >&2; exit 2 ;; esac

nic="user,model=lan9118,restrict=on"
if [ -n "$PLATFORM_PORT" ]; then
    [[ "$PLATFORM_PORT" =~ ^[0-9]+$ ]] || { echo "run-mps2: --platform takes a port" >&2; exit 2; }
    command -v socat >/dev/null || { echo "run-mps2: socat missing (tools/bootstrap.sh)" >&2; exit 1; }
    nic+=",guestfwd=tcp:10.0.2.100:443-cmd:socat - TCP4:127.0.0.1:$PLATFORM_PORT"
fi
if [ -n "$ECR_FWD" ]; then
    [[ "$ECR_FWD" =~ ^[0-9]+:[0-9]+$ ]] || { echo "run-mps2: --ecr takes HOSTPORT:GUESTPORT" >&2; exit 2; }
    nic+=",hostfwd=tcp:127.0.0.1:${ECR_FWD%%:*}-:${ECR_FWD##*:}"
fi

console=(-serial stdio)
if [ -n "$DIR" ]; then
    mkdir -p "$DIR"
    for f in console.in console.out scanner.in scanner.out; do
        [ -p "$DIR/$f" ] || { rm -f "$DIR/$f"; mkfifo "$DIR/$f"; }
    done
    console=(-chardev "pipe,id=console,path=$DIR/console" -serial chardev:console)
    TIMEOUT="${TIMEOUT:-600}"
else
    DIR="mps2-run"
    mkdir -p "$DIR"
    for f in scanner.in scanner.out; do
        [ -p "$DIR/$f" ] || { rm -f "$DIR/$f"; mkfifo "$DIR/$f"; }
    done
fi

cmd=(qemu-system-arm -M mps2-an385 -nodefaults -display none -nic "$nic"
    "${console[@]}"
    -chardev "pipe,id=scanner,path=$DIR/scanner" -serial chardev:scanner
    -chardev "file,id=printer,path=$DIR/printer.bin" -serial chardev:printer
    -chardev "file,id=log,path=$DIR/log.txt" -serial chardev:log
    -semihosting-config "enable=on,target=native,arg=evt-mps2,arg=--provision,arg=$PROVISION,arg=--flash,arg=$FLASH"
    -kernel "$IMAGE")
if [ -n "$TIMEOUT" ]; then
    exec timeout --foreground -k 5 "$TIMEOUT" "${cmd[@]}"
fi
exec "${cmd[@]}"
