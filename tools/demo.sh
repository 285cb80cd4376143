#!/usr/bin/env bash
# README command one: a pharmacy counter on the sim board, end to end.
#
# Sets up everything on a fresh machine (bootstrap, build), starts the platform emulator
# over HTTPS on loopback with its own CA, provisions a sim terminal, and has the pharmacy's
# POS send four orders over the ECR link. For each, a patient shows a dynamic e-voucher:
#   1. own code                    张建国 (employee insurance, healthy account)
#   2. family account (亲情账户)    child 张小宇 shown from 张建国's phone (resident insurance:
#                                  no account, fund + cash)
#   3. family mutual aid (共济)     parent 李秀英 shown from 张建国's phone; her own account
#                                  pays first, 张建国's account pays the rest of the
#                                  policy-scope share
#   4. serial scanner, own code    王丽华
# then (sim board) the POS asks for the refund of sale 3 over the ECR link (ecr-send --refund,
# retrying while the terminal answers "busy"), the cashier confirms the refund screen, the
# supervisor gives the PIN (demo PIN 246810), both accounts get their share back and the POS
# gets the result with what went back; and the
# clinic's HIS sends an outpatient visit (门诊) over the same link — its header, then its four
# fee lines in two batches as the terminal asks for them — which 张建国 settles with his code.
# Codes 1-3 arrive as phone-screen photos in the camera's scan directory (zbar decodes them),
# code 4 as a text line from the serial scan engine. The cashier's confirmations come from a
# key script. Receipts (ESC/POS .bin + PNG preview) are left in out/demo/receipts/.
#
# --board mps2-an385: the same four sales on the bare-metal board in QEMU (tools/run-mps2.sh,
# docs/board-mps2-an385.md), against the same emulator through QEMU's restricted network. The
# board has no camera: all four codes arrive as serial scan-engine lines on its scanner UART.
# The cashier's confirmations are typed on its console UART by this script. The printer UART's
# bytes (all four receipts, one stream) are rendered with receipt-view into out/demo/receipts/.
#
# usage: tools/demo.sh [--board sim|mps2-an385]     (default: sim)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BOARD=sim
while [ $# -gt 0 ]; do
    case "$1" in
    --board) BOARD="${2:-}"; shift 2 || shift ;;
    -h | --help) sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "demo: unknown option $1 (usage: tools/demo.sh [--board sim|mps2-an385])" >&2; exit 2 ;;
    esac
done
case "$BOARD" in
sim | mps2-an385) ;;
*) echo "demo: unknown board '$BOARD' (sim, mps2-an385)" >&2; exit 2 ;;
esac
# The ctest entry integration.demo runs this same script against an existing build:
# EVT_DEMO_NO_SETUP=1 skips bootstrap and build, EVT_BUILD_DIR and EVT_DEMO_OUT redirect it
# (target.demo_mps2 likewise, with EVT_MPS2_IMAGE naming the board's image).
OUT="${EVT_DEMO_OUT:-$ROOT/out/demo}"
BUILD="${EVT_BUILD_DIR:-$ROOT/build/sim-debug}"
IMAGE="${EVT_MPS2_IMAGE:-$ROOT/build/mps2-an385/boards/mps2-an385/evt-mps2.elf}"
start=$(date +%s)

log() { printf '\n[demo] %s\n' "$*"; }

if [ -z "${EVT_DEMO_NO_SETUP:-}" ]; then
    tools/bootstrap.sh
    mkdir -p "$ROOT/build"
    # the host tools (platform-emu, ecr-send, voucher-gen, receipt-view) and evt-sim come from
    # sim-debug; the board's image from mps2-an385
    presets=(sim-debug)
    [ "$BOARD" = mps2-an385 ] && presets+=(mps2-an385)
    : >"$ROOT/build/demo-build.log"
    for preset in "${presets[@]}"; do
        if ! { cmake --preset "$preset" && cmake --build --preset "$preset" -j"$(nproc)"; } \
            >>"$ROOT/build/demo-build.log" 2>&1; then
            tail -40 "$ROOT/build/demo-build.log"
            echo "build failed (full log: build/demo-build.log)" >&2
            exit 1
        fi
        log "built $preset"
    done
fi

rm -rf "$OUT"
mkdir -p "$OUT/certs" "$OUT/scan" "$OUT/receipts"
OUT="$(cd "$OUT" && pwd)" # the board's files are opened relative to $OUT (semihosting)
EMU="$BUILD/tools/platform-emu/platform-emu"
VGEN="$BUILD/tools/voucher-gen/voucher-gen"
ECR="$BUILD/tools/ecr-send/ecr-send"
SIM="$BUILD/boards/sim/evt-sim"
VIEW="$BUILD/tools/receipt-view/receipt-view"
DB="$OUT/platform.db"
if [ "$BOARD" = mps2-an385 ]; then
    for f in "$EMU" "$ECR" "$VIEW" "$IMAGE"; do
        [ -f "$f" ] || { echo "demo: $f missing (build the sim-debug and mps2-an385 presets)" >&2; exit 1; }
    done
fi

tools/platform-emu/gen-certs.sh "$OUT/certs" >/dev/null
"$EMU" init --db "$DB" >/dev/null
"$EMU" serve --db "$DB" --port 0 --cert "$OUT/certs/server.pem" --key "$OUT/certs/server-key.pem" \
    --ready-file "$OUT/emu.port" 2>"$OUT/platform-emu.log" &
EMU_PID=$!
SIM_PID="" QEMU_PID="" CAT_PID="" TAIL_PID=""
cleanup() {
    [ -n "$SIM_PID" ] && kill "$SIM_PID" 2>/dev/null || true
    for p in "$QEMU_PID" "$CAT_PID" "$TAIL_PID"; do
        [ -n "$p" ] && kill "$p" 2>/dev/null || true
    done
    kill "$EMU_PID" 2>/dev/null || true
    wait 2>/dev/null || true
}
trap cleanup EXIT
for _ in $(seq 100); do [ -s "$OUT/emu.port" ] && break; sleep 0.1; done
[ -s "$OUT/emu.port" ] || { echo "platform emulator did not start" >&2; exit 1; }
PORT=$(cat "$OUT/emu.port")
log "platform emulator listening on https://localhost:$PORT (log: $OUT/platform-emu.log)"

ECR_PORT=$((20000 + RANDOM % 20000))
# A fixed, published demo pairing key (docs/provisioning.md): fine for a loopback demo,
# never for a real terminal, which gets its own secret key from the provisioning tool.
ECR_KEY=5ec2e7a04b1d9c3f86a2e0d47b9f13c58e6a0d2b7f4c1e9a3d5b8f0c2e6a4d71
if [ "$BOARD" = sim ]; then
    PLATFORM_URL="https://localhost:$PORT/fsi/api/rsfComIfsService/callService"
    DEV_NO=EVT-SIM-0001 TERMINAL_ECR_PORT=$ECR_PORT
else
    # QEMU's restricted user network (tools/run-mps2.sh): the board reaches the emulator only
    # as 10.0.2.100:443 and checks its certificate against platform.evt.test; its ECR link
    # listens on the guest's port 9100, which the POS reaches as 127.0.0.1:$ECR_PORT.
    PLATFORM_URL="https://10.0.2.100/fsi/api/rsfComIfsService/callService"
    DEV_NO=EVT-MPS2-0001 TERMINAL_ECR_PORT=9100
fi
cat >"$OUT/terminal.conf" <<CONF
# Provisioning of the demo terminal (see docs/provisioning.md)
platform_url = $PLATFORM_URL
ca_file = certs/ca.pem
fixmedins_code = H12010400001
fixmedins_name = 和平区康宁大药房
mdtrtarea_admvs = 120104
recer_sys_code = EVTDEMO
dev_no = $DEV_NO
msgid_slot = 1
opter_type = 1
paas_id = evt-paas-demo
paas_token = evt-demo-token-1234
office_id = YF01
office_name = 药房收费处
ecr_port = $TERMINAL_ECR_PORT
ecr_key = $ECR_KEY
paper_width_mm = 80
receipt_qr = raster
# The platform connection is kept 30 s between sales (the emulator closes idle ones after 60 s):
# a steady-state sale is then the protocol's 4 round trips with no handshake (docs/performance.md)
keep_connection_s = 30
CONF

if [ "$BOARD" = sim ]; then
    # The counter's staff (docs/provisioning.md "Operators"): a cashier who logs in for her
    # shift (9001 in her name) and a supervisor who authorises the refund, each with a PIN of
    # their own, provisioned as the technician's tool makes it (only the salted hash is
    # stored). Published demo PINs, never real ones.
    pin_hash() { printf '%s\n' "$1" | "$BUILD/tools/pin-hash/pin-hash" | sed 's/^supervisor_pin = //'; }
    {
        echo "operator_1 = 0001|刘晓梅|cashier|$(pin_hash 135790)"
        echo "operator_2 = 0002|王建华|supervisor|$(pin_hash 246810)"
    } >>"$OUT/terminal.conf"
    # The cashier logs in; checks identity and split, and confirms both, for each of the four
    # sales; confirms the refund of the 共济 sale the POS asks for, which the supervisor
    # authorises with her PIN; after the clinic visit reprints its 门诊结算单 from the journal;
    # runs the daily close and signs out.
    cat >"$OUT/cashier.keys" <<'KEYS'
# <text on the screen> => key
未签到 => MENU
功能菜单 => TYPE:6
操作员登录：选择操作员 => TYPE:1
操作员密码 => DIGITS:135790
请核对患者身份 => OK
请确认结算金额 => OK
结算成功 => OK
请核对患者身份 => OK
请确认结算金额 => OK
结算成功 => OK
请核对患者身份 => OK
请确认结算金额 => OK
结算成功 => OK
请核对患者身份 => OK
请确认结算金额 => OK
结算成功 => OK
请确认退费 => OK
主管密码 => DIGITS:246810
退费成功 => OK
请核对患者身份 => OK
请确认结算金额 => OK
结算成功 => OK
请核对患者身份 => OK
请确认结算金额 => OK
结算成功 => OK
请确认退费 => OK
主管密码 => DIGITS:246810
退费成功 => OK
就绪 => MENU
功能菜单 => TYPE:2
补打：选择今日结算单 => TYPE:1
结算单已补打 => OK
就绪 => MENU
功能菜单 => TYPE:8
日结 => OK
就绪 => MENU
功能菜单 => TYPE:7
KEYS

    mkfifo "$OUT/serial-scanner"
    exec 7<>"$OUT/serial-scanner" # keep the fifo open so the terminal never sees EOF

    "$SIM" --provision "$OUT/terminal.conf" --flash "$OUT/flash.img" --scan-dir "$OUT/scan" \
        --scan-serial "$OUT/serial-scanner" --keys "$OUT/cashier.keys" \
        --print-dir "$OUT/receipts" --log "$OUT/terminal.log" &
    SIM_PID=$!
else
    # The board's one operator (legacy provisioning: signed in at start-up, no login).
    printf 'opter = 0001\nopter_name = 刘晓梅\n' >>"$OUT/terminal.conf"
    printf 'tls_server_name = platform.evt.test\necr_bind = 0.0.0.0\n' >>"$OUT/terminal.conf"
    # shellcheck source=tools/lib/mps2-console.sh
    . "$ROOT/tools/lib/mps2-console.sh" # boot, screens, cashier keys, quit (as sale_mps2.sh)
    fail() {
        echo "demo: FAIL: $*" >&2
        echo "--- board log (tail)"; tail -20 "$OUT/run/log.txt" 2>/dev/null || true
        echo "--- QEMU"; cat "$OUT/qemu.out" 2>/dev/null || true
        echo "--- emulator log (tail)"; tail -20 "$OUT/platform-emu.log" 2>/dev/null || true
        exit 1
    }
    cd "$OUT" # run/, console.log, and the paths the board opens through semihosting
    log "booting the mps2-an385 board in QEMU (UARTs: console $OUT/console.log, scanner" \
        "$OUT/run/scanner.in, printer $OUT/run/printer.bin, log $OUT/run/log.txt)"
    log "the board has no camera: all four codes arrive as serial scan-engine lines;" \
        "the cashier's keys are typed on its console by this script"
    # 4 sales take about a minute; the bound leaves room for a slow, shared machine
    mps2_boot "$IMAGE" terminal.conf flash.img "$PORT" "$ECR_PORT:9100" 600
    tail -n +1 -f console.log & # the cashier's screens, as the sim prints them
    TAIL_PID=$!
    wait_screen "医保电子凭证终端 就绪" 0 120
    grep -q "network up: 10.0.2.15" run/log.txt || fail "no DHCP lease on the board"
fi

order() { # order_id items-json
    printf '{"v":2,"type":"sale","order_id":"%s","use_personal_account":true,"items":%s}' "$1" "$2"
}

# On the board: the POS sends the order; when the scan screen is up the scan engine sends the
# code (emulator-issued, for the holder's phone when there is a holder); the cashier confirms
# the identity, then the split (again until the 500 ms dwell has passed), then the receipt.
board_sale() { # order-id items person [holder]
    local id="$1" items="$2" person="$3" holder="${4:-}" pos
    local code_args=(code --db "$DB" --person "$person")
    [ -n "$holder" ] && code_args+=(--holder "$holder")
    "$ECR" --port "$ECR_PORT" --provision "$OUT/terminal.conf" --json "$(order "$id" "$items")" \
        --timeout 120 >"$OUT/pos-$id.jsonl" 2>"$OUT/pos-$id.err" &
    pos=$!
    key_after "请扫描患者手机上的医保码" ""
    "$EMU" "${code_args[@]}" >run/scanner.in
    key_after "请核对患者身份" $'\r'
    confirm_after "请确认结算金额" "正在结算"
    key_after "结算成功" $'\r'
    wait "$pos" || fail "the POS was not told the result of $id: $(cat "$OUT/pos-$id.jsonl" "$OUT/pos-$id.err")"
    tee -a "$OUT/ecr-results.jsonl" <"$OUT/pos-$id.jsonl"
}

sale() { # title order-id items person [holder] [serial]
    local title="$1" id="$2" items="$3" person="$4" holder="${5:-}" serial="${6:-}"
    log "sale $id: $title"
    if [ "$BOARD" = mps2-an385 ]; then
        board_sale "$id" "$items" "$person" "$holder"
        return
    fi
    local args=(--emu "$EMU" --db "$DB" --person "$person")
    [ -n "$holder" ] && args+=(--holder "$holder")
    if [ -n "$serial" ]; then
        code=$("$EMU" code --db "$DB" --person "$person")
        printf '%s\r\n' "$code" >&7
    else
        "$VGEN" "${args[@]}" --out "$OUT/scan/$id.png" --rotate 8 --noise 10 --seed "$RANDOM" >/dev/null
    fi
    # the POS is paired with the terminal: ecr-send reads the key from the provisioning file
    "$ECR" --port "$ECR_PORT" --provision "$OUT/terminal.conf" --json "$(order "$id" "$items")" \
        --timeout 60 | tee -a "$OUT/ecr-results.jsonl"
}

# Wait (bounded) until the terminal has signed in and listens for the POS (the board is, at
# its idle screen; QEMU's forward would accept a connection before the board listens).
if [ "$BOARD" = sim ]; then
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$ECR_PORT") 2>/dev/null && break
        sleep 0.1
    done
    # Nobody sells before an operator is on shift: the POS waits for the cashier's login (9001).
    for _ in $(seq 300); do
        grep -q "operator 0001 signed in" "$OUT/terminal.log" 2>/dev/null && break
        sleep 0.1
    done
    grep -q "operator 0001 signed in" "$OUT/terminal.log" ||
        { echo "demo: the cashier did not log in (9001)" >&2; exit 1; }
    log "cashier 刘晓梅 (0001) logged in with her PIN and signed in (9001) for the shift"
fi
sale "own code (本人)" DEMO-0001 \
    '[{"med_list_codg":"XJ01CAA040A001010100001","medins_list_codg":"YP0001","name":"阿莫西林胶囊","qty":2,"price":"12.50"},{"med_list_codg":"XR05XAL047A001010100001","medins_list_codg":"YP0007","name":"维生素C片","qty":1,"price":"6.80"}]' \
    employee
sale "family account (亲情账户): child, resident insurance" DEMO-0002 \
    '[{"med_list_codg":"XR05CBA086A001020100001","medins_list_codg":"YP0012","name":"小儿氨酚黄那敏颗粒","qty":1,"price":"18.60"}]' \
    child employee
sale "family mutual aid (共济): parent, shown from employee's phone" DEMO-0003 \
    '[{"med_list_codg":"XC08CAA077A001010100001","medins_list_codg":"YP0021","name":"苯磺酸氨氯地平片","qty":3,"price":"28.00"}]' \
    parent employee
sale "serial scanner (串口扫码)" DEMO-0004 \
    '[{"med_list_codg":"XA02BCA001A001010100001","medins_list_codg":"YP0003","name":"奥美拉唑肠溶胶囊","qty":1,"price":"22.40"}]' \
    stranger "" serial

if [ "$BOARD" = sim ]; then
    # The POS refunds sale 3 (共济). The terminal may still be finishing sale 4 (its receipt, the
    # cashier's key): it answers "busy" at once and ecr-send asks again, a bounded number of times.
    log "refund of sale DEMO-0003 from the POS: the supervisor authorises it at the terminal"
    "$ECR" --port "$ECR_PORT" --provision "$OUT/terminal.conf" --refund DEMO-0003 \
        --busy-retries 40 --busy-pause-ms 250 --timeout 60 | tee "$OUT/pos-refund.jsonl"
    grep -q '"request":"refund","status":"refunded".*"fund":"42.00","account":"35.20","mutual_aid":"6.80","cash":"0.00"' \
        "$OUT/pos-refund.jsonl" ||
        { echo "demo: the POS was not told the refund of DEMO-0003 with its amounts" >&2; exit 1; }
    wait_receipts() { # count: the terminal has printed that many (the cashier is past them)
        for _ in $(seq 300); do
            [ "$(ls "$OUT/receipts"/*.bin 2>/dev/null | wc -l)" -ge "$1" ] && return
            sleep 0.1
        done
    }
    # The clinic's HIS: an outpatient visit (门诊) of four fee lines in two batches, once the
    # refund above has finished at the counter (its receipt printed, the cashier's key).
    wait_receipts 5
    log "outpatient visit DEMO-V-0001 (门诊, general 11): 甲 over its ceiling, 甲, 乙, 丙 in two batches"
    cat >"$OUT/visit-fees.jsonl" <<'FEES'
{"items":[{"med_list_codg":"001102000010000","medins_list_codg":"MZ-001","name":"普通门诊诊查费","qty":1,"price":"15.00"},{"med_list_codg":"250101001000000","medins_list_codg":"JY-101","name":"血细胞分析","qty":1,"price":"18.00"}],"last":false}
{"items":[{"med_list_codg":"250302002000000","medins_list_codg":"JY-302","name":"糖化血红蛋白测定","qty":1,"price":"60.00"},{"med_list_codg":"XA11GAV003A001010100777","medins_list_codg":"YP-777","name":"自费营养剂","qty":2,"price":"12.50"}],"last":true}
FEES
    "$VGEN" --emu "$EMU" --db "$DB" --person employee --out "$OUT/scan/DEMO-V-0001.png" --rotate 8 \
        --noise 10 --seed "$RANDOM" >/dev/null
    "$ECR" --port "$ECR_PORT" --provision "$OUT/terminal.conf" --fees "$OUT/visit-fees.jsonl" \
        --timeout 60 --json '{"type":"visit","order_id":"DEMO-V-0001","ipt_otp_no":"MZ20260001","med_type":"11","dise_codg":"","dise_name":"","dept_code":"A03","dept_name":"内科","atddr_no":"D001","dr_name":"刘医生","caty":"A03","use_personal_account":true,"lines":4,"total":"118.00"}' |
        tee -a "$OUT/ecr-results.jsonl"
    # A second visit of 张建国's, billed by mistake: settled, then the HIS asks for its refund
    # (2208) over the link, which the supervisor authorises at the terminal.
    wait_receipts 6
    log "outpatient visit DEMO-V-0002 (门诊, general 11), then its refund (2208) asked by the HIS"
    printf '%s\n' '{"items":[{"med_list_codg":"250101001000000","medins_list_codg":"JY-101","name":"血细胞分析","qty":1,"price":"18.00"}],"last":true}' \
        >"$OUT/visit-2-fees.jsonl"
    "$VGEN" --emu "$EMU" --db "$DB" --person employee --out "$OUT/scan/DEMO-V-0002.png" --rotate 8 \
        --noise 10 --seed "$RANDOM" >/dev/null
    "$ECR" --port "$ECR_PORT" --provision "$OUT/terminal.conf" --fees "$OUT/visit-2-fees.jsonl" \
        --busy-retries 40 --busy-pause-ms 250 --timeout 60 --json '{"type":"visit","order_id":"DEMO-V-0002","ipt_otp_no":"MZ20260002","med_type":"11","dise_codg":"","dise_name":"","dept_code":"A03","dept_name":"内科","atddr_no":"D001","dr_name":"刘医生","caty":"A03","use_personal_account":true,"lines":1,"total":"18.00"}' |
        tee -a "$OUT/ecr-results.jsonl"
    wait_receipts 7
    "$ECR" --port "$ECR_PORT" --provision "$OUT/terminal.conf" --refund DEMO-V-0002 \
        --busy-retries 40 --busy-pause-ms 250 --timeout 60 | tee "$OUT/his-refund.jsonl"
    grep -q '"request":"refund","status":"refunded".*"total":"18.00","fund":"9.00","account":"9.00","mutual_aid":"0.00","cash":"0.00"' \
        "$OUT/his-refund.jsonl" ||
        { echo "demo: the HIS was not told the refund of DEMO-V-0002 with its amounts" >&2; exit 1; }
    sim_status=0
    wait "$SIM_PID" || sim_status=$?
    SIM_PID=""
    log "receipts:"
    ls -1 "$OUT/receipts"
    log "platform ledger:"
    "$EMU" show --db "$DB"
    receipts=$(ls "$OUT/receipts"/*.bin 2>/dev/null | wc -l)
    log "done in $(($(date +%s) - start))s; $receipts receipts in $OUT/receipts, terminal log $OUT/terminal.log"
    if [ "$sim_status" -ne 0 ] || [ "$receipts" -ne 10 ]; then
        echo "demo incomplete: terminal exit $sim_status, $receipts of 10 print jobs (4 sales, 1 refund, 2 visits, 1 visit refund, a reprint, the daily close)" >&2
        exit 1
    fi
    # The reprint of the day's newest receipt, from the journal: the same receipt, marked a copy.
    reprint=$(ls "$OUT/receipts"/*-2.bin 2>/dev/null | head -1)
    [ -n "$reprint" ] && LC_ALL=C grep -qaF "$(printf '重打印' | iconv -f utf-8 -t gb18030)" "$reprint" ||
        { echo "demo: no reprint marked 重打印 among the receipts" >&2; exit 1; }
    log "reprint from the journal: $(basename "$reprint") (marked 重打印)"
    # The refund receipt names the supervisor who authorised it (her id is in the refund's record).
    LC_ALL=C grep -laF "$(printf '王建华 0002' | iconv -f utf-8 -t gb18030)" "$OUT/receipts"/*.bin >/dev/null &&
        grep -q "supervisor 0002 approved" "$OUT/terminal.log" ||
        { echo "demo: the refund was not authorised by supervisor 0002 (授权主管 on its receipt)" >&2; exit 1; }
    log "refund authorised by supervisor 王建华 (0002) with her own PIN: 授权主管 on the refund receipt"
    # The shift ends with the cashier's sign-out (9002) after the daily close.
    grep -q "operator 0001 sign-out: EVT_OK" "$OUT/terminal.log" ||
        { echo "demo: the cashier's sign-out (9002) did not reach the platform" >&2; exit 1; }
    log "cashier 0001 signed out (9002) at the end of the shift"
    # The day ends with the daily close (日结): the journal's totals per insurance type agree
    # with the platform's (3201), the batch report is printed (daily-close.bin/.png).
    close_line=$(grep 'daily close [0-9-]*: ' "$OUT/terminal.log" | tail -1)
    case "$close_line" in
    *": balanced (4 sales, 2 visits, 2 refunds, 0 differences)") log "daily close: balanced with the platform, report in $OUT/receipts/daily-close.png" ;;
    *) echo "demo: the daily close did not balance: ${close_line:-no daily close in the log}" >&2; exit 1 ;;
    esac
    # The visit is reconciled too, under the outpatient clearing type (11), apart from the sales;
    # the refunded one (DEMO-V-0002, cancelled by its 2208) nets to nothing and is left out.
    grep -q 'daily close [0-9-]* 310/[0-9]*/11: 1 settlements, balanced' "$OUT/terminal.log" ||
        { echo "demo: the outpatient visit was not reconciled (3201, clr_type 11)" >&2; exit 1; }
    log "daily close: the outpatient visit reconciled under clearing type 11, the refunded one left out"
    # The refund of sale 3 gave both accounts back their share: the parent's 35.20, and the
    # 6.80 of 共济 to 张建国, whose account is then down by sale 1's 16.24 only (2983.76) — and
    # by the visit's 77.00 below; the 2208 of DEMO-V-0002 gave him its 9.00 back.
    refunded="$("$EMU" count --db "$DB" --what cancellations) $("$EMU" count --db "$DB" --what handled:2208) $("$EMU" balance --db "$DB" --person parent) $("$EMU" balance --db "$DB" --person employee)"
    if [ "$refunded" != "2 1 35.20 2906.76" ]; then
        echo "demo: the refunds did not restore the accounts (cancellations, 2208s, parent, employee: $refunded)" >&2
        exit 1
    fi
    log "refund of sale 3: parent 35.20 again, employee 2983.76 before the visits; visit DEMO-V-0002 refunded (2208): its 9.00 back"
    # The visit: 118.00, fund 41.00 (50 % of the 82.00 in scope), own account 77.00; two 2204
    # batches, no registration undone, its four lines live at the platform (and the refunded
    # visit's one line: a 2208 cancels the settlement, the registration and its lines stay).
    visit="$("$EMU" count --db "$DB" --what handled:2204) $("$EMU" count --db "$DB" --what cancelled_visits) $("$EMU" count --db "$DB" --what live_fee_lines)"
    if [ "$visit" != "3 0 5" ] ||
        ! grep -q '"order_id":"DEMO-V-0001".*"status":"settled".*"fund":"41.00","account":"77.00"' "$OUT/ecr-results.jsonl"; then
        echo "demo: the outpatient visit did not settle as expected (2204s, undone, live lines: $visit)" >&2
        exit 1
    fi
    log "outpatient visit DEMO-V-0001: 118.00 = fund 41.00 + own account 77.00, 4 fee lines in 2 batches"
else
    # The day ends with the daily close (日结) from the menu: balanced with the platform (3201),
    # the batch report printed after the four receipts.
    log "daily close (日结) from the function menu"
    key_after "医保电子凭证终端 就绪" "m"
    key_after "功能菜单" "8"
    key_after "日结完成：对账一致" $'\r'
    mps2_quit "after the daily close" # the cashier ends the day; QEMU exits with status 0
    kill "$TAIL_PID" 2>/dev/null || true
    TAIL_PID=""
    # The printer UART carries the five jobs (four receipts, the daily close's report) back to
    # back; receipt-view draws the stream on one strip of paper and counts the cuts it parsed
    # (one per job).
    cp run/printer.bin receipts/printer.bin
    report=$("$VIEW" receipts/printer.bin receipts/printer.png --width 576) ||
        fail "receipt-view: the printer stream has problems: $report"
    log "receipts (printer UART, one stream):"
    ls -1 "$OUT/receipts"
    echo "$report"
    log "platform ledger:"
    "$EMU" show --db "$DB"
    receipts=$(sed -n 's/.*, \([0-9]*\) cut$/\1/p' <<<"$report")
    log "done in $(($(date +%s) - start))s; $receipts receipts in $OUT/receipts, board log $OUT/run/log.txt"
    [ "$receipts" = 5 ] ||
        fail "demo incomplete: $receipts of 5 print jobs (4 receipts, the daily close) on the printer UART"
fi

# The README's split table is checked against what the POS was told, not trusted: total,
# fund, own account, 共济 and cash of each sale, in order ("—" in the table is 0.00).
amount() { sed -n "s/.*\"$1\":\"\([0-9.]*\)\".*/\1/p"; }
told=$(grep '"type":"result"' "$OUT/ecr-results.jsonl" | while IFS= read -r line; do
    printf '%s %s %s %s %s\n' "$(amount total <<<"$line")" "$(amount fund <<<"$line")" \
        "$(amount account <<<"$line")" "$(amount mutual_aid <<<"$line")" "$(amount cash <<<"$line")"
done)
# The outpatient visit's row is the sim board's only (the board runs the four sales).
documented=$(awk -F'|' -v visit="$([ "$BOARD" = sim ] && echo 1)" '/^\| (own code|亲情账户|共济|serial scanner)/ || (visit && /^\| outpatient visit/) {
        out = ""
        for (i = 3; i <= 7; i++) {
            v = $i; gsub(/^ +| +$/, "", v); sub(/ .*/, "", v)
            if (v == "—") v = "0.00"
            out = out (i > 3 ? " " : "") v
        }
        print out
    }' "$ROOT/README.md")
if [ "$told" != "$documented" ]; then
    printf 'README split table and the demo disagree:\nREADME:\n%s\ndemo:\n%s\n' \
        "$documented" "$told" >&2
    exit 1
fi
log "the splits match README.md's table"
