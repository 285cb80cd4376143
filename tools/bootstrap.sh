#!/usr/bin/env bash
# Dependency bootstrap: makes a fresh Debian machine able to build and test the project.
#
# - installs the Debian binary packages the host build, the tools, the Cortex-M compile and the
#   fuzz targets need (clang-14 with its libFuzzer/sanitizer runtimes, llvm-symbolizer);
# - fetches Debian *source* packages into the ignored cache (.cache/src) for what must be
#   newer than bookworm (mbedTLS 3.6 LTS and lwIP 2.2 from trixie) or cross-compiled (cJSON,
#   qrencode, lwIP);
# - builds mbedTLS 3.6 for the host with the project's configuration into .cache/host.
#
# Idempotent: every step checks a stamp or the installed state first, so a second run is quick.
# Nothing here is committed; `git clean -xdf` returns the tree to what git holds.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${EVT_CACHE:-$ROOT/.cache}"
SRC="$CACHE/src"
HOST="$CACHE/host"
MBEDTLS_SERIES="3.6"
MBEDTLS_CONFIG="$ROOT/include/evt_mbedtls_config.h"

log() { printf '[bootstrap] %s\n' "$*"; }
die() { printf '[bootstrap] error: %s\n' "$*" >&2; exit 1; }

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

# libgnutls30 and gnutls-bin (certtool) are also what test_https's GnuTLS peer dlopens and
# runs: without them that test fails (tests/support/skip_policy.h), it does not skip.
# valgrind: bench_protocol includes <valgrind/callgrind.h> (its instruction-count mode).
HOST_PACKAGES=(
    build-essential cmake pkg-config dpkg-dev ca-certificates
    libzbar-dev libqrencode-dev libcjson-dev libcmocka-dev libpng-dev
    libmicrohttpd-dev libgnutls28-dev libgnutls30 gnutls-bin libsqlite3-dev sqlite3 libjson-c-dev
    unifont clang-format socat
    valgrind
    gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm
    clang-14 libclang-rt-14-dev llvm-14
)

apt_updated=0
apt_update_once() {
    if [ "$apt_updated" -eq 0 ]; then
        log "apt-get update"
        $SUDO apt-get update -qq >/dev/null
        apt_updated=1
    fi
}

install_missing_packages() {
    local missing=()
    for p in "${HOST_PACKAGES[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
            missing+=("$p")
        fi
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        apt_update_once
        log "installing: ${missing[*]}"
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
            "${missing[@]}" >/dev/null
    else
        log "Debian packages: all present"
    fi
}

# deb-src entries for bookworm and trixie: the only way to get mbedTLS 3.6 LTS here.
ensure_deb_src() {
    local list=/etc/apt/sources.list.d/evt-deb-src.sources
    if grep -rqs "^Types: deb-src" /etc/apt/sources.list.d/ /etc/apt/sources.list 2>/dev/null &&
        grep -rqs "trixie" /etc/apt/sources.list.d/*.sources 2>/dev/null; then
        return
    fi
    log "adding deb-src entries for bookworm and trixie"
    $SUDO tee "$list" >/dev/null <<'EOF'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    apt_updated=0
    apt_update_once
}

# Newest version of a source package in a suite series, e.g. mbedtls 3.6.x.
source_version() { # name prefix
    apt-cache showsrc "$1" 2>/dev/null | awk '/^Version:/ {print $2}' | grep "^$2" | sort -V | tail -1
}

# Unpacks Debian source package $1 (version prefix $2) into $SRC/$1 (symlink to the versioned dir).
fetch_source() { # name version-prefix
    local name="$1" prefix="$2" ver dir
    if [ -e "$SRC/$name/.evt-stamp" ]; then
        return
    fi
    ensure_deb_src
    ver="$(source_version "$name" "$prefix")"
    if [ -z "$ver" ]; then
        apt_updated=0
        apt_update_once
        ver="$(source_version "$name" "$prefix")"
    fi
    [ -n "$ver" ] || die "no Debian source package $name $prefix* (check deb-src entries)"
    log "fetching Debian source package $name $ver"
    mkdir -p "$SRC/dl-$name"
    (cd "$SRC/dl-$name" && apt-get source --download-only -qq "$name=$ver" >/dev/null 2>&1) ||
        die "apt-get source $name=$ver failed"
    local upstream="${ver%-*}"
    upstream="${upstream#*:}"
    rm -rf "$SRC/$name.tmp"
    mkdir -p "$SRC/$name.tmp"
    local orig
    orig="$(ls "$SRC/dl-$name"/"${name}"_*.orig.tar.* 2>/dev/null | head -1)"
    [ -n "$orig" ] || die "no upstream tarball for $name"
    tar -xf "$orig" -C "$SRC/$name.tmp" --strip-components=1
    echo "$ver" >"$SRC/$name.tmp/.evt-stamp"
    rm -rf "$SRC/$name"
    mv "$SRC/$name.tmp" "$SRC/$name"
}

# mbedTLS 3.6 for the host, with the project's user configuration. The install directory
# name carries a hash of the configuration so a config change rebuilds it; cmake/deps.cmake
# picks the directory by the same hash, so trees with different headers can share one cache.
build_mbedtls_host() {
    local hash dest
    hash="$(sha256sum "$MBEDTLS_CONFIG" | cut -c1-12)"
    dest="$HOST/mbedtls-$hash"
    if [ -e "$dest/.evt-stamp" ]; then
        log "mbedTLS $(cat "$SRC/mbedtls/.evt-stamp") for host: cached (config $hash)"
        return
    fi
    log "building mbedTLS $(cat "$SRC/mbedtls/.evt-stamp") for host (config $hash)"
    local bdir="$CACHE/build-mbedtls-host-$hash"
    rm -rf "$bdir"
    cmake -S "$SRC/mbedtls" -B "$bdir" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DCMAKE_INSTALL_PREFIX="$dest" -DENABLE_TESTING=OFF -DENABLE_PROGRAMS=OFF \
        -DUSE_SHARED_MBEDTLS_LIBRARY=OFF -DUSE_STATIC_MBEDTLS_LIBRARY=ON \
        -DCMAKE_POSITION_INDEPENDENT_CODE=ON \
        -DMBEDTLS_USER_CONFIG_FILE="$MBEDTLS_CONFIG" >/dev/null
    cmake --build "$bdir" -j"$(nproc)" >/dev/null
    cmake --install "$bdir" >/dev/null
    touch "$dest/.evt-stamp"
    rm -rf "$bdir"
}

main() {
    mkdir -p "$SRC" "$HOST"
    install_missing_packages
    fetch_source mbedtls "$MBEDTLS_SERIES."
    fetch_source cjson "1."
    fetch_source qrencode "4."
    fetch_source cmocka "1.1.5"
    fetch_source lwip "2.2."
    build_mbedtls_host
    # The mps2-an385 board: mbedTLS, cJSON, libqrencode and cmocka for Cortex-M3.
    EVT_CACHE="$CACHE" "$ROOT/tools/cross-deps.sh"
    log "ready (cache: $CACHE)"
}

main "$@"
