/* The compiled fast path (bpf/pubnat.bpf.c), carried inside the binary so
 * that servos stays one file. The Makefile names the object. */
#ifdef SV_PUBNAT_OBJ
__asm__(".section .rodata\n"
        ".balign 8\n"
        ".globl sv_pubnat_obj\n"
        "sv_pubnat_obj:\n"
        ".incbin \"" SV_PUBNAT_OBJ "\"\n"
        ".globl sv_pubnat_obj_end\n"
        "sv_pubnat_obj_end:\n"
        ".previous\n");
#else
#error "build with -DSV_PUBNAT_OBJ=\"path/to/pubnat.bpf.o\" (see the Makefile)"
#endif
