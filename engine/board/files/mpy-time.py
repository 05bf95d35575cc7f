# time for servos' MicroPython runtime: simulated time. sleep() moves a
# clock of the script's own at once instead of waiting, so a blink
# script's seconds take microseconds and its pin changes come at exact
# times. Computing takes no simulated time (an infinitely fast board);
# each reading of the clock moves it on by a microsecond, so a busy loop
# on ticks_ms() still ends. Timers of machine.Timer fire as the clock
# passes them.
import _svrt

_us = 0
_epoch = _svrt.time()
_limit_us = 0  # > 0: the simulated time the run may last (servos --time)
_timers = []  # (due_us, timer), kept by machine.Timer


class TimeUp(BaseException):
    pass


def _now_us():
    return _us


def _read_us():
    global _us
    _us += 1
    if _limit_us and _us >= _limit_us:
        raise TimeUp()
    return _us


def _advance(us):
    end = _now_us() + max(0, int(us))
    while True:
        due = None
        for t in _timers:
            if t._due <= end and (due is None or t._due < due._due):
                due = t
        if due is None:
            break
        _to(due._due)
        due._fire()
    _to(end)


def _to(us):
    global _us
    if _limit_us and us >= _limit_us:
        _us = _limit_us
        raise TimeUp()
    if us > _us:
        _us = us


def seconds():
    """The simulated time since the start, in seconds (for the pin log)."""
    return _now_us() / 1000000


def sleep(s):
    _advance(s * 1000000)


def sleep_ms(ms):
    _advance(ms * 1000)


def sleep_us(us):
    _advance(us)


def ticks_us():
    return _read_us() & 0x3FFFFFFF


def ticks_ms():
    return (_read_us() // 1000) & 0x3FFFFFFF


def ticks_cpu():
    return ticks_us()


def ticks_add(t, delta):
    return (t + delta) & 0x3FFFFFFF


def ticks_diff(a, b):
    d = (a - b) & 0x3FFFFFFF
    return d - 0x40000000 if d >= 0x20000000 else d


def time():
    return _epoch + _read_us() // 1000000


def time_ns():
    return _epoch * 1000000000 + _read_us() * 1000


localtime = _svrt.localtime
gmtime = _svrt.gmtime
mktime = _svrt.mktime
