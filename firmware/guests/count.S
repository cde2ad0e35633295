/* Counts for ever on COM1: the digits 0123456789 over and over, a pause
   between two, until the VMM's stop register reads 1 (guest-signal device),
   then ends with ud2 and no IDT: a triple fault, which ends the vCPU thread
   (a power-off would leave it spinning, and a spec's process running). A snapshot taken in between must neither
   lose nor repeat a digit: the output is always a prefix of 0123456789012… */
#include "common.S"

        .set STOP_REGISTER, GUEST_SIGNAL + 8      /* layout.ts GUEST_SIGNAL_STOP_OFFSET */
        .set DELAY_ROUNDS, 200000

        .globl _start
_start:
        call    map_mmio_gap
        call    signal_boot_complete
        mov     $'0', %bl
1:      mov     %bl, %al
        mov     $COM1, %dx
        out     %al, %dx
        inc     %bl
        cmp     $'9' + 1, %bl
        jne     2f
        mov     $'0', %bl
2:      mov     $DELAY_ROUNDS, %ecx
3:      pause
        loop    3b
        mov     $STOP_REGISTER, %eax
        testb   $1, (%rax)
        jz      1b
        ud2
