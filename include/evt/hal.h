/*
 * The set of HAL drivers a board hands to the firmware at start-up. Each pointer refers to
 * a contract in its own header; the board owns the structs for the firmware's lifetime.
 */
#ifndef EVT_HAL_H
#define EVT_HAL_H

#include "evt/hal_net.h"
#include "evt/hal_printer.h"
#include "evt/hal_scanner.h"
#include "evt/hal_storage.h"
#include "evt/hal_sys.h"
#include "evt/hal_ui.h"

typedef struct evt_hal {
    const evt_hal_sys *sys;
    const evt_hal_net *net;
    const evt_hal_scanner *scanner;
    const evt_hal_printer *printer;
    const evt_hal_storage *storage;
    const evt_hal_ui *ui;
} evt_hal;

#endif /* EVT_HAL_H */
