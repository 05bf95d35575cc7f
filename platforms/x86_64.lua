-- The host platform on PCs and servers: native builds, no emulation.
return {
  name = "x86_64", arch = "x86_64", description = "Standard 64-bit PCs and servers",
  boards = {
    { id = "generic-x86_64", name = "Generic x86_64 Linux", usb = {},
      toolchain = { packages = { "build-essential" }, build = "gcc -O2 -o {out} {src}", emulate = "{out}" } },
  },
}
