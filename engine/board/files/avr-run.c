/* avr-run: runs AVR firmware in simavr for servos' AVR boards, built into
 * the AVR toolchain image. simavr's own command line runs until killed,
 * colours the serial output and prints nothing of the pins; this one
 * stops after a simulated time (-t), when the firmware halts (exit() or
 * sleep with interrupts off), prints serial port 0 as it is (CR LF as
 * LF) on stdout, and each change of an output pin as a timestamped line
 * between serial lines:
 *
 *   [  0.100023] pin 13 (PB5) = 1
 *
 * The Arduino pin number comes from the firmware's own pin tables when it
 * has them (digitalWrite links them in), else the port pin alone.
 *
 *   avr-run [-m MCU] [-f HZ] [-t SECONDS] [--realtime] [--pins] [--stdin] FIRMWARE.elf|.hex
 *
 * servos runs it through a board's emulate template (avr-run -m atmega328p
 * -f 16000000 {out}.elf), so what varies per run comes from the
 * environment as well: SERVOS_TIME (-t), SERVOS_REALTIME=1, SERVOS_PINS=0
 * (no pin lines; they are on by default), SERVOS_STDIN=1 (stdin feeds
 * serial port 0: a ProServe request).
 *
 * Exit: the firmware's exit code when it halts (r24), 0 at the time
 * limit, 3 when it crashed, 2 on bad use. */
#define _GNU_SOURCE
#include <simavr/avr_ioport.h>
#include <simavr/avr_uart.h>
#include <simavr/sim_avr.h>
#include <simavr/sim_elf.h>
#include <simavr/sim_hex.h>

#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static struct {
    const char *mcu, *file;
    unsigned long freq;
    double seconds; /* 0: no limit */
    int realtime, pins, input;
} opt;

static avr_t *avr;
static int line_open; /* serial output since the last newline */
static int pending_cr;
static char pinlog[1 << 16]; /* pin lines waiting for the serial line to end */
static size_t pinlog_len;
static int pin_number[12][8]; /* Arduino pin of port A..L bit n, or -1 */
static uint8_t pin_value[12];
static int input_open, xon;

static void logger(avr_t *a, const int level, const char *fmt, va_list ap)
{
    (void)a;
    if (level > LOG_ERROR)
        return;
    fputs("avr-run: ", stderr);
    vfprintf(stderr, fmt, ap);
}

static double sim_seconds(void)
{
    return (double)avr->cycle / (double)avr->frequency;
}

static void pinlog_flush(void)
{
    if (pinlog_len)
        fwrite(pinlog, 1, pinlog_len, stdout);
    pinlog_len = 0;
}

static void serial_byte(int c)
{
    putchar(c);
    line_open = c != '\n';
    if (!line_open) {
        pinlog_flush();
        fflush(stdout);
    }
}

static void uart_out(struct avr_irq_t *irq, uint32_t value, void *param)
{
    (void)irq, (void)param;
    int c = (int)(value & 0xff);
    if (pending_cr && c != '\n')
        serial_byte('\r');
    pending_cr = c == '\r';
    if (!pending_cr)
        serial_byte(c);
}

static void uart_xon(struct avr_irq_t *irq, uint32_t value, void *param)
{
    (void)irq, (void)value;
    xon = param != NULL;
}

static void pin_change(struct avr_irq_t *irq, uint32_t value, void *param)
{
    int port = (int)(intptr_t)param >> 3, bit = (int)(intptr_t)param & 7;
    (void)irq;
    avr_irq_t *dir =
        avr_io_getirq(avr, AVR_IOCTL_IOPORT_GETIRQ('A' + port), IOPORT_IRQ_DIRECTION_ALL);
    if (dir && !((dir->value >> bit) & 1))
        return; /* an input's pull-up, not a level the pin drives */
    uint8_t v = value ? 1 : 0;
    if (((pin_value[port] >> bit) & 1) == v)
        return;
    pin_value[port] ^= (uint8_t)(1 << bit);
    char line[96];
    int n;
    if (pin_number[port][bit] >= 0)
        n = snprintf(line, sizeof(line), "[%11.6f] pin %d (P%c%d) = %d\n", sim_seconds(),
                     pin_number[port][bit], 'A' + port, bit, v);
    else
        n = snprintf(line, sizeof(line), "[%11.6f] pin P%c%d = %d\n", sim_seconds(), 'A' + port,
                     bit, v);
    if (!line_open) {
        fwrite(line, 1, (size_t)n, stdout);
        fflush(stdout);
    } else if (pinlog_len + (size_t)n < sizeof(pinlog)) {
        memcpy(pinlog + pinlog_len, line, (size_t)n);
        pinlog_len += (size_t)n;
    }
}

/* The firmware's Arduino pin tables (digital_pin_to_port_PGM: 1 = PA,
 * digital_pin_to_bit_mask_PGM), read from its flash through the ELF's
 * symbols. */
static void pin_names(const char *file, const uint8_t *flash, uint32_t flashsize)
{
    memset(pin_number, 0xff, sizeof(pin_number));
    if (elf_version(EV_CURRENT) == EV_NONE)
        return;
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    Elf *e = elf_begin(fd, ELF_C_READ, NULL);
    uint32_t ports = 0, masks = 0, size = 0;
    Elf_Scn *scn = NULL;
    while (e && (scn = elf_nextscn(e, scn)) != NULL) {
        GElf_Shdr sh;
        if (gelf_getshdr(scn, &sh) == NULL || sh.sh_type != SHT_SYMTAB)
            continue;
        Elf_Data *d = elf_getdata(scn, NULL);
        for (size_t i = 0; d && i < sh.sh_size / sh.sh_entsize; i++) {
            GElf_Sym s;
            if (gelf_getsym(d, (int)i, &s) == NULL)
                continue;
            const char *name = elf_strptr(e, sh.sh_link, s.st_name);
            if (name && strncmp(name, "digital_pin_to_port_PGM", 23) == 0)
                ports = (uint32_t)s.st_value, size = (uint32_t)s.st_size;
            else if (name && strncmp(name, "digital_pin_to_bit_mask_PGM", 27) == 0)
                masks = (uint32_t)s.st_value;
        }
    }
    if (e)
        elf_end(e);
    close(fd);
    for (uint32_t i = 0;
         ports && masks && i < size && ports + i < flashsize && masks + i < flashsize; i++) {
        int port = flash[ports + i] - 1, mask = flash[masks + i];
        for (int bit = 0; port >= 0 && port < 12 && bit < 8; bit++)
            if (mask == 1 << bit && pin_number[port][bit] < 0)
                pin_number[port][bit] = (int)i;
    }
}

static void no_sleep(avr_t *a, avr_cycle_count_t how_long)
{
    (void)a, (void)how_long; /* simulated time runs as fast as it can */
}

static int usage(void)
{
    fprintf(stderr, "usage: avr-run [-m MCU] [-f HZ] [-t SECONDS] [--realtime] [--[no-]pins] "
                    "[--stdin] FIRMWARE.elf|.hex\n");
    return 2;
}

static int env_flag(const char *name, int dflt)
{
    const char *v = getenv(name);
    return v && *v ? strcmp(v, "0") != 0 : dflt;
}

static int parse(int argc, char **argv)
{
    const char *t = getenv("SERVOS_TIME");
    opt.seconds = t && *t ? strtod(t, NULL) : 0;
    opt.realtime = env_flag("SERVOS_REALTIME", 0);
    opt.pins = env_flag("SERVOS_PINS", 1);
    opt.input = env_flag("SERVOS_STDIN", 0);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-m") == 0 && i + 1 < argc)
            opt.mcu = argv[++i];
        else if (strcmp(a, "-f") == 0 && i + 1 < argc)
            opt.freq = strtoul(argv[++i], NULL, 10);
        else if (strcmp(a, "-t") == 0 && i + 1 < argc)
            opt.seconds = strtod(argv[++i], NULL);
        else if (strcmp(a, "--realtime") == 0)
            opt.realtime = 1;
        else if (strcmp(a, "--pins") == 0)
            opt.pins = 1;
        else if (strcmp(a, "--no-pins") == 0)
            opt.pins = 0;
        else if (strcmp(a, "--stdin") == 0)
            opt.input = 1;
        else if (a[0] != '-' && opt.file == NULL)
            opt.file = a;
        else
            return usage();
    }
    return opt.file ? 0 : usage();
}

static int load(elf_firmware_t *f)
{
    size_t n = strlen(opt.file);
    if (n > 4 && strcmp(opt.file + n - 4, ".hex") == 0) {
        ihex_chunk_p chunks = NULL;
        int count = read_ihex_chunks(opt.file, &chunks);
        if (count <= 0) {
            fprintf(stderr, "avr-run: %s: not an Intel hex file\n", opt.file);
            return -1;
        }
        f->flash = chunks[0].data;
        f->flashsize = chunks[0].size;
        f->flashbase = chunks[0].baseaddr;
    } else if (elf_read_firmware(opt.file, f) < 0) {
        fprintf(stderr, "avr-run: %s: cannot read the firmware\n", opt.file);
        return -1;
    }
    if (opt.mcu)
        snprintf(f->mmcu, sizeof(f->mmcu), "%s", opt.mcu);
    if (opt.freq)
        f->frequency = (uint32_t)opt.freq;
    if (f->mmcu[0] == '\0' || f->frequency == 0) {
        fprintf(stderr, "avr-run: %s names no MCU or frequency: give -m and -f\n", opt.file);
        return -1;
    }
    avr = avr_make_mcu_by_name(f->mmcu);
    if (avr == NULL) {
        fprintf(stderr, "avr-run: simavr knows no MCU \"%s\"\n", f->mmcu);
        return -1;
    }
    avr_init(avr);
    avr_load_firmware(avr, f);
    avr->sleep = no_sleep;
    return 0;
}

static void connect(void)
{
    uint32_t flags = 0;
    avr_ioctl(avr, AVR_IOCTL_UART_GET_FLAGS('0'), &flags);
    flags &= ~(uint32_t)(AVR_UART_FLAG_STDIO | AVR_UART_FLAG_POLL_SLEEP);
    avr_ioctl(avr, AVR_IOCTL_UART_SET_FLAGS('0'), &flags);
    avr_irq_t *u = avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUTPUT);
    if (u)
        avr_irq_register_notify(u, uart_out, NULL);
    if (opt.input && u) {
        avr_irq_register_notify(u + (UART_IRQ_OUT_XON - UART_IRQ_OUTPUT), uart_xon, (void *)1);
        avr_irq_register_notify(u + (UART_IRQ_OUT_XOFF - UART_IRQ_OUTPUT), uart_xon, NULL);
        input_open = 1;
        fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
    }
    for (int port = 0; opt.pins && port < 12; port++)
        for (int bit = 0; bit < 8; bit++) {
            avr_irq_t *p = avr_io_getirq(avr, AVR_IOCTL_IOPORT_GETIRQ('A' + port), bit);
            if (p)
                avr_irq_register_notify(p, pin_change, (void *)(intptr_t)(port << 3 | bit));
        }
}

/* stdin to serial port 0, a byte whenever its receive buffer has room. */
static void feed(void)
{
    static unsigned char buf[256];
    static ssize_t len, at;
    if (!xon)
        return;
    if (at == len) {
        len = read(0, buf, sizeof(buf));
        at = 0;
        if (len == 0 || (len < 0 && errno != EAGAIN))
            input_open = 0;
        if (len <= 0) {
            len = 0;
            return;
        }
    }
    avr_raise_irq(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_INPUT), buf[at++]);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* exit() ends in "cli; rjmp ." (avr-libc's __stop_program). */
static int halted(void)
{
    return !avr->sreg[S_I] && avr->pc + 1 < avr->flashend && avr->flash[avr->pc] == 0xff &&
           avr->flash[avr->pc + 1] == 0xcf;
}

int main(int argc, char **argv)
{
    if (parse(argc, argv) < 0)
        return 2;
    avr_global_logger_set(logger);
    elf_firmware_t f = {0};
    if (load(&f) < 0)
        return 2;
    if (opt.pins)
        pin_names(opt.file, avr->flash, avr->flashend + 1);
    connect();
    avr_cycle_count_t limit =
        opt.seconds > 0 ? (avr_cycle_count_t)(opt.seconds * avr->frequency) : 0;
    double start = now();
    int code = 0;
    for (unsigned long step = 0;; step++) {
        int state = avr_run(avr);
        if (state == cpu_Done)
            break;
        if (state == cpu_Crashed) {
            fprintf(stderr, "avr-run: the firmware crashed at pc 0x%x, %.6f s\n", avr->pc,
                    sim_seconds());
            code = 3;
            break;
        }
        if (limit && avr->cycle >= limit)
            break;
        if ((step & 1023) == 0) {
            if (halted()) {
                code = avr->data[24];
                break;
            }
            if (input_open)
                feed();
            if (opt.realtime && (step & 65535) == 0) {
                double ahead = sim_seconds() - (now() - start);
                if (ahead > 0.002)
                    usleep((useconds_t)(ahead * 1e6));
            }
        }
    }
    if (pending_cr)
        serial_byte('\r');
    if (line_open)
        serial_byte('\n');
    pinlog_flush();
    fflush(stdout);
    return code;
}
