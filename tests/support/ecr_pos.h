/*
 * ecr_pos: a test POS for the ECR link (docs/ecr-link.md), over a plain blocking loopback
 * socket. It pairs with the terminal (hello, auth, auth_ok), signs every line it sends
 * (HMAC-SHA256 with mbedTLS's md API, the session = challenge + nonce, a growing seq) and
 * opens and checks every signed line it gets (MAC, seq). Failures are cmocka failures.
 *
 * The terminal runs in the test's own thread, so whatever waits for a reply does it through a
 * caller's wait function that drives the terminal (evt_ecr_poll, evt_app_step) between reads.
 */
#ifndef ECR_POS_H
#define ECR_POS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ecr_pos {
    int fd;
    char buf[65536];
    size_t fill;
    uint8_t key[32];
    char session[65];
    uint64_t tx_seq;
    uint64_t rx_seq;
    bool paired; /* lines are signed and replies checked */
} ecr_pos;

/* Waits (bounded, driving the terminal) for the next reply line of p; fails the test when
 * none comes. Returns out. */
typedef const char *(*ecr_pos_wait_fn)(ecr_pos *p, char *out, size_t cap, void *arg);

/* Connects to 127.0.0.1:port (blocking); key is the pairing key the POS holds. */
void ecr_pos_connect(ecr_pos *p, uint16_t port, const uint8_t key[32]);
/* HMAC-SHA256(key, "EVT-ECR-2\n" dir "\n" session "\n" text) as 64 lowercase hex digits. */
void ecr_pos_mac_hex(const ecr_pos *p, char dir, const char *text, size_t len, char out[65]);
/* The wire form of one message text (no newline): the next seq goes into a JSON object, the
 * MAC member closes the line. A text that is not an object is signed as it stands (closed
 * with '}'), for malformed-message cases. Returns the length written to out. */
size_t ecr_pos_seal(ecr_pos *p, const char *text, size_t len, char *out, size_t cap);
/* Writes all of data (blocking). */
void ecr_pos_send_raw(ecr_pos *p, const void *data, size_t len);
/* Sends text; once paired, every complete non-blank line in it is sealed first (text must end
 * with a newline). */
void ecr_pos_send(ecr_pos *p, const char *text);
/* Next complete reply line (without '\n'; once paired without its seq and MAC, both checked)
 * if one has arrived, else NULL. Does not wait. */
const char *ecr_pos_take_line(ecr_pos *p, char *out, size_t cap);
/* True when the terminal closed the connection (EOF within wait_ms, data before it skipped). */
bool ecr_pos_sees_eof(ecr_pos *p, int wait_ms);
/* Pairs p: waits for the hello, sends the auth line, waits for auth_ok and returns it (in out,
 * without its MAC). */
const char *ecr_pos_pair(ecr_pos *p, ecr_pos_wait_fn wait, void *arg, char *out, size_t cap);
void ecr_pos_close(ecr_pos *p);

#endif /* ECR_POS_H */
