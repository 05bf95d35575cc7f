#!/usr/bin/env python3
"""An Arduino Uno's bootloader (optiboot: STK500 version 1), played on the
master side of a pseudo-terminal pair whose slave side is the board's port.
It answers what avrdude -c arduino asks (sync, parameters, signature, pages
written and read back), keeps the flash it is given, and at the end (a
leave-programming-mode command, or LIFETIME seconds) writes that flash to
OUT as "ADDRESS BYTE" hex lines, one per byte written. With --run, the
board then runs its new firmware as far as a test can tell: it prints
"board line N" every 0.1 s for the rest of its lifetime.

usage: stk500-board.py [--run] OUT [LIFETIME]    (prints the port's path first)
"""
import os
import pty
import select
import sys
import time
import tty

SYNC_CRC_EOP = 0x20
INSYNC, OK = 0x14, 0x10
SIGNATURE = bytes([0x1E, 0x95, 0x0F])  # ATmega328P


class Port:
    def __init__(self, fd, deadline):
        self.fd, self.deadline, self.buf = fd, deadline, b""

    def read(self, n):
        while len(self.buf) < n:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            ready, _, _ = select.select([self.fd], [], [], left)
            if ready:
                try:
                    self.buf += os.read(self.fd, 4096)
                except OSError:
                    time.sleep(0.01)  # the slave side is not open (yet, or again)
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def write(self, data):
        os.write(self.fd, bytes(data))


def serve(port, flash):
    address = 0
    while True:
        cmd = port.read(1)[0]
        args = b""
        if cmd == 0x41:  # get parameter
            args = port.read(1)
        elif cmd == 0x42:  # set device
            args = port.read(20)
        elif cmd == 0x45:  # set device, extended: a count byte, then count - 1 bytes
            count = port.read(1)
            args = count + port.read(count[0] - 1)
        elif cmd == 0x55:  # load address (in words)
            args = port.read(2)
        elif cmd == 0x56:  # universal
            args = port.read(4)
        elif cmd in (0x64, 0x74):  # program / read page: size, memory type (, data)
            args = port.read(3)
            if cmd == 0x64:
                args += port.read(args[0] << 8 | args[1])
        if port.read(1)[0] != SYNC_CRC_EOP:
            port.write([0x15])  # no sync
            continue
        reply = b""
        if cmd == 0x41:
            reply = bytes([{0x81: 4, 0x82: 4}.get(args[0], 3)])
        elif cmd == 0x55:
            address = (args[0] | args[1] << 8) * 2
        elif cmd == 0x56:
            reply = b"\x00"
        elif cmd == 0x64 and args[2] == ord("F"):
            for i, b in enumerate(args[3:]):
                flash[address + i] = b
        elif cmd == 0x74:
            size = args[0] << 8 | args[1]
            reply = bytes(flash.get(address + i, 0xFF) for i in range(size))
        elif cmd == 0x75:
            reply = SIGNATURE
        port.write(bytes([INSYNC]) + reply + bytes([OK]))
        if cmd == 0x51:  # leave programming mode: done
            return


def run_firmware(master, end):
    n = 0
    while time.monotonic() < end:
        n += 1
        try:
            os.write(master, b"board line %d\r\n" % n)
        except OSError:
            pass  # no one reads the port: a line is lost, as on a UART
        time.sleep(0.1)


def main():
    args = sys.argv[1:]
    then_run = args[:1] == ["--run"]
    if then_run:
        args = args[1:]
    out = args[0]
    lifetime = float(args[1]) if len(args) > 1 else 60
    end = time.monotonic() + lifetime
    master, slave = pty.openpty()
    tty.setraw(slave)
    os.set_blocking(master, True)
    print(os.ttyname(slave), flush=True)
    flash = {}
    try:
        serve(Port(master, end), flash)
    except TimeoutError:
        pass
    with open(out + ".tmp", "w") as f:
        for a in sorted(flash):
            f.write("%06x %02x\n" % (a, flash[a]))
    os.rename(out + ".tmp", out)
    if then_run and flash:
        os.set_blocking(master, False)
        run_firmware(master, end)


if __name__ == "__main__":
    main()
