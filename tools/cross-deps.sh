#!/usr/bin/env bash
# Cross-builds the dependencies of the Cortex-M3 board (mps2-an385) from the Debian source
# packages tools/bootstrap.sh unpacked into .cache/src:
#   mbedTLS 3.6   with the board's client-only configuration (boards/mps2-an385/evt_mbedtls_board.h)
#   cJSON         as is
#   libqrencode   with its allocations routed to the firmware arena (ports/qrencode/)
#   cmocka 1.1.5  (bookworm's, the version the host tests use) for the target unit tests
# into .cache/cross/cortex-m3-<key>/{include,lib}. The key hashes everything that changes the
# result (configuration headers, toolchain files, this script, the alloc port, the source
# package versions); cmake/deps.cmake computes the same key, so trees with different inputs
# can share one cache. Idempotent: a finished directory has a .evt-stamp and is reused.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${EVT_CACHE:-$ROOT/.cache}"
SRC="$CACHE/src"
TARGET=cortex-m3
JOBS="${EVT_JOBS:-2}"

log() { printf '[cross-deps] %s\n' "$*"; }
die() { printf '[cross-deps] error: %s\n' "$*" >&2; exit 1; }

# Keep this list and order in step with cmake/deps.cmake (evt_cross_key).
KEY_FILES=(
    include/evt_mbedtls_config.h
    boards/mps2-an385/evt_mbedtls_board.h
    cmake/arm-none-eabi.cmake
    cmake/arm-none-eabi-cortex-m3.cmake
    tools/cross-deps.sh
    ports/qrencode/evt_qrencode_alloc.h
)
KEY_SOURCES=(mbedtls cjson qrencode cmocka)

cross_key() {
    {
        for f in "${KEY_FILES[@]}"; do sha256sum "$ROOT/$f" | cut -c1-64; done
        for s in "${KEY_SOURCES[@]}"; do head -1 "$SRC/$s/.evt-stamp"; done
    } | sha256sum | cut -c1-12
}

for s in "${KEY_SOURCES[@]}"; do
    [ -e "$SRC/$s/.evt-stamp" ] || die "$SRC/$s missing: run tools/bootstrap.sh"
done
command -v arm-none-eabi-gcc >/dev/null || die "arm-none-eabi-gcc missing (gcc-arm-none-eabi)"

KEY="$(cross_key)"
DEST="$CACHE/cross/$TARGET-$KEY"
if [ -e "$DEST/.evt-stamp" ]; then
    log "$TARGET dependencies: cached ($KEY)"
    exit 0
fi
log "building $TARGET dependencies ($KEY): mbedTLS $(head -1 "$SRC/mbedtls/.evt-stamp"), cJSON, qrencode, cmocka"
WORK="$CACHE/build-cross-$TARGET-$KEY"
rm -rf "$WORK" "$DEST.tmp"
trap 'rm -rf "$DEST.tmp"' EXIT
mkdir -p "$WORK" "$DEST.tmp/lib" "$DEST.tmp/include"
TOOLCHAIN="$ROOT/cmake/arm-none-eabi-cortex-m3.cmake"
CFLAGS=(-mcpu=cortex-m3 -mthumb -Os -g -ffunction-sections -fdata-sections -std=gnu11)

# mbedTLS: its own CMake with the board toolchain and configuration.
cmake -S "$SRC/mbedtls" -B "$WORK/mbedtls" -DCMAKE_TOOLCHAIN_FILE="$TOOLCHAIN" \
    -DCMAKE_BUILD_TYPE=MinSizeRel \
    -DCMAKE_C_FLAGS="-mcpu=cortex-m3 -mthumb -ffunction-sections -fdata-sections -g -DEVT_MBEDTLS_BARE_METAL" \
    -DENABLE_TESTING=OFF -DENABLE_PROGRAMS=OFF \
    -DUSE_SHARED_MBEDTLS_LIBRARY=OFF -DUSE_STATIC_MBEDTLS_LIBRARY=ON \
    -DMBEDTLS_USER_CONFIG_FILE="$ROOT/boards/mps2-an385/evt_mbedtls_board.h" \
    -DCMAKE_INSTALL_PREFIX="$DEST.tmp" >"$WORK/mbedtls.log" 2>&1 || die "mbedTLS configure ($WORK/mbedtls.log)"
cmake --build "$WORK/mbedtls" -j"$JOBS" >>"$WORK/mbedtls.log" 2>&1 || die "mbedTLS build ($WORK/mbedtls.log)"
cmake --install "$WORK/mbedtls" >>"$WORK/mbedtls.log" 2>&1 || die "mbedTLS install"
rm -rf "$DEST.tmp/lib/cmake"

# A few C files each: compiled directly, no configure step that probes a host.
build_lib() { # name out-lib [gcc args...] -- sources...
    local name="$1" lib="$2"
    shift 2
    local args=() objs=()
    while [ "$1" != "--" ]; do args+=("$1"); shift; done
    shift
    mkdir -p "$WORK/$name"
    for src in "$@"; do
        local obj="$WORK/$name/$(basename "${src%.c}").o"
        arm-none-eabi-gcc "${CFLAGS[@]}" "${args[@]}" -c "$src" -o "$obj" ||
            die "$name: $src does not compile"
        objs+=("$obj")
    done
    arm-none-eabi-ar rcs "$DEST.tmp/lib/$lib" "${objs[@]}"
}

build_lib cjson libcjson.a -- "$SRC/cjson/cJSON.c"
mkdir -p "$DEST.tmp/include/cjson"
cp "$SRC/cjson/cJSON.h" "$DEST.tmp/include/cjson/"

build_lib qrencode libqrencode.a -DSTATIC_IN_RELEASE=static -DHAVE_STRDUP=1 \
    -DMAJOR_VERSION=4 -DMINOR_VERSION=1 -DMICRO_VERSION=1 -D'VERSION="4.1.1"' \
    -include "$ROOT/ports/qrencode/evt_qrencode_alloc.h" -- \
    "$SRC"/qrencode/{bitstream,mask,mmask,mqrspec,qrencode,qrinput,qrspec,rsecc,split}.c
cp "$SRC/qrencode/qrencode.h" "$DEST.tmp/include/"

# cmocka's configure checks assume a hosted system; bare metal has no clocks and no
# thread-local storage, so its config.h is written here. newlib's signal() is a software
# table (nothing raises SIGSEGV on a fault: the board's fault handler ends the test).
cat >"$WORK/cmocka-config.h" <<'CFG'
#define HAVE_ASSERT_H 1
#define HAVE_INTTYPES_H 1
#define HAVE_MALLOC_H 1
#define HAVE_SETJMP_H 1
#define HAVE_SIGNAL_H 1
#define HAVE_SIGNAL 1
#define HAVE_STDARG_H 1
#define HAVE_STDDEF_H 1
#define HAVE_STDINT_H 1
#define HAVE_STDIO_H 1
#define HAVE_STDLIB_H 1
#define HAVE_STRING_H 1
#define HAVE_STRINGS_H 1
#define HAVE_SYS_TYPES_H 1
#define HAVE_TIME_H 1
#define HAVE_CALLOC 1
#define HAVE_EXIT 1
#define HAVE_FPRINTF 1
#define HAVE_SNPRINTF 1
#define HAVE_VSNPRINTF 1
#define HAVE_FREE 1
#define HAVE_LONGJMP 1
#define HAVE_MALLOC 1
#define HAVE_MEMCPY 1
#define HAVE_MEMSET 1
#define HAVE_PRINTF 1
#define HAVE_SETJMP 1
#define HAVE_STRCMP 1
#define HAVE_STRCPY 1
#define WORDS_SIZEOF_VOID_P 4
CFG
mkdir -p "$WORK/cmocka-inc"
cp "$WORK/cmocka-config.h" "$WORK/cmocka-inc/config.h"
build_lib cmocka libcmocka.a -DHAVE_CONFIG_H=1 -I"$WORK/cmocka-inc" -I"$SRC/cmocka/include" -- \
    "$SRC/cmocka/src/cmocka.c"
cp "$SRC/cmocka/include/cmocka.h" "$DEST.tmp/include/"

# Every object must be Cortex-M code: a flag lost on the way (CMAKE_C_FLAGS replaces the
# toolchain's initial flags) would give ARM-mode code that faults on the first call.
for lib in "$DEST.tmp"/lib/*.a; do
    attrs="$(arm-none-eabi-readelf -A "$lib")"
    if grep -q "Tag_CPU_arch: v4T" <<<"$attrs"; then
        die "$(basename "$lib") holds ARM-mode (ARMv4T) objects, not Cortex-M3 code"
    fi
    grep -q "Tag_CPU_arch_profile: Microcontroller" <<<"$attrs" ||
        die "$(basename "$lib") is not built for a Cortex-M"
done

touch "$DEST.tmp/.evt-stamp"
rm -rf "$DEST"
mv "$DEST.tmp" "$DEST"
rm -rf "$WORK"
log "$TARGET dependencies ready: $DEST"
