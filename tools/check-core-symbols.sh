#!/usr/bin/env bash
# The portable core may call only the C library subset newlib offers on bare metal, the
# named libraries (mbedTLS, cJSON, libqrencode) and the HAL (through function pointers, so
# no symbols). This lists every undefined symbol of the cross-compiled core and fails on
# anything outside that set: POSIX calls, malloc (the heap is evt_arena), stdio files, time().
set -euo pipefail
lib="${1:?usage: check-core-symbols.sh libevt_core.a}"
allowed_libc='^(memcpy|memmove|memset|memcmp|memchr|strlen|strnlen|strcmp|strncmp|strchr|strrchr|strstr|strcpy|strncpy|strspn|strcspn|snprintf|vsnprintf|abs|labs|llabs|qsort|bsearch|__aeabi_[a-z0-9_]+|__assert_func|__stack_chk_fail|__stack_chk_guard|_impure_ptr|__ctype_ptr__|isdigit|isalpha|isspace|toupper|tolower)$'
allowed_libs='^(mbedtls_|psa_|cJSON_|QRcode_|QRinput_|evt_)'
bad=$(arm-none-eabi-nm -u "$lib" | awk 'NF==2 && $1=="U" {print $2}' | sort -u |
    grep -Ev "$allowed_libc" | grep -Ev "$allowed_libs" || true)
if [ -n "$bad" ]; then
    echo "portable core uses symbols outside the allowed set:"
    echo "$bad" | sed 's/^/  /'
    exit 1
fi
# newlib-nano's printf family has no long long, size_t or ptrdiff_t conversions: "%lld" prints
# "ld" and shifts every later argument (a %s after it reads a wrong pointer), "%zu" prints "zu".
# 64-bit values are formatted by hand (evt_money_format, gateway.c) or cast to long where they
# fit. firmware/*/gen/ holds host-side generators, not firmware.
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ll=$(grep -rnE '"[^"]*%[-+ #0-9.]*(ll|j|z|t)[diuxX]|PRI[diuxX](64|MAX)' "$root/firmware" --include='*.c' |
    grep -v '^[^:]*/gen/' || true)
if [ -n "$ll" ]; then
    echo "portable core uses printf conversions newlib-nano lacks (ll, j, z, t):"
    echo "$ll" | sed 's/^/  /'
    exit 1
fi
echo "portable core: only C-library subset, mbedTLS, cJSON, qrencode and HAL symbols; no ll/j/z/t conversions"
