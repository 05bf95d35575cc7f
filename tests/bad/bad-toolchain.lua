-- expect: bad-toolchain.lua:2: service "fw": toolchain: unknown toolchain "avrr" \(did you mean "avr"\? the toolchains: arm64, armhf, avr, cortex-m, micropython, x86_64, xtensa\)
service "fw" { toolchain = "avrr" }
