-- Espressif ESP32 family (ESP-IDF / Arduino core). Debian ships esptool for
-- flashing; the xtensa compiler comes from Espressif.
return {
  name = "esp32", arch = "xtensa", description = "Espressif ESP32 / ESP8266 Wi-Fi microcontrollers",
  boards = {
    { id = "esp32", name = "ESP32 (generic)", mcu = "esp32", usb = { "10c4:ea60", "1a86:7523", "0403:6015" },
      toolchain = { family = "xtensa", packages = { "esptool" }, flash = "esptool --chip esp32 --port {port} write_flash 0x1000 {out}.bin",
        no_build = "it needs Espressif's Xtensa compiler (xtensa-esp32-elf-gcc, from ESP-IDF), which Debian 12 does not package" } },
    { id = "esp32s3", name = "ESP32-S3", mcu = "esp32s3", usb = { "303a:1001", "303a:0002" },
      toolchain = { family = "xtensa", packages = { "esptool" }, flash = "esptool --chip esp32s3 --port {port} write_flash 0x0 {out}.bin",
        no_build = "it needs Espressif's Xtensa compiler (xtensa-esp32s3-elf-gcc, from ESP-IDF), which Debian 12 does not package" } },
    { id = "esp8266", name = "ESP8266 (NodeMCU)", mcu = "esp8266", usb = { "1a86:7523", "10c4:ea60" },
      toolchain = { family = "xtensa", packages = { "esptool" }, flash = "esptool --chip esp8266 --port {port} write_flash 0x0 {out}.bin",
        no_build = "it needs Espressif's Xtensa compiler (xtensa-lx106-elf-gcc), which Debian 12 does not package" } },
  },
}
