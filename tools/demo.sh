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
# Codes 1-3 arrive as phone-screen photos in the camera's scan directory (zbar decodes them),
# code 4 as a text line from the serial scan engine. The cashier's confirmations come from a
# key script. Receipts (ESC/POS .bin + PNG preview) are left in out/demo/receipts/.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# The ctest entry integration.demo runs this same script against an existing build:
# EVT_DEMO_NO_SETUP=1 skips bootstrap and build, EVT_BUILD_DIR and EVT_DEMO_OUT redirect it.
OUT="${EVT_DEMO_OUT:-$ROOT/out/demo}"
BUILD="${EVT_BUILD_DIR:-$ROOT/build/sim-debug}"
start=$(date +%s)

log() { printf '\n[demo] %s\n' "$*"; }

if [ -z "${EVT_DEMO_NO_SETUP:-}" ]; then
    tools/bootstrap.sh
    mkdir -p "$ROOT/build"
    if ! { cmake --preset sim-debug && cmake --build --preset sim-debug -j"$(nproc)"; } \
        >"$ROOT/build/demo-build.log" 2>&1; then
        tail -40 "$ROOT/build/demo-build.log"
        echo "build failed (full log: build/demo-build.log)" >&2
        exit 1
    fi
    log "built $(basename "$BUILD")"
fi

rm -rf "$OUT"
mkdir -p "$OUT/certs" "$OUT/scan" "$OUT/receipts"
EMU="$BUILD/tools/platform-emu/platform-emu"
VGEN="$BUILD/tools/voucher-gen/voucher-gen"
ECR="$BUILD/tools/ecr-send/ecr-send"
SIM="$BUILD/boards/sim/evt-sim"
DB="$OUT/platform.db"

tools/platform-emu/gen-certs.sh "$OUT/certs" >/dev/null
"$EMU" init --db "$DB" >/dev/null
"$EMU" serve --db "$DB" --port 0 --cert "$OUT/certs/server.pem" --key "$OUT/certs/server-key.pem" \
    --ready-file "$OUT/emu.port" 2>"$OUT/platform-emu.log" &
EMU_PID=$!
SIM_PID=""
cleanup() {
    [ -n "$SIM_PID" ] && kill "$SIM_PID" 2>/dev/null || true
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
cat >"$OUT/terminal.conf" <<CONF
# Provisioning of the demo terminal (see docs/provisioning.md)
platform_url = https://localhost:$PORT/fsi/api/rsfComIfsService/callService
ca_file = certs/ca.pem
fixmedins_code = H12010400001
fixmedins_name = 和平区康宁大药房
mdtrtarea_admvs = 120104
recer_sys_code = EVTDEMO
dev_no = EVT-SIM-0001
msgid_slot = 1
opter = 0001
opter_name = 刘晓梅
opter_type = 1
paas_id = evt-paas-demo
paas_token = evt-demo-token-1234
office_id = YF01
office_name = 药房收费处
ecr_port = $ECR_PORT
ecr_key = $ECR_KEY
paper_width_mm = 80
receipt_qr = raster
CONF

# The cashier checks identity and split, and confirms both, for each of the four sales.
cat >"$OUT/cashier.keys" <<'KEYS'
# <text on the screen> => key
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
KEYS

mkfifo "$OUT/serial-scanner"
exec 7<>"$OUT/serial-scanner" # keep the fifo open so the terminal never sees EOF

"$SIM" --provision "$OUT/terminal.conf" --flash "$OUT/flash.img" --scan-dir "$OUT/scan" \
    --scan-serial "$OUT/serial-scanner" --keys "$OUT/cashier.keys" \
    --print-dir "$OUT/receipts" --log "$OUT/terminal.log" &
SIM_PID=$!

order() { # order_id items-json
    printf '{"v":2,"type":"sale","order_id":"%s","use_personal_account":true,"items":%s}' "$1" "$2"
}

sale() { # title order-id items person [holder] [serial]
    local title="$1" id="$2" items="$3" person="$4" holder="${5:-}" serial="${6:-}"
    log "sale $id: $title"
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

# Wait (bounded) until the terminal has signed in and listens for the POS.
for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$ECR_PORT") 2>/dev/null && break
    sleep 0.1
done
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

sim_status=0
wait "$SIM_PID" || sim_status=$?
SIM_PID=""
log "receipts:"
ls -1 "$OUT/receipts"
log "platform ledger:"
"$EMU" show --db "$DB"
receipts=$(ls "$OUT/receipts"/*.bin 2>/dev/null | wc -l)
log "done in $(($(date +%s) - start))s; $receipts receipts in $OUT/receipts, terminal log $OUT/terminal.log"
if [ "$sim_status" -ne 0 ] || [ "$receipts" -ne 4 ]; then
    echo "demo incomplete: terminal exit $sim_status, $receipts of 4 receipts" >&2
    exit 1
fi

# The README's split table is checked against what the POS was told, not trusted: total,
# fund, own account, 共济 and cash of each sale, in order ("—" in the table is 0.00).
amount() { sed -n "s/.*\"$1\":\"\([0-9.]*\)\".*/\1/p"; }
told=$(grep '"type":"result"' "$OUT/ecr-results.jsonl" | while IFS= read -r line; do
    printf '%s %s %s %s %s\n' "$(amount total <<<"$line")" "$(amount fund <<<"$line")" \
        "$(amount account <<<"$line")" "$(amount mutual_aid <<<"$line")" "$(amount cash <<<"$line")"
done)
documented=$(awk -F'|' '/^\| (own code|亲情账户|共济|serial scanner)/ {
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
log "the four splits match README.md's table"
