-- Bare-metal ARM Cortex-M boards, built with Debian's arm-none-eabi GCC.
return {
  name = "cortex-m", arch = "arm", description = "ARM Cortex-M microcontrollers (bare metal)",
  boards = {
    { id = "stm32f103", name = "STM32F103 \"Blue Pill\"", mcu = "stm32f103c8", arch = "cortex-m3",
      usb = { "0483:3748", "0483:374b" },
      toolchain = { family = "cortex-m", packages = { "gcc-arm-none-eabi", "libnewlib-arm-none-eabi", "stlink-tools" },
        -- st-flash writes a raw image: the .bin made from the .elf.
        build = "arm-none-eabi-gcc -mcpu=cortex-m3 -mthumb -Os --specs=nosys.specs -o {out}.elf {src} && arm-none-eabi-objcopy -O binary {out}.elf {out}.bin",
        flash = "st-flash write {out}.bin 0x8000000",
        emulate = "qemu-system-arm -M stm32vldiscovery -nographic -kernel {out}.elf" } },
    { id = "nrf52840", name = "nRF52840 DK", mcu = "nrf52840", arch = "cortex-m4",
      usb = { "1366:1015", "1915:520f" },
      toolchain = { family = "cortex-m", packages = { "gcc-arm-none-eabi", "libnewlib-arm-none-eabi" },
        build = "arm-none-eabi-gcc -mcpu=cortex-m4 -mthumb -Os --specs=nosys.specs -o {out}.elf {src}",
        no_flash = "the DK's probe needs Nordic's nrfjprog (not packaged) or an openocd setup servos has no template for yet" } },
    { id = "lm3s6965", name = "TI Stellaris LM3S6965 (QEMU)", mcu = "lm3s6965", arch = "cortex-m3",
      usb = {},
      toolchain = { family = "cortex-m", packages = { "gcc-arm-none-eabi", "libnewlib-arm-none-eabi", "qemu-system-arm" },
        no_flash = "it is a board QEMU emulates (lm3s6965evb): there is nothing to flash, emulate runs it",
        -- QEMU boots it from a vector table at 0 (the Cortex-M toolchain image's start-up
        -- code and linker script), and its printf reaches the host through semihosting.
        build = "arm-none-eabi-gcc -mcpu=cortex-m3 -mthumb -Os --specs=rdimon.specs -T /usr/local/share/servos/cortex-m/lm3s6965.ld -o {out}.elf /usr/local/share/servos/cortex-m/cortex-m-startup.c {src}",
        emulate = "qemu-system-arm -M lm3s6965evb -nographic -monitor none -semihosting-config enable=on,target=native -kernel {out}.elf" } },
  },
}
