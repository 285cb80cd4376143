/* evt_auth: see auth.h. */
#include "evt/auth.h"

#include <stdio.h>
#include <string.h>

#include <mbedtls/md.h>
#include <mbedtls/pkcs5.h>

#include "evt/log.h"

#define MOD "auth"

/* Failure state of a role in the journal: consecutive failures and, when locked, until when
 * (Unix seconds). Little-endian, fixed layout. */
typedef struct auth_state {
    uint32_t failures;
    int64_t locked_until;
} auth_state;

static void state_key(const char *role, char key[EVT_JOURNAL_KEY_MAX + 1])
{
    snprintf(key, EVT_JOURNAL_KEY_MAX + 1, "%s%s", EVT_AUTH_PREFIX, role);
}

static evt_err state_load(evt_journal *j, const char *key, auth_state *st)
{
    uint8_t b[12];
    size_t len = 0;
    memset(st, 0, sizeof *st);
    evt_err err = evt_journal_get(j, key, b, sizeof b, &len);
    if (err == EVT_ERR_NOT_FOUND) {
        return EVT_OK;
    }
    if (err == EVT_OK && len != sizeof b) {
        err = EVT_ERR_JOURNAL_CORRUPT;
    }
    if (err != EVT_OK) {
        /* Unreadable counters must not reopen the door: treat as locked once. */
        st->failures = EVT_AUTH_MAX_FAILURES;
        return err == EVT_ERR_JOURNAL_CORRUPT ? EVT_OK : err;
    }
    uint64_t until = 0;
    for (int i = 0; i < 4; i++) {
        st->failures |= (uint32_t)b[i] << (8 * i);
    }
    for (int i = 0; i < 8; i++) {
        until |= (uint64_t)b[4 + i] << (8 * i);
    }
    st->locked_until = (int64_t)until;
    return EVT_OK;
}

static evt_err state_store(evt_journal *j, const char *key, const auth_state *st)
{
    uint8_t b[12];
    for (int i = 0; i < 4; i++) {
        b[i] = (uint8_t)(st->failures >> (8 * i));
    }
    for (int i = 0; i < 8; i++) {
        b[4 + i] = (uint8_t)((uint64_t)st->locked_until >> (8 * i));
    }
    return evt_journal_put(j, key, b, sizeof b);
}

static bool digits_only(const char *pin, size_t *len)
{
    size_t n = 0;
    for (; pin[n] != '\0'; n++) {
        if (n >= EVT_AUTH_PIN_MAX || pin[n] < '0' || pin[n] > '9') {
            return false;
        }
    }
    *len = n;
    return n > 0;
}

evt_err evt_auth_check_pin(evt_journal *j, const evt_hal_sys *sys, const char *role,
                           const evt_pin_hash *hash, const char *pin, uint32_t *retry_after_s)
{
    size_t pin_len = 0;
    if (retry_after_s != NULL) {
        *retry_after_s = 0;
    }
    if (j == NULL || sys == NULL || role == NULL || hash == NULL || pin == NULL) {
        return EVT_ERR_ARG;
    }
    if (!hash->set) {
        return EVT_ERR_CONFIG_MISSING;
    }
    char key[EVT_JOURNAL_KEY_MAX + 1];
    state_key(role, key);
    auth_state st;
    evt_err err = state_load(j, key, &st);
    if (err != EVT_OK) {
        return err;
    }
    int64_t now = sys->unix_seconds(sys->ctx);
    if (st.locked_until > now) {
        if (retry_after_s != NULL) {
            *retry_after_s = (uint32_t)(st.locked_until - now);
        }
        return EVT_ERR_AUTH_LOCKED;
    }
    uint8_t derived[EVT_PIN_HASH_BYTES];
    bool well_formed = digits_only(pin, &pin_len);
    int rc = well_formed ? mbedtls_pkcs5_pbkdf2_hmac_ext(MBEDTLS_MD_SHA256, (const uint8_t *)pin,
                                                         pin_len, hash->salt, hash->salt_len,
                                                         hash->iterations, sizeof derived, derived)
                         : -1;
    if (well_formed && rc != 0) {
        return EVT_ERR_INTERNAL;
    }
    /* Constant time: how much of a guess was right stays unknown. */
    uint8_t diff = well_formed ? 0 : 1;
    for (size_t i = 0; i < sizeof derived; i++) {
        diff |= (uint8_t)(derived[i] ^ hash->hash[i]);
    }
    memset(derived, 0, sizeof derived);
    if (diff == 0) {
        if (st.failures != 0 || st.locked_until != 0) {
            memset(&st, 0, sizeof st);
            err = state_store(j, key, &st);
        }
        EVT_LOGI(MOD, "%s PIN accepted", role);
        return err;
    }
    st.failures++;
    bool lock = st.failures >= EVT_AUTH_MAX_FAILURES;
    if (lock) {
        st.failures = 0;
        st.locked_until = now + EVT_AUTH_LOCK_SECONDS;
    }
    err = state_store(j, key, &st);
    EVT_LOGW(MOD, "%s PIN wrong%s", role, lock ? ": locked for a while" : "");
    if (err != EVT_OK) {
        return err;
    }
    if (lock && retry_after_s != NULL) {
        *retry_after_s = EVT_AUTH_LOCK_SECONDS;
    }
    return lock ? EVT_ERR_AUTH_LOCKED : EVT_ERR_AUTH_FAILED;
}
