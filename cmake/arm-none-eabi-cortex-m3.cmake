# Cortex-M3 (QEMU's mps2-an385): the board image, its target tests, and the dependencies
# tools/bootstrap.sh cross-builds for it (the same flags, so the libraries match the image).
set(EVT_ARM_CPU cortex-m3)
include("${CMAKE_CURRENT_LIST_DIR}/arm-none-eabi.cmake")
