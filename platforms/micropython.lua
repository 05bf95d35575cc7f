-- MicroPython boards: scripts copied to the board's filesystem with
-- mpremote; the unix port of micropython runs them on the host.
return {
  name = "micropython", arch = "any", description = "Boards running MicroPython / CircuitPython",
  boards = {
    { id = "rp2040", name = "Raspberry Pi Pico (RP2040)", mcu = "rp2040", usb = { "2e8a:0005", "2e8a:000a", "2e8a:0003" },
      toolchain = { family = "micropython", no_build = "none is needed: MicroPython runs the script as it is (flash copies it to the board)", packages = { "micropython", "python3-serial" }, flash = "mpremote connect {port} cp {src} :main.py",
        emulate = "micropython {src}" } },
    { id = "raspberry_pi_pico", name = "Raspberry Pi Pico", mcu = "rp2040", usb = { "2e8a:0005" },
      toolchain = { family = "micropython", no_build = "none is needed: MicroPython runs the script as it is (flash copies it to the board)", packages = { "micropython", "python3-serial" }, flash = "mpremote connect {port} cp {src} :main.py",
        emulate = "micropython {src}" } },
    { id = "esp32-mpy", name = "ESP32 with MicroPython", mcu = "esp32", usb = { "10c4:ea60", "1a86:55d4" },
      toolchain = { family = "micropython", no_build = "none is needed: MicroPython runs the script as it is (flash copies it to the board)", packages = { "micropython", "esptool", "python3-serial" }, flash = "mpremote connect {port} cp {src} :main.py",
        emulate = "micropython {src}" } },
    { id = "pyboard", name = "Pyboard v1.1", mcu = "stm32f405", usb = { "f055:9800", "f055:9801" },
      toolchain = { family = "micropython", no_build = "none is needed: MicroPython runs the script as it is (flash copies it to the board)", packages = { "micropython", "python3-serial" }, flash = "mpremote connect {port} cp {src} :main.py",
        emulate = "micropython {src}" } },
  },
}
