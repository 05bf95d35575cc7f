/* Start-up for servos' Cortex-M boards under QEMU: the vector table, and a
 * reset handler that copies .data into RAM before newlib's semihosting
 * crt0 (rdimon) zeroes .bss, runs constructors and calls main; main's
 * return and exit() end QEMU through semihosting with the exit code. */
extern unsigned long __sv_data_load[], __sv_data_start[], __sv_data_end[], __stack[];
extern void _start(void);
void sv_reset(void);

static void sv_fault(void)
{
    /* A fault: end through semihosting (SYS_EXIT, ADP_Stopped_RunTimeErrorUnknown). */
    register unsigned r0 __asm__("r0") = 0x18;
    register unsigned r1 __asm__("r1") = 0x20023;
    __asm__ volatile("bkpt 0xab" : : "r"(r0), "r"(r1) : "memory");
    for (;;) {
    }
}

__attribute__((section(".sv_vectors"), used)) static void (*const sv_vectors[16])(void) = {
    (void (*)(void))__stack, sv_reset, sv_fault, sv_fault, sv_fault, sv_fault, sv_fault,
};

void sv_reset(void)
{
    for (unsigned long *s = __sv_data_load, *d = __sv_data_start; d < __sv_data_end;)
        *d++ = *s++;
    _start();
}
