/*
 * evt_mps2_net_none: THE SEAM WHERE lwIP GOES. Until the lwIP netif for the board's LAN9118
 * and its evt_hal_net driver land, the board has no network, and this driver says so
 * honestly: connect fails with EVT_ERR_NET_CONNECT (the cashier sees "无法连接医保平台，请检查
 * 网络" and no sale starts on an unreachable platform), listen fails the same way (so a
 * provisioning with ecr_port set fails start-up with "ECR link" instead of pretending to
 * listen), local_identity is absent (the firmware sends the provisioned ip/mac). Nothing is
 * simulated. The board's main wires it in one place (boards/mps2-an385/main.c, board_net).
 */
#ifndef EVT_MPS2_NET_NONE_H
#define EVT_MPS2_NET_NONE_H

#include "evt/hal_net.h"

void evt_mps2_net_none_init(evt_hal_net *out);

#endif /* EVT_MPS2_NET_NONE_H */
