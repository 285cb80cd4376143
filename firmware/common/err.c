/* evt_err texts, generated from the single list in err.h so they can never drift apart. */
#include "evt/err.h"

#include <stddef.h>

static const char *const err_names[] = {
#define EVT_ERR_NAME_(code, log, cashier) #code,
    EVT_ERR_LIST(EVT_ERR_NAME_)
#undef EVT_ERR_NAME_
};

static const char *const err_log_texts[] = {
#define EVT_ERR_LOG_(code, log, cashier) log,
    EVT_ERR_LIST(EVT_ERR_LOG_)
#undef EVT_ERR_LOG_
};

static const char *const err_cashier_texts[] = {
#define EVT_ERR_CASHIER_(code, log, cashier) cashier,
    EVT_ERR_LIST(EVT_ERR_CASHIER_)
#undef EVT_ERR_CASHIER_
};

static int err_valid(evt_err err)
{
    /* Compared as unsigned: the enum's signedness differs between ABIs. */
    return (unsigned)err < (unsigned)EVT_ERR_COUNT_;
}

const char *evt_err_name(evt_err err)
{
    return err_valid(err) ? err_names[err] : "EVT_ERR_UNKNOWN";
}

const char *evt_err_log_text(evt_err err)
{
    return err_valid(err) ? err_log_texts[err] : "unknown error code";
}

const char *evt_err_cashier_text(evt_err err)
{
    return err_valid(err) ? err_cashier_texts[err] : "未知错误";
}

bool evt_err_is_connection(evt_err err)
{
    return (err >= EVT_ERR_NET_RESOLVE && err <= EVT_ERR_NET_TIMEOUT) ||
           (err >= EVT_ERR_TLS_CONFIG && err <= EVT_ERR_TLS_ALERT) || err == EVT_ERR_HTTP_STATUS ||
           err == EVT_ERR_HTTP_MALFORMED;
}
