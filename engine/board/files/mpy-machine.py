# machine for servos' MicroPython runtime: no board is attached, so the
# peripherals record what the script does to them, one timestamped line
# each on stdout, in simulated time (see time):
#   [   0.500012] pin 25 = 1
#   [   1.000020] pwm 15 freq=1000 duty_u16=32768
# Pins log changes of level only; inputs and ADCs read 0 (no signal is
# connected); an I2C or SPI bus has no device on it, so a transfer fails
# as on a board with nothing wired (OSError ENODEV).
import time as _time

_file = None  # where the lines go: stdout, or what the runner sets (a request's: stderr)


def _log(what):
    if _file is None:
        print("[%11.6f] %s" % (_time.seconds(), what))
    else:
        print("[%11.6f] %s" % (_time.seconds(), what), file=_file)


def _pin_name(p):
    if isinstance(p, Pin):
        return p._name
    return str(p)


class Pin:
    IN = 0
    OUT = 1
    OPEN_DRAIN = 2
    ALT = 3
    ALT_OPEN_DRAIN = 4
    ANALOG = 5
    PULL_UP = 1
    PULL_DOWN = 2
    PULL_HOLD = 4
    IRQ_FALLING = 4
    IRQ_RISING = 8
    IRQ_LOW_LEVEL = 16
    IRQ_HIGH_LEVEL = 32
    DRIVE_0 = 0
    DRIVE_1 = 1
    DRIVE_2 = 2

    def __init__(self, id, mode=-1, pull=-1, value=None, **kw):
        self._name = str(id)
        self._mode = Pin.IN if mode == -1 else mode
        self._pull = pull
        self._value = 0
        if value is not None:
            self.value(value)

    def init(self, mode=-1, pull=-1, value=None, **kw):
        if mode != -1:
            self._mode = mode
        if pull != -1:
            self._pull = pull
        if value is not None:
            self.value(value)

    def value(self, x=None):
        if x is None:
            if self._mode in (Pin.OUT, Pin.OPEN_DRAIN):
                return self._value
            return 1 if self._pull == Pin.PULL_UP else 0
        v = 1 if x else 0
        if v != self._value:
            self._value = v
            _log("pin %s = %d" % (self._name, v))

    __call__ = value

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)

    high = on
    low = off

    def toggle(self):
        self.value(1 - self._value)

    def mode(self, m=None):
        if m is None:
            return self._mode
        self._mode = m

    def pull(self, p=None):
        if p is None:
            return self._pull
        self._pull = p

    def irq(self, handler=None, trigger=IRQ_FALLING | IRQ_RISING, **kw):
        return None  # nothing drives an input, so it never fires

    def __repr__(self):
        return "Pin(%s)" % self._name


class Signal:
    def __init__(self, pin, *args, invert=False, **kw):
        self._pin = pin if isinstance(pin, Pin) else Pin(pin, *args, **kw)
        self._invert = invert

    def value(self, x=None):
        if x is None:
            return self._pin.value() ^ self._invert
        self._pin.value((1 if x else 0) ^ self._invert)

    __call__ = value

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)


class PWM:
    def __init__(self, pin, freq=0, duty_u16=None, duty_ns=None, **kw):
        self._name = _pin_name(pin)
        self._freq = freq
        self._duty = 0
        if duty_u16 is not None:
            self._duty = duty_u16
        elif duty_ns is not None and freq:
            self._duty = int(duty_ns * freq * 65535 // 1000000000)
        if freq or self._duty:
            self._show()

    def _show(self):
        _log("pwm %s freq=%d duty_u16=%d" % (self._name, self._freq, self._duty))

    def init(self, freq=None, duty_u16=None, **kw):
        if freq is not None:
            self._freq = freq
        if duty_u16 is not None:
            self._duty = duty_u16
        self._show()

    def freq(self, f=None):
        if f is None:
            return self._freq
        self._freq = f
        self._show()

    def duty_u16(self, d=None):
        if d is None:
            return self._duty
        self._duty = d
        self._show()

    def duty(self, d=None):  # the ESP ports' 10-bit duty
        if d is None:
            return self._duty >> 6
        self.duty_u16(int(d) << 6)

    def duty_ns(self, ns=None):
        if ns is None:
            return self._duty * 1000000000 // (65535 * self._freq) if self._freq else 0
        self.duty_u16(int(ns * self._freq * 65535 // 1000000000))

    def deinit(self):
        _log("pwm %s off" % self._name)


class ADC:
    ATTN_0DB = 0
    ATTN_2_5DB = 1
    ATTN_6DB = 2
    ATTN_11DB = 3
    WIDTH_12BIT = 3

    def __init__(self, pin, **kw):
        self._name = _pin_name(pin)

    def read_u16(self):
        _log("adc %s read 0" % self._name)
        return 0

    def read(self):
        return self.read_u16() >> 4

    def read_uv(self):
        self.read_u16()
        return 0

    def atten(self, a):
        pass

    def width(self, w):
        pass


class I2C:
    def __init__(self, id=0, *, scl=None, sda=None, freq=400000, **kw):
        self._id = id
        self._freq = freq

    def init(self, *args, **kw):
        pass

    def scan(self):
        return []

    def _none(self, addr):
        raise OSError(19)  # ENODEV: no device answers at addr

    def readfrom(self, addr, n, stop=True):
        self._none(addr)

    def readfrom_into(self, addr, buf, stop=True):
        self._none(addr)

    def writeto(self, addr, buf, stop=True):
        self._none(addr)

    def readfrom_mem(self, addr, memaddr, n, **kw):
        self._none(addr)

    def readfrom_mem_into(self, addr, memaddr, buf, **kw):
        self._none(addr)

    def writeto_mem(self, addr, memaddr, buf, **kw):
        self._none(addr)


SoftI2C = I2C


class Timer:
    ONE_SHOT = 0
    PERIODIC = 1

    def __init__(self, id=-1, **kw):
        self._cb = None
        if kw:
            self.init(**kw)

    def init(self, *, mode=PERIODIC, freq=-1, period=-1, callback=None, **kw):
        self.deinit()
        us = 1000000 / freq if freq > 0 else (period if period > 0 else 1000) * 1000
        self._period = max(1, int(us))
        self._mode = mode
        self._cb = callback
        self._due = _time._now_us() + self._period
        _time._timers.append(self)

    def _fire(self):
        if self._mode == Timer.PERIODIC:
            self._due += self._period
        else:
            self.deinit()
        if self._cb:
            self._cb(self)

    def deinit(self):
        if self in _time._timers:
            _time._timers.remove(self)


def freq(f=None):
    return 125000000 if f is None else None


def unique_id():
    return b"servos"


def reset():
    raise SystemExit(0)


soft_reset = reset


def idle():
    pass


def lightsleep(ms=None):
    if ms is not None:
        _time.sleep_ms(ms)


deepsleep = lightsleep


def disable_irq():
    return 0


def enable_irq(state=0):
    pass
