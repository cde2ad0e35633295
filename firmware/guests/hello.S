/* Prints a greeting and its kernel command line on COM1, signals boot
   complete, and powers off with status 42: exercises port-I/O exits, MMIO
   exits, the zero page and the guest-signal device. */
#include "common.S"

        .set CMD_LINE_PTR, 0x228            /* boot_params.hdr.cmd_line_ptr */

        .globl _start
_start:
        mov     %rsi, %r12                  /* zero page */
        call    map_mmio_gap
        lea     greeting(%rip), %rdi
        call    puts
        mov     CMD_LINE_PTR(%r12), %edi
        call    puts
        lea     newline(%rip), %rdi
        call    puts
        call    signal_boot_complete
        mov     $42, %edi
        call    power_off

        .section .rodata
greeting: .asciz "hello from the tiny guest; cmdline: "
newline:  .asciz "\n"
