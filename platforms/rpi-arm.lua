-- Raspberry Pi boards (Linux on ARM). Detected on the host from the device
-- tree model, not over USB.
return {
  name = "rpi-arm", arch = "arm", description = "Raspberry Pi single-board computers",
  aliases = { "raspberry_pi" }, -- ProServe's name
  boards = {
    { id = "raspberry_pi_4", name = "Raspberry Pi 4 Model B", model = "Raspberry Pi 4", usb = {},
      toolchain = { family = "arm64", packages = { "gcc-aarch64-linux-gnu", "qemu-user-static" }, no_flash = "it is a Linux computer: copy the program over and run it there; there is no firmware to flash",
        build = "aarch64-linux-gnu-gcc -O2 -static -o {out} {src}", emulate = "qemu-aarch64-static {out}" } },
    { id = "raspberry_pi_5", name = "Raspberry Pi 5", model = "Raspberry Pi 5", usb = {},
      toolchain = { family = "arm64", packages = { "gcc-aarch64-linux-gnu", "qemu-user-static" }, no_flash = "it is a Linux computer: copy the program over and run it there; there is no firmware to flash",
        build = "aarch64-linux-gnu-gcc -O2 -static -o {out} {src}", emulate = "qemu-aarch64-static {out}" } },
    { id = "raspberry_pi_zero_w", name = "Raspberry Pi Zero W", model = "Raspberry Pi Zero W", usb = {},
      toolchain = { family = "armhf", packages = { "gcc-arm-linux-gnueabihf", "qemu-user-static" }, no_flash = "it is a Linux computer: copy the program over and run it there; there is no firmware to flash",
        -- Debian's armhf compiler and C library are ARMv7; the Zero's ARM1176 is ARMv6, and
        -- runs none of it. qemu as that CPU runs a program built for it elsewhere.
        no_build = "Debian's armhf compiler and C library make ARMv7 code, which the Zero W's ARMv6 CPU cannot run (Raspberry Pi OS's own toolchain can)",
        emulate = "qemu-arm-static -cpu arm1176 {out}" } },
  },
}
