/* Takes an interrupt: programs the 8259 PICs, enables the UART's
   receive interrupt (IRQ 4) and halts; the handler prints the byte the host
   sent and powers off with it as the exit status. Exercises KVM_IRQ_LINE,
   the in-kernel PIC, the LAPIC's ExtINT wiring and interrupt delivery
   through the guest's IDT. */
#include "common.S"

        .set PIC1_CMD, 0x20
        .set PIC1_DATA, 0x21
        .set PIC2_CMD, 0xa0
        .set PIC2_DATA, 0xa1
        .set PIC_VECTOR_BASE, 0x20
        .set SERIAL_VECTOR, PIC_VECTOR_BASE + 4
        .set BOOT_CS, 0x10                  /* gdt.ts: code segment selector */
        .set INTERRUPT_GATE, 0x8e           /* present, DPL 0, 64-bit interrupt gate */
        .set PIC_EOI, 0x20

        .globl _start
_start:
        call    map_mmio_gap
        /* Every vector goes to `unexpected` except the UART's. */
        lea     unexpected(%rip), %rsi
        xor     %ebx, %ebx
1:      call    set_gate
        inc     %ebx
        cmp     $256, %ebx
        jne     1b
        lea     serial_interrupt(%rip), %rsi
        mov     $SERIAL_VECTOR, %ebx
        call    set_gate
        lidt    idt_descriptor(%rip)

        /* ICW1-4: edge-triggered, cascade, vectors 0x20/0x28, 8086 mode. */
        mov     $0x11, %al
        out     %al, $PIC1_CMD
        out     %al, $PIC2_CMD
        mov     $PIC_VECTOR_BASE, %al
        out     %al, $PIC1_DATA
        mov     $PIC_VECTOR_BASE + 8, %al
        out     %al, $PIC2_DATA
        mov     $0x04, %al
        out     %al, $PIC1_DATA
        mov     $0x02, %al
        out     %al, $PIC2_DATA
        mov     $0x01, %al
        out     %al, $PIC1_DATA
        out     %al, $PIC2_DATA
        mov     $0xef, %al                  /* unmask IRQ 4 only */
        out     %al, $PIC1_DATA
        mov     $0xff, %al
        out     %al, $PIC2_DATA

        mov     $0x01, %al                  /* IER: received-data interrupt */
        mov     $COM1_IER, %dx
        out     %al, %dx
        mov     $0x08, %al                  /* MCR: OUT2 gates the IRQ on a PC */
        mov     $COM1_MCR, %dx
        out     %al, %dx

        lea     ready(%rip), %rdi
        call    puts
        call    signal_boot_complete
        sti
2:      hlt
        jmp     2b

/* IDT entry %ebx -> handler %rsi. */
set_gate:
        lea     idt(%rip), %rdi
        mov     %rbx, %rax
        shl     $4, %rax
        add     %rax, %rdi
        mov     %rsi, %rax
        mov     %ax, (%rdi)
        movw    $BOOT_CS, 2(%rdi)
        movb    $0, 4(%rdi)
        movb    $INTERRUPT_GATE, 5(%rdi)
        shr     $16, %rax
        mov     %ax, 6(%rdi)
        shr     $16, %rax
        mov     %eax, 8(%rdi)
        movl    $0, 12(%rdi)
        ret

serial_interrupt:
        mov     $COM1, %dx
        in      %dx, %al
        movzbl  %al, %ebx
        lea     got(%rip), %rdi
        call    puts
        mov     %bl, %al
        mov     $COM1, %dx
        out     %al, %dx
        mov     $'\n', %al
        out     %al, %dx
        mov     $PIC_EOI, %al
        out     %al, $PIC1_CMD
        mov     %ebx, %edi
        call    power_off

unexpected:
        lea     surprise(%rip), %rdi
        call    puts
        mov     $99, %edi
        call    power_off

        .section .rodata
ready:    .asciz "ready for input\n"
got:      .asciz "interrupt: got "
surprise: .asciz "unexpected interrupt\n"
        .balign 8
idt_descriptor:
        .word   256 * 16 - 1
        .quad   idt

        .bss
        .balign 16
idt:    .skip   256 * 16
