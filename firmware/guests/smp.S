/* Starts the second vCPU the way Linux does (INIT, then a startup IPI to a
   real-mode trampoline at 0x8000), waits until that vCPU has checked in and
   is counting, and powers off with 0 (or 1 if it never came up): proves two
   vCPU threads run the guest at the same time. */
#include "common.S"

        .set LAPIC_ICR_LOW, 0xfee00300
        .set LAPIC_ICR_HIGH, 0xfee00310
        .set TRAMPOLINE, 0x8000
        .set TRAMPOLINE_VECTOR, TRAMPOLINE >> 12
        .set AP_FLAG, 0x8100
        .set AP_COUNTER, 0x8104
        .set AP_MAGIC, 0x1234
        .set ICR_INIT, 0x4500               /* INIT, level assert */
        .set ICR_STARTUP, 0x4600            /* start-up IPI */
        .set AP_APIC_ID, 1
        .set WAIT_ROUNDS, 20000000

        .globl _start
_start:
        call    map_mmio_gap
        /* Copy the trampoline below 1 MiB and clear its flag. */
        lea     trampoline_start(%rip), %rsi
        mov     $TRAMPOLINE, %edi
        mov     $trampoline_end - trampoline_start, %ecx
        rep movsb
        movl    $0, AP_FLAG
        movl    $0, AP_COUNTER

        mov     $LAPIC_ICR_HIGH, %r8d
        mov     $LAPIC_ICR_LOW, %r9d
        movl    $AP_APIC_ID << 24, (%r8)
        movl    $ICR_INIT, (%r9)
        movl    $AP_APIC_ID << 24, (%r8)
        movl    $ICR_STARTUP | TRAMPOLINE_VECTOR, (%r9)

        mov     $WAIT_ROUNDS, %ecx
1:      cmpl    $AP_MAGIC, AP_FLAG
        je      2f
        pause
        loop    1b
        lea     timeout(%rip), %rdi
        call    puts
        mov     $1, %edi
        call    power_off

        /* The AP is up; see its counter move while we watch. */
2:      mov     AP_COUNTER, %ebx
        mov     $WAIT_ROUNDS, %ecx
3:      cmp     AP_COUNTER, %ebx
        jne     4f
        pause
        loop    3b
        lea     stuck(%rip), %rdi
        call    puts
        mov     $2, %edi
        call    power_off
4:      lea     running(%rip), %rdi
        call    puts
        call    signal_boot_complete
        xor     %edi, %edi
        call    power_off

        .code16
trampoline_start:
        cli
        xor     %ax, %ax
        mov     %ax, %ds
        movl    $AP_MAGIC, AP_FLAG
5:      incl    AP_COUNTER
        jmp     5b
trampoline_end:
        .code64

        .section .rodata
running:  .asciz "second vCPU is running alongside the first\n"
timeout:  .asciz "second vCPU never started\n"
stuck:    .asciz "second vCPU started but is not running\n"
