-- 64-bit ARM Linux: cross-compiled with Debian's aarch64 GCC, run under
-- qemu-user on other hosts.
return {
  name = "arm64", arch = "aarch64", description = "64-bit ARM Linux (servers, Apple M1 VMs, Pi 4/5 in 64-bit)",
  boards = {
    { id = "generic-arm64", name = "Generic ARM64 Linux", usb = {},
      toolchain = { family = "arm64", packages = { "gcc-aarch64-linux-gnu", "qemu-user-static" }, no_flash = "it is a Linux computer: copy the program over and run it there; there is no firmware to flash",
        build = "aarch64-linux-gnu-gcc -O2 -static -o {out} {src}", emulate = "qemu-aarch64-static {out}" } },
  },
}
