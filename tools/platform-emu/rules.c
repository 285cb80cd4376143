/*
 * The settlement split of a pharmacy sale (2101/2102), kept free of I/O so the numbers can be
 * unit-tested on their own. The rules are the ones written in docs/protocol-decisions.md
 * ("2101 / 2102") and docs/platform-emulator.md ("Rules"); every rounding is downwards to the
 * fen so the fund never pays a fraction the patient has not been charged for.
 */
#include "emu.h"

#include <string.h>

static emu_fen min_fen(emu_fen a, emu_fen b)
{
    return a < b ? a : b;
}

/* The part of a catalogue line within its price ceiling. */
static emu_fen within_limit(const emu_line *line)
{
    emu_fen over = line->overlmt > 0 ? min_fen(line->overlmt, line->amount) : 0;
    return line->amount - over;
}

emu_fen emu_line_preselfpay(const emu_line *line)
{
    if (line->cls != EMU_CLASS_B || line->amount <= 0)
        return 0;
    return within_limit(line) / 10;
}

void emu_split(const emu_line *lines, size_t n, const emu_split_params *p, emu_split_result *r)
{
    memset(r, 0, sizeof *r);
    for (size_t i = 0; i < n; i++) {
        emu_fen amt = lines[i].amount;
        r->total += amt;
        /* Above the price ceiling is the patient's own, whatever the class. */
        emu_fen in = lines[i].cls == EMU_CLASS_NONE ? amt : within_limit(&lines[i]);
        r->overlmt_selfpay += amt - in;
        switch (lines[i].cls) {
        case EMU_CLASS_A:
            r->inscp += in;
            break;
        case EMU_CLASS_B: {
            emu_fen pre = emu_line_preselfpay(&lines[i]);
            r->preselfpay += pre;
            r->inscp += in - pre;
            break;
        }
        case EMU_CLASS_NONE:
            r->fulamt_ownpay += amt;
            break;
        }
    }
    r->fund = r->inscp * (p->fund_pct > 0 ? p->fund_pct : 50) / 100;
    r->psn_part = r->total - r->fund;

    if (p->patient_has_account && p->use_account && p->patient_balance > 0)
        r->acct_pay = min_fen(p->patient_balance, r->psn_part);

    /* 共济 may only carry the policy-scope self-paid part. The own account is counted against
     * that part first, so 共济 never pays for something the patient's own money already did. */
    emu_fen scope_self = r->inscp - r->fund;
    emu_fen left = scope_self - min_fen(r->acct_pay, scope_self);
    if (left > 0 && p->use_account && p->has_authoriser) {
        if (!p->patient_normal) {
            r->mulaid_refusal = "患者非正常参保状态，不能使用家庭共济";
        } else if (!p->authoriser_normal) {
            r->mulaid_refusal = "共济授权人非正常参保状态，不能使用家庭共济";
        } else if (!p->same_city && !p->allow_out_of_city) {
            r->mulaid_refusal = "授权人参保地不允许市域外家庭共济";
        } else {
            emu_fen shareable = p->authoriser_balance - p->retained_minimum;
            if (shareable <= 0)
                r->mulaid_refusal = "授权人个人账户余额未超过留存额度";
            else
                r->mulaid_pay = min_fen(left, shareable);
        }
    }
    r->cash = r->psn_part - r->acct_pay - r->mulaid_pay;
}
