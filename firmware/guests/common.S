/* Shared pieces of mvm's tiny test guests. They start the way Linux does
   under mvm's 64-bit boot protocol: long mode, the first 1 GiB identity
   mapped, interrupts off, %rsi = the zero page. */

        .set COM1, 0x3f8
        .set COM1_IER, 0x3f9
        .set COM1_MCR, 0x3fc
        .set GUEST_SIGNAL, 0xc0000000       /* layout.ts GUEST_SIGNAL_BASE */
        .set BOOT_MAGIC, 123
        .set PAGE_PRESENT_WRITE_HUGE, 0x83
        .set TWO_MIB, 0x200000

        .text
/* Maps 3..4 GiB (the MMIO gap: guest-signal device, IOAPIC, LAPIC) with
   2 MiB pages by hanging pd_high off PDPT entry 3. */
map_mmio_gap:
        mov     %cr3, %rax
        and     $~0xfff, %rax
        mov     (%rax), %rax                /* PML4[0] -> PDPT */
        and     $~0xfff, %rax
        lea     pd_high(%rip), %rdx
        or      $3, %rdx                    /* present, writable */
        mov     %rdx, 24(%rax)              /* PDPT[3] covers 3..4 GiB */
        lea     pd_high(%rip), %rdi
        mov     $0xc0000000 + PAGE_PRESENT_WRITE_HUGE, %rdx
        mov     $512, %ecx
1:      mov     %rdx, (%rdi)
        add     $TWO_MIB, %rdx
        add     $8, %rdi
        loop    1b
        mov     %cr3, %rax                  /* flush the TLB */
        mov     %rax, %cr3
        ret

/* Writes the NUL-terminated string at %rdi to COM1. */
puts:
        mov     $COM1, %dx
1:      movb    (%rdi), %al
        test    %al, %al
        jz      2f
        out     %al, %dx
        inc     %rdi
        jmp     1b
2:      ret

/* Addresses above 2 GiB go through a register: a 32-bit absolute
   displacement would be sign-extended in long mode. */
signal_boot_complete:
        mov     $GUEST_SIGNAL, %eax
        movb    $BOOT_MAGIC, (%rax)
        ret

/* Powers off with exit status %edi; does not return. */
power_off:
        mov     $GUEST_SIGNAL, %eax
        mov     %edi, 4(%rax)
1:      jmp     1b

        .bss
        .balign 4096
pd_high:
        .skip   4096
        .text
