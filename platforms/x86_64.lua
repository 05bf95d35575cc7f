-- The host platform on PCs and servers: native builds, no emulation.
return {
  name = "x86_64", arch = "x86_64", description = "Standard 64-bit PCs and servers",
  boards = {
    { id = "generic-x86_64", name = "Generic x86_64 Linux", usb = {},
      toolchain = { family = "x86_64", packages = { "build-essential" },
        no_flash = "it is this kind of computer: the program runs where it is built; there is no firmware to flash", build = "gcc -O2 -o {out} {src}", emulate = "{out}" } },
  },
}
