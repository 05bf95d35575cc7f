-- Arduino boards: AVR (avr-gcc, avrdude, simavr), ARM (arm-none-eabi) and
-- ESP32 (Espressif's Arduino core). usb: VID:PID pairs `servos detect` knows.
-- aliases: other names a board is known by (ProServe's arduino_uno).
-- toolchain.family: the toolchain that builds for it (a service's
-- toolchain key); no_build / no_flash: why a board has no such template.
-- The AVR builds put simavr's .mmcu section (a firmware's AVR_MCU
-- metadata) where simavr reads it, else its strings read as 0xFF, and
-- keep it out of the .hex a board is flashed with; emulate runs simavr
-- through servos' avr-run (the AVR toolchain image's), which bounds the
-- simulated time and prints the serial port and the pins' changes.
return {
  name = "arduino", arch = "avr", description = "Arduino and compatible microcontroller boards",
  boards = {
    { id = "uno", name = "Arduino Uno", mcu = "atmega328p", f_cpu = 16000000, aliases = { "arduino_uno" },
      usb = { "2341:0043", "2341:0001", "2a03:0043", "2341:0243" },
      toolchain = { family = "avr", packages = { "gcc-avr", "avr-libc", "avrdude", "simavr" },
        build = "avr-gcc -mmcu=atmega328p -DF_CPU=16000000UL -Os -Wl,--section-start=.mmcu=0x910000 -o {out}.elf {src} && avr-objcopy -O ihex -R .eeprom -R .mmcu {out}.elf {out}.hex",
        flash = "avrdude -p m328p -c arduino -P {port} -b 115200 -U flash:w:{out}.hex",
        emulate = "avr-run -m atmega328p -f 16000000 {out}.elf" } },
    { id = "nano", name = "Arduino Nano", mcu = "atmega328p", f_cpu = 16000000,
      usb = { "1a86:7523", "0403:6001" },
      toolchain = { family = "avr", packages = { "gcc-avr", "avr-libc", "avrdude", "simavr" },
        build = "avr-gcc -mmcu=atmega328p -DF_CPU=16000000UL -Os -Wl,--section-start=.mmcu=0x910000 -o {out}.elf {src} && avr-objcopy -O ihex -R .eeprom -R .mmcu {out}.elf {out}.hex",
        flash = "avrdude -p m328p -c arduino -P {port} -b 57600 -U flash:w:{out}.hex",
        emulate = "avr-run -m atmega328p -f 16000000 {out}.elf" } },
    { id = "mega2560", name = "Arduino Mega 2560", mcu = "atmega2560", f_cpu = 16000000,
      usb = { "2341:0042", "2341:0010", "2a03:0042" },
      toolchain = { family = "avr", packages = { "gcc-avr", "avr-libc", "avrdude", "simavr" },
        build = "avr-gcc -mmcu=atmega2560 -DF_CPU=16000000UL -Os -Wl,--section-start=.mmcu=0x910000 -o {out}.elf {src} && avr-objcopy -O ihex -R .eeprom -R .mmcu {out}.elf {out}.hex",
        flash = "avrdude -p m2560 -c wiring -P {port} -b 115200 -D -U flash:w:{out}.hex",
        emulate = "avr-run -m atmega2560 -f 16000000 {out}.elf" } },
    { id = "leonardo", name = "Arduino Leonardo", mcu = "atmega32u4", f_cpu = 16000000,
      usb = { "2341:8036", "2341:0036" },
      toolchain = { family = "avr", packages = { "gcc-avr", "avr-libc", "avrdude" },
        build = "avr-gcc -mmcu=atmega32u4 -DF_CPU=16000000UL -Os -Wl,--section-start=.mmcu=0x910000 -o {out}.elf {src} && avr-objcopy -O ihex -R .eeprom -R .mmcu {out}.elf {out}.hex",
        flash = "avrdude -p m32u4 -c avr109 -P {port} -U flash:w:{out}.hex" } },
    { id = "nano33iot", name = "Arduino Nano 33 IoT", mcu = "samd21g18a", arch = "cortex-m0plus",
      usb = { "2341:8057", "2341:0057" },
      toolchain = { family = "cortex-m", packages = { "gcc-arm-none-eabi", "libnewlib-arm-none-eabi" },
        build = "arm-none-eabi-gcc -mcpu=cortex-m0plus -mthumb -Os --specs=nosys.specs -o {out}.elf {src}",
        no_flash = "its bootloader takes firmware through bossac (Debian's bossa-cli) after a double reset; servos has no template for that yet" } },
    { id = "uno_r4_wifi", name = "Arduino Uno R4 WiFi", mcu = "ra4m1", arch = "cortex-m4",
      usb = { "2341:1002", "2341:006d" },
      toolchain = { family = "cortex-m", packages = { "gcc-arm-none-eabi", "libnewlib-arm-none-eabi" },
        build = "arm-none-eabi-gcc -mcpu=cortex-m4 -mthumb -Os --specs=nosys.specs -o {out}.elf {src}",
        no_flash = "it is flashed through its ESP32-S3 bridge by Arduino's own uploader, which Debian does not package" } },
    { id = "esp32dev", name = "ESP32 Dev Module (Arduino core)", mcu = "esp32", arch = "xtensa",
      usb = { "10c4:ea60", "1a86:55d4" },
      toolchain = { family = "xtensa", packages = { "python3-serial" }, note = "needs Espressif's xtensa toolchain, not packaged in Debian",
        no_build = "it needs Espressif's Xtensa compiler (xtensa-esp32-elf-gcc) and Arduino core, which Debian 12 does not package",
        no_flash = "it needs esptool, which Debian 12 does not package" } },
  },
}
