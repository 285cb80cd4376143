# Toolchain for the Cortex-M builds (Debian's gcc-arm-none-eabi + newlib). The core-cortexm
# preset compiles the portable core for a Cortex-M4; the board toolchain files set
# EVT_ARM_CPU (e.g. cortex-m3 for mps2-an385) and include this one.
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR arm)
set(CMAKE_C_COMPILER arm-none-eabi-gcc)
set(CMAKE_AR arm-none-eabi-ar)
set(CMAKE_RANLIB arm-none-eabi-ranlib)
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)
if(NOT DEFINED EVT_ARM_CPU)
  set(EVT_ARM_CPU cortex-m4)
endif()
set(CMAKE_C_FLAGS_INIT "-mcpu=${EVT_ARM_CPU} -mthumb -ffunction-sections -fdata-sections")
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
