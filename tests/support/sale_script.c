/* Canned platform answers and request readers; see sale_script.h. */
#include "sale_script.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SS_BUFS      8
#define SS_BUF_BYTES 4096
#define SS_REQ_BYTES 65536

const ss_split SS_SPLIT = {
    .total = 3180, .fund = 1556, .account = 1624, .balance = 98376, .balance_present = true};

static char *next_buf(void)
{
    static char bufs[SS_BUFS][SS_BUF_BYTES];
    static unsigned next;
    return bufs[next++ % SS_BUFS];
}

static const char *yuan(evt_fen fen, char buf[EVT_MONEY_TEXT_BYTES])
{
    evt_money_format(fen, buf, EVT_MONEY_TEXT_BYTES);
    return buf;
}

void ss_config_text(char *out, size_t cap, unsigned port, const char *extra)
{
    snprintf(out, cap,
             "platform_url = https://127.0.0.1:%u/fsi/api/rsfComIfsService/callService\n"
             "ca_file = /etc/evt/ca.pem\n"
             "fixmedins_code = H12010400001\nfixmedins_name = 和平区康宁大药房\n"
             "mdtrtarea_admvs = 120104\nrecer_sys_code = EVTTEST\ndev_no = EVT-UT-01\n"
             "msgid_slot = 3\nopter = 0001\nopter_name = 刘晓梅\nopter_type = 1\n"
             "paas_id = evt-paas-demo\npaas_token = evt-demo-token-1234\n"
             "office_id = YF01\noffice_name = 药房收费处\n"
             "paper_width_mm = 58\nreceipt_qr = raster\n"
             "http_timeout_ms = 3000\nconnect_timeout_ms = 3000\n%s",
             port, extra != NULL ? extra : "");
}

void ss_order(evt_order *o, const char *order_id)
{
    memset(o, 0, sizeof *o);
    snprintf(o->order_id, sizeof o->order_id, "%s", order_id);
    o->source = EVT_ORDER_FROM_ECR;
    o->use_personal_account = true;
    if (evt_order_add_item(o, "XJ01CAA040A001010100001", "YP0001", "阿莫西林胶囊", 2, 1590) !=
        EVT_OK) {
        abort(); /* a fixed valid line (total 31.80): only a broken evt_order gets here */
    }
}

const char *ss_sign_in(void)
{
    return "{\"infcode\":0,\"inf_refmsgid\":\"\",\"output\":{\"signinoutb\":{\"sign_time\":"
           "\"2024-03-15 08:00:00\",\"sign_no\":\"" SS_SIGN_NO "\"}}}";
}

const char *ss_refused(const char *err_msg)
{
    char *b = next_buf();
    snprintf(b, SS_BUF_BYTES, "{\"infcode\":-1,\"err_msg\":\"%s\",\"output\":null}", err_msg);
    return b;
}

const char *ss_ack(void)
{
    return "{\"infcode\":0,\"err_msg\":\"\",\"output\":{}}";
}

const char *ss_voucher(const char *id_no, const char *name)
{
    char *b = next_buf();
    snprintf(b, SS_BUF_BYTES,
             "{\"infcode\":0,\"output\":{\"data\":{\"ecToken\":\"ECTOKEN0001\",\"idNo\":\"%s\","
             "\"userName\":\"%s\",\"idType\":\"01\",\"insuOrg\":\"" SS_REGION "\","
             "\"ecIndexNo\":\"IDX0001\",\"ecShowType\":\"01\"}}}",
             id_no, name);
    return b;
}

const char *ss_person(const char *psn_no, const char *certno, const char *name, const char *stas,
                      const char *paus_date)
{
    char *b = next_buf();
    snprintf(b, SS_BUF_BYTES,
             "{\"infcode\":0,\"output\":{\"baseinfo\":{\"psn_no\":\"%s\",\"psn_cert_type\":\"01\","
             "\"certno\":\"%s\",\"psn_name\":\"%s\",\"gend\":\"1\",\"brdy\":\"1980-01-01\","
             "\"age\":44},\"insuinfo\":[{\"balc\":\"1000.00\",\"insutype\":\"310\","
             "\"psn_type\":\"11\",\"psn_insu_stas\":\"%s\",\"paus_insu_date\":\"%s\","
             "\"insuplc_admdvs\":\"" SS_REGION "\",\"emp_name\":\"天津某某有限公司\"}],"
             "\"idetinfo\":[]}}",
             psn_no, certno, name, stas, paus_date);
    return b;
}

const char *ss_settlement(const char *setl_id, const char *psn_no, const ss_split *sp)
{
    char *b = next_buf();
    char id[64] = "";
    char t[EVT_MONEY_TEXT_BYTES], f[EVT_MONEY_TEXT_BYTES], a[EVT_MONEY_TEXT_BYTES],
        m[EVT_MONEY_TEXT_BYTES], c[EVT_MONEY_TEXT_BYTES], bal[EVT_MONEY_TEXT_BYTES];
    if (setl_id != NULL) {
        snprintf(id, sizeof id, "\"setl_id\":\"%s\",", setl_id);
    }
    snprintf(b, SS_BUF_BYTES,
             "{\"infcode\":0,\"output\":{\"setlinfo\":{%s\"mdtrt_id\":\"M0001\","
             "\"psn_no\":\"%s\",\"psn_name\":\"" SS_NAME "\",\"insutype\":\"310\","
             "\"setl_time\":\"2024-03-15 10:30:01\",\"clr_optins\":\"" SS_REGION "\","
             "\"clr_way\":\"1\",\"clr_type\":\"41\",\"medfee_sumamt\":\"%s\","
             "\"fund_pay_sumamt\":\"%s\",\"acct_pay\":\"%s\",\"acct_mulaid_pay\":\"%s\","
             "\"psn_cash_pay\":\"%s\",\"hosp_part_amt\":\"\",\"balc\":\"%s\"},"
             "\"setldetail\":[]}}",
             id, psn_no, yuan(sp->total, t), yuan(sp->fund, f), yuan(sp->account, a),
             yuan(sp->mutual_aid, m), yuan(sp->cash, c),
             sp->balance_present ? yuan(sp->balance, bal) : "");
    return b;
}

void ss_push(tls_test_server *srv, const char *body)
{
    tls_ts_push(srv, (tls_ts_step){.action = TLS_TS_REPLY, .raw = body});
}

void ss_push_status(tls_test_server *srv, int status, const char *body, bool close)
{
    tls_ts_push(
        srv, (tls_ts_step){.action = TLS_TS_REPLY, .status = status, .raw = body, .close = close});
}

void ss_push_until_2102(tls_test_server *srv)
{
    ss_push(srv, ss_voucher(SS_CERTNO, SS_NAME));
    ss_push(srv, ss_person(SS_PSN_NO, SS_CERTNO, SS_NAME, "1", ""));
    ss_push(srv, ss_settlement(NULL, SS_PSN_NO, &SS_SPLIT));
}

void ss_field(const char *text, const char *key, char *out, size_t cap)
{
    char pattern[80];
    snprintf(pattern, sizeof pattern, "\"%s\":\"", key);
    out[0] = '\0';
    const char *at = strstr(text, pattern);
    if (at == NULL) {
        return;
    }
    at += strlen(pattern);
    const char *end = strchr(at, '"');
    size_t n = end != NULL ? (size_t)(end - at) : strlen(at);
    if (n >= cap) {
        n = cap - 1;
    }
    memcpy(out, at, n);
    out[n] = '\0';
}

bool ss_request_field(tls_test_server *srv, size_t i, const char *key, char *out, size_t cap)
{
    char *req = malloc(SS_REQ_BYTES);
    bool have = req != NULL && tls_ts_request(srv, i, req, SS_REQ_BYTES);
    out[0] = '\0';
    if (have) {
        /* Only the body: header names never collide with JSON keys, but be exact. */
        const char *body = strstr(req, "\r\n\r\n");
        ss_field(body != NULL ? body : req, key, out, cap);
    }
    free(req);
    return have;
}

void ss_request_infno(tls_test_server *srv, size_t i, char *out, size_t cap)
{
    ss_request_field(srv, i, "infno", out, cap);
}

void ss_infnos(tls_test_server *srv, size_t from, char *out, size_t cap)
{
    size_t used = 0;
    out[0] = '\0';
    size_t n = tls_ts_request_count(srv);
    for (size_t i = from; i < n; i++) {
        char infno[16];
        ss_request_infno(srv, i, infno, sizeof infno);
        int w = snprintf(out + used, cap - used, "%s%s", used ? "," : "", infno);
        if (w < 0 || (size_t)w >= cap - used) {
            break;
        }
        used += (size_t)w;
    }
}

size_t ss_count_with(tls_test_server *srv, size_t from, const char *key, const char *value)
{
    size_t hits = 0;
    size_t n = tls_ts_request_count(srv);
    for (size_t i = from; i < n; i++) {
        char v[128];
        if (ss_request_field(srv, i, key, v, sizeof v) && strcmp(v, value) == 0) {
            hits++;
        }
    }
    return hits;
}

void ss_snapshot_arm(ss_snapshot *s, const evt_ram_nor *nor, const char *infno)
{
    free(s->image);
    memset(s, 0, sizeof *s);
    s->nor = nor;
    snprintf(s->infno, sizeof s->infno, "%s", infno);
    s->image = malloc(nor->size);
    atomic_store(&s->taken, false);
}

void ss_snapshot_hook(void *arg, size_t index, const char *request, size_t len)
{
    (void)index;
    (void)len;
    ss_snapshot *s = arg;
    const char *body = strstr(request, "\r\n\r\n");
    char infno[16];
    ss_field(body != NULL ? body : request, "infno", infno, sizeof infno);
    if (s->image != NULL && !atomic_load(&s->taken) && strcmp(infno, s->infno) == 0) {
        evt_ram_nor_save(s->nor, s->image);
        atomic_store(&s->taken, true);
    }
}

void ss_snapshot_free(ss_snapshot *s)
{
    free(s->image);
    s->image = NULL;
}

evt_err ss_image_journal_open(ss_image_journal *ij, const uint8_t *image, uint32_t size,
                              uint32_t sector_size)
{
    memset(ij, 0, sizeof *ij);
    evt_err err = evt_ram_nor_init(&ij->nor, size, sector_size);
    if (err != EVT_OK) {
        return err;
    }
    if (image != NULL) {
        evt_ram_nor_load(&ij->nor, image);
    }
    return evt_journal_open(&ij->j, &ij->nor.hal, ij->work, sizeof ij->work, NULL);
}

void ss_image_journal_close(ss_image_journal *ij)
{
    evt_ram_nor_free(&ij->nor);
}

unsigned ss_damage_key(evt_ram_nor *nor, const char *key)
{
    /* Record layout (docs/journal.md): magic 0x4A, type, key length, 0xFF, value length (2),
     * ..., key at offset 16, value after it. */
    size_t klen = strlen(key);
    unsigned hit = 0;
    for (uint32_t pos = 16; pos + klen <= nor->size; pos++) {
        if (memcmp(nor->mem + pos, key, klen) != 0) {
            continue;
        }
        const uint8_t *h = nor->mem + pos - 16;
        uint32_t vlen = (uint32_t)h[4] | (uint32_t)h[5] << 8;
        if (h[0] != 0x4A || h[1] != 'P' || h[2] != klen || vlen == 0) {
            continue;
        }
        uint32_t at = pos + (uint32_t)klen + (vlen > 6 ? 6 : vlen - 1);
        evt_ram_nor_flip_bit(nor, at, 3);
        hit++;
    }
    return hit;
}
