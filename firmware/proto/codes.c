/* evt_proto code tables: the platform's insurance-type and insured-status codes in words (see
 * proto.h). One table for screen, receipt and reports, so they never disagree. */
#include <string.h>

#include "evt/proto.h"

typedef struct code_name {
    const char *code;
    const char *name;
} code_name;

/* 险种类型 (insutype) of the national medical-security code list. */
static const code_name insutypes[] = {
    {"310", "职工基本医疗保险"},
    {"320", "公务员医疗补助"},
    {"330", "大额医疗费用补助"},
    {"340", "离休人员医疗保障"},
    {"350", "一至六级残废军人医疗补助"},
    {"360", "老红军医疗保障"},
    {"370", "企业补充医疗保险"},
    {"380", "新型农村合作医疗"},
    {"390", "城乡居民基本医疗保险"},
    {"391", "城镇居民基本医疗保险"},
    {"392", "城乡居民大病医疗保险"},
    {"399", "其他特殊人员医疗保障"},
    {"410", "长期照护保险"},
    {"510", "生育保险"},
};

/* 人员参保状态 (psn_insu_stas). Only "1" may settle. */
static const code_name insu_states[] = {
    {"0", "未参保"},
    {"1", "正常参保"},
    {"2", "暂停参保"},
    {"4", "终止参保"},
};

static const char *lookup(const code_name *table, size_t count, const char *code)
{
    if (code == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < count; i++) {
        if (strcmp(table[i].code, code) == 0) {
            return table[i].name;
        }
    }
    return NULL;
}

const char *evt_proto_insutype_name(const char *insutype)
{
    return lookup(insutypes, sizeof insutypes / sizeof insutypes[0], insutype);
}

const char *evt_proto_insu_status_name(const char *psn_insu_stas)
{
    return lookup(insu_states, sizeof insu_states / sizeof insu_states[0], psn_insu_stas);
}
