/*
 * evt_err: the one error enum every module returns.
 *
 * Each code has three texts: its name (for tests), an English line for the log (never with
 * personal data) and a Chinese line for the cashier's screen. Modules add codes here rather
 * than inventing their own, so the UI can always say something precise.
 *
 * Values are stored on flash (an order's result in the journal): new codes are appended at
 * the end of the list, never inserted, so a stored value keeps its meaning.
 */
#ifndef EVT_ERR_H
#define EVT_ERR_H

#include <stdbool.h>

/* X-macro: code, English log text, cashier text (Chinese). */
#define EVT_ERR_LIST(X)                                                                            \
    X(EVT_OK, "ok", "成功")                                                                        \
    /* generic */                                                                                  \
    X(EVT_ERR_ARG, "invalid argument", "内部错误：参数无效")                                       \
    X(EVT_ERR_NOMEM, "out of memory (arena exhausted)", "内存不足，请重启终端")                    \
    X(EVT_ERR_OVERFLOW, "buffer too small", "数据过长")                                            \
    X(EVT_ERR_INTERNAL, "internal error", "内部错误")                                              \
    X(EVT_ERR_NOT_FOUND, "not found", "未找到")                                                    \
    X(EVT_ERR_UNSUPPORTED, "not supported", "不支持的操作")                                        \
    X(EVT_ERR_TIMEOUT, "timed out", "操作超时")                                                    \
    X(EVT_ERR_CANCELLED, "cancelled by cashier", "已取消")                                         \
    X(EVT_ERR_BUSY, "busy", "终端忙，请稍候")                                                      \
    /* network */                                                                                  \
    X(EVT_ERR_NET_RESOLVE, "host name lookup failed", "无法解析平台地址，请检查网络设置")          \
    X(EVT_ERR_NET_CONNECT, "connection refused or unreachable", "无法连接医保平台，请检查网络")    \
    X(EVT_ERR_NET_CLOSED, "connection closed by peer", "平台连接被中断")                           \
    X(EVT_ERR_NET_IO, "network I/O error", "网络通信错误")                                         \
    X(EVT_ERR_NET_TIMEOUT, "no answer from platform in time", "医保平台响应超时")                  \
    /* TLS */                                                                                      \
    X(EVT_ERR_TLS_CONFIG, "TLS configuration invalid (CA or settings)", "安全证书配置错误")        \
    X(EVT_ERR_TLS_HANDSHAKE, "TLS handshake failed", "安全连接建立失败")                           \
    X(EVT_ERR_TLS_CERT_UNTRUSTED, "server certificate not trusted", "平台证书不受信任，已拒绝连接") \
    X(EVT_ERR_TLS_HOSTNAME, "server certificate does not match host name",                        \
      "平台证书与地址不符，已拒绝连接")                                                            \
    X(EVT_ERR_TLS_CERT_EXPIRED, "server certificate expired or not yet valid",                     \
      "平台证书已过期或未生效")                                                                    \
    X(EVT_ERR_TLS_ALERT, "TLS alert or record error", "安全连接异常中断")                          \
    /* HTTP */                                                                                     \
    X(EVT_ERR_HTTP_MALFORMED, "malformed HTTP response", "平台应答格式错误")                       \
    X(EVT_ERR_HTTP_STATUS, "HTTP error status from platform", "医保平台服务异常")                  \
    X(EVT_ERR_HTTP_TOO_LARGE, "HTTP response too large", "平台应答过大")                           \
    /* platform protocol */                                                                        \
    X(EVT_ERR_JSON_MALFORMED, "malformed JSON in response", "平台应答数据损坏")                    \
    X(EVT_ERR_PROTO_FIELD_MISSING, "required field missing in response", "平台应答缺少必要字段")   \
    X(EVT_ERR_PROTO_FIELD_INVALID, "field has an invalid value in response",                       \
      "平台应答字段无效")                                                                          \
    X(EVT_ERR_MONEY_INVALID, "amount not in 16,2 decimal form", "平台应答金额格式错误")             \
    X(EVT_ERR_MONEY_MISMATCH, "settlement amounts do not add up", "结算金额不平，请勿交付，联系平台") \
    X(EVT_ERR_PROTO_PERSON_MISMATCH, "settlement is for another person than this sale",            \
      "结算人员与本次交易不符，请勿交付，联系平台")                                                \
    X(EVT_ERR_PLATFORM_REJECTED, "platform returned a business error", "医保平台拒绝交易")         \
    X(EVT_ERR_PROTO_MSGID, "message id invalid or exhausted", "报文流水号错误")                    \
    X(EVT_ERR_NOT_SIGNED_IN, "operator not signed in", "操作员未签到")                             \
    /* scanning and voucher classification */                                                      \
    X(EVT_ERR_SCAN_UNREADABLE, "no QR code could be decoded",                                      \
      "未识别到二维码，请调亮手机屏幕后重试")                                                      \
    X(EVT_ERR_VOUCHER_WECHAT_PAY, "WeChat Pay payment code", "这是微信付款码，请出示医保电子凭证")  \
    X(EVT_ERR_VOUCHER_ALIPAY, "Alipay payment code", "这是支付宝付款码，请出示医保电子凭证")        \
    X(EVT_ERR_VOUCHER_UNIONPAY, "UnionPay payment code", "这是银联付款码，请出示医保电子凭证")      \
    X(EVT_ERR_VOUCHER_URL, "URL, not a voucher", "这是网址二维码，请出示医保电子凭证")             \
    X(EVT_ERR_VOUCHER_TOO_LONG, "payload too long for a voucher", "二维码内容过长，不是医保电子凭证") \
    X(EVT_ERR_VOUCHER_BINARY, "binary or non-ASCII payload", "二维码内容无法识别，不是医保电子凭证") \
    X(EVT_ERR_VOUCHER_UNKNOWN, "payload is not an e-voucher", "不是医保电子凭证，请重新出示")      \
    X(EVT_ERR_VOUCHER_DUPLICATE, "same code scanned again in this sale",                           \
      "该码本单已用过，请在手机上刷新电子凭证后出示新码")                                          \
    X(EVT_ERR_VOUCHER_EXPIRED, "dynamic code expired", "电子凭证已过期，请刷新后重新出示")         \
    /* identity and insurance */                                                                   \
    X(EVT_ERR_INSURANCE_SUSPENDED, "insurance suspended", "参保状态异常，不能结算")                    \
    X(EVT_ERR_INSURANCE_NONE, "no usable insurance record", "未查询到有效参保信息")                \
    /* transactions */                                                                             \
    X(EVT_ERR_OUTCOME_UNKNOWN, "settlement outcome unknown; reversal queued",                      \
      "结算结果未知，已登记冲正，请勿重复收费")                                                    \
    X(EVT_ERR_REVERSAL_PENDING, "a reversal is still pending", "有待冲正交易，请稍候重试")         \
    X(EVT_ERR_ORDER_INVALID, "order invalid", "订单数据无效")                                      \
    X(EVT_ERR_ORDER_DUPLICATE, "order already settled", "该订单已结算")                            \
    /* storage and journal */                                                                      \
    X(EVT_ERR_STORAGE_IO, "storage I/O error", "存储器读写错误")                                   \
    X(EVT_ERR_JOURNAL_CORRUPT, "journal record corrupt (skipped)", "交易日志损坏，已跳过损坏记录") \
    X(EVT_ERR_JOURNAL_FULL, "journal full", "交易日志已满，不能开始新交易，请日结或联系技术员")                                        \
    /* configuration */                                                                            \
    X(EVT_ERR_CONFIG_MISSING, "configuration key missing", "终端未完成配置，请联系技术员")         \
    X(EVT_ERR_CONFIG_INVALID, "configuration value invalid", "终端配置错误，请联系技术员")         \
    /* printer */                                                                                  \
    X(EVT_ERR_PRINTER_IO, "printer I/O error", "打印机故障")                                       \
    X(EVT_ERR_PRINTER_PAPER_OUT, "printer out of paper", "打印机缺纸，请装纸")                     \
    X(EVT_ERR_RECEIPT_REF_INVALID, "not a receipt reference QR code",                              \
      "不是本系统结算单上的二维码")                                                              \
    /* ECR link */                                                                                 \
    X(EVT_ERR_ECR_MALFORMED, "malformed ECR message", "收银系统消息格式错误")                \
    X(EVT_ERR_ECR_VERSION, "unsupported ECR protocol version", "收银系统接口版本不支持")        \
    X(EVT_ERR_ECR_TOO_LONG, "ECR message line too long", "收银系统消息过长")                  \
    /* appended: values above are stored on flash and must not move */                            \
    X(EVT_ERR_PERSON_VOUCHER_MISMATCH, "person info does not match the decoded voucher",         \
      "参保人员信息与电子凭证不符，已停止交易，请核实患者身份")                                   \
    X(EVT_ERR_ORDER_NEEDS_SUPERVISOR, "order blocked until a supervisor releases it",             \
      "平台应答异常已冲正，该订单需主管核实后放行")                                               \
    X(EVT_ERR_ORDER_RECORD_UNREADABLE, "order record unreadable: cannot prove it did not settle",  \
      "该订单交易记录损坏，无法确认是否已结算，请主管与医保平台核实")                             \
    X(EVT_ERR_ORDER_TOO_LARGE, "order above the terminal's maximum (total or lines)",             \
      "订单金额或药品行数超过终端上限，请核对或拆分订单")                                         \
    X(EVT_ERR_ECR_UNAUTHENTICATED, "ECR message not authenticated", "收银系统未通过配对验证")   \
    X(EVT_ERR_AUTH_FAILED, "wrong PIN", "密码错误")                                               \
    X(EVT_ERR_AUTH_LOCKED, "too many wrong PINs: locked for a while", "密码错误次数过多，请稍后再试") \
    X(EVT_ERR_JSON_TOO_LARGE, "JSON beyond the protocol's limits (members per object)",            \
      "平台应答超出协议规定的大小，请联系医保平台")                                                \
    X(EVT_ERR_REFUND_DONE, "sale already refunded", "该笔结算已退费，不能重复退费")                \
    X(EVT_ERR_REFUND_IN_DOUBT, "refund outcome unknown", "该笔退费结果未知，冲正完成前不能再次退费") \
    X(EVT_ERR_REFUND_NOT_SETTLED, "order did not settle", "该订单未结算成功，无款可退")             \
    X(EVT_ERR_REFUND_UNKNOWN_SALE, "sale not in the order book", "本终端没有这笔结算的记录，不能退费") \
    X(EVT_ERR_RECEIPT_REF_FOREIGN, "receipt of another institution",                               \
      "这是其他机构的结算单，不能在本机构退费")                                                    \
    X(EVT_ERR_RECEIPT_IS_REFUND, "refund receipt scanned", "这是退费凭证，请扫描原结算单")      \
    X(EVT_ERR_REFUND_NOT_TODAY, "sale not of today: the POS refunds only today's",                \
      "不是今日的交易，请在终端扫描结算单二维码办理退费")

typedef enum evt_err {
#define EVT_ERR_ENUM_(code, log, cashier) code,
    EVT_ERR_LIST(EVT_ERR_ENUM_)
#undef EVT_ERR_ENUM_
        EVT_ERR_COUNT_
} evt_err;

/* "EVT_ERR_TIMEOUT": stable identifier for tests and structured logs. */
const char *evt_err_name(evt_err err);
/* English description for log lines; never contains personal data. */
const char *evt_err_log_text(evt_err err);
/* Chinese message for the cashier's screen (UTF-8). */
const char *evt_err_cashier_text(evt_err err);
/* The platform could not be reached or talked to (network, TLS, HTTP): nothing the patient's
 * code or the order has to do with, so a screen must not send the cashier after them. */
bool evt_err_is_connection(evt_err err);

#endif /* EVT_ERR_H */
