/* evt_order: the compact order; see order.h for the layout and why. */
#include "evt/order.h"

#include <string.h>

_Static_assert(EVT_ORDER_MAX_ITEMS <= UINT8_MAX, "item_count is a uint8_t");
_Static_assert(EVT_ORDER_TEXT_BYTES <= UINT16_MAX, "text offsets are uint16_t");

void evt_order_clear_items(evt_order *order)
{
    order->item_count = 0;
    order->total = 0;
    order->text_used = 0;
}

/* strlen that stops past max: max + 1 means "too long". */
static size_t length_up_to(const char *s, size_t max)
{
    size_t n = 0;
    while (n <= max && s[n] != '\0') {
        n++;
    }
    return n;
}

evt_err evt_order_add_item(evt_order *order, const char *med_list_codg,
                           const char *medins_list_codg, const char *name, uint32_t quantity,
                           evt_fen price)
{
    if (order == NULL || med_list_codg == NULL || medins_list_codg == NULL || name == NULL) {
        return EVT_ERR_ARG;
    }
    size_t code_len = length_up_to(med_list_codg, EVT_ORDER_CODE_MAX);
    size_t medins_len = length_up_to(medins_list_codg, EVT_ORDER_MEDINS_CODE_MAX);
    size_t name_len = length_up_to(name, EVT_ORDER_NAME_MAX);
    if (code_len == 0 || code_len > EVT_ORDER_CODE_MAX || medins_len > EVT_ORDER_MEDINS_CODE_MAX ||
        name_len == 0 || name_len > EVT_ORDER_NAME_MAX || quantity == 0 || price <= 0) {
        return EVT_ERR_ARG;
    }
    if (price > EVT_FEN_MAX / (evt_fen)quantity) {
        return EVT_ERR_ORDER_INVALID;
    }
    evt_fen amount = price * (evt_fen)quantity;
    if (amount > EVT_FEN_MAX - order->total) {
        return EVT_ERR_ORDER_INVALID;
    }
    size_t need = code_len + medins_len + name_len + 3;
    if (order->item_count >= EVT_ORDER_MAX_ITEMS ||
        need > EVT_ORDER_TEXT_BYTES - order->text_used) {
        return EVT_ERR_ORDER_TOO_LARGE;
    }
    evt_order_line *line = &order->lines[order->item_count];
    line->price = price;
    line->quantity = quantity;
    line->text = order->text_used;
    char *p = order->text + order->text_used;
    memcpy(p, med_list_codg, code_len + 1);
    p += code_len + 1;
    memcpy(p, medins_list_codg, medins_len + 1);
    p += medins_len + 1;
    memcpy(p, name, name_len + 1);
    order->text_used = (uint16_t)(order->text_used + need);
    order->total += amount;
    order->item_count++;
    return EVT_OK;
}

/* The string at offset *at of the text area, stepping past it; "" when it would leave the
 * area (an order that was not built by evt_order_add_item). */
static const char *next_string(const evt_order *order, size_t *at)
{
    size_t start = *at;
    if (start >= EVT_ORDER_TEXT_BYTES) {
        return "";
    }
    const char *end = memchr(order->text + start, '\0', EVT_ORDER_TEXT_BYTES - start);
    if (end == NULL) {
        *at = EVT_ORDER_TEXT_BYTES;
        return "";
    }
    *at = (size_t)(end - order->text) + 1;
    return order->text + start;
}

evt_order_item evt_order_item_at(const evt_order *order, size_t index)
{
    evt_order_item it = {"", "", "", 0, 0, 0};
    if (order == NULL || index >= order->item_count || index >= EVT_ORDER_MAX_ITEMS) {
        return it;
    }
    const evt_order_line *line = &order->lines[index];
    size_t at = line->text;
    it.med_list_codg = next_string(order, &at);
    it.medins_list_codg = next_string(order, &at);
    it.name = next_string(order, &at);
    it.quantity = line->quantity;
    it.price = line->price;
    /* Only a line within the invariants has an amount; readers that check (the settlement
     * request) refuse the others by quantity and price. */
    if (line->quantity > 0 && line->price > 0 &&
        line->price <= EVT_FEN_MAX / (evt_fen)line->quantity) {
        it.amount = line->price * (evt_fen)line->quantity;
    }
    return it;
}
