# Example toolchain file for Cortex-M firmware with Debian's arm-none-eabi-gcc and newlib:
#   cmake -DCMAKE_TOOLCHAIN_FILE=cmake/arm-none-eabi.cmake -DBM_CPU_FLAGS="-mcpu=cortex-m4 ..." ...
# BM_CPU_FLAGS picks the core and float ABI (default: Cortex-M4F, hard float); BM_LINK_SPECS
# newlib's system-call layer (default --specs=nosys.specs; semihosting: --specs=rdimon.specs).
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR arm)
set(CMAKE_C_COMPILER arm-none-eabi-gcc)
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY) # no start-up code for a test executable
if(NOT BM_CPU_FLAGS)
  set(BM_CPU_FLAGS "-mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16")
endif()
set(CMAKE_C_FLAGS_INIT "${BM_CPU_FLAGS} -Os")
if(NOT BM_LINK_SPECS)
  set(BM_LINK_SPECS "--specs=nosys.specs")
endif()
set(CMAKE_EXE_LINKER_FLAGS_INIT "${BM_LINK_SPECS}")
