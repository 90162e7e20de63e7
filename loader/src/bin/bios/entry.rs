//! The Multiboot headers and the 32-bit entry stub.
//!
//! A Multiboot loader enters `bios_entry32` in 32-bit protected mode, paging off, interrupts
//! off, A20 enabled, EAX = the magic value and EBX = the physical address of the boot
//! information (Multiboot 0.6.96, 3.2 "Machine state"; Multiboot2 2.0, 3.3 "I386 machine
//! state"); no stack and no GDT of ours. The stub loads the protocol's GDT layout (see
//! `loader::boot::GDT`), identity-maps the low 4 GiB with 2 MiB pages, enables PAE and long
//! mode, and calls `bios_main(magic, info)` in 64-bit mode on a 64 KiB stack in .bss.
//!
//! Both headers use load addresses (Multiboot 1 flag bit 16, the "a.out kludge"; Multiboot 2
//! address and entry-address tags), so the image is a flat binary: QEMU refuses ELF64 images.

core::arch::global_asm!(
    r#"
    .section .multiboot, "a"
    .balign 8
mb1_header:
    .long 0x1badb002
    .long 0x00010003
    .long 0x100000000 - (0x1badb002 + 0x00010003)
    .long mb1_header
    .long __image_start
    .long __load_end
    .long __bss_end
    .long bios_entry32

    .balign 8
mb2_header:
    .long 0xe85250d6
    .long 0
    .long mb2_header_end - mb2_header
    .long 0x100000000 - (0xe85250d6 + (mb2_header_end - mb2_header))
    /* Address tag: where the flat image goes. */
    .balign 8
    .short 2, 0
    .long 24
    .long mb2_header
    .long __image_start
    .long __load_end
    .long __bss_end
    /* Entry address tag. */
    .balign 8
    .short 3, 0
    .long 12
    .long bios_entry32
    /* Modules page aligned. */
    .balign 8
    .short 6, 0
    .long 8
    /* End tag. */
    .balign 8
    .short 0, 0
    .long 8
mb2_header_end:

    .section .rodata.bios_gdt, "a"
    .balign 16
bios_gdt:
    .quad 0
    .quad 0x00009a000000ffff
    .quad 0x000092000000ffff
    .quad 0x00cf9a000000ffff
    .quad 0x00cf92000000ffff
    .quad 0x00af9a000000ffff
    .quad 0x00cf92000000ffff
bios_gdt_end:
    .balign 8
bios_gdtr:
    .short bios_gdt_end - bios_gdt - 1
    .long bios_gdt
    .long 0

    .section .bss.bios_entry, "aw", @nobits
    .balign 4096
bios_pml4:
    .skip 4096
bios_pdpt:
    .skip 4096
bios_pd:
    .skip 4 * 4096
bios_stack:
    .skip 65536
bios_stack_top:

    .section .text.entry32, "ax"
    .code32
    .global bios_entry32
bios_entry32:
    cli
    cld
    movl %eax, %edi
    movl %ebx, %esi
    movl $bios_stack_top, %esp
    lgdt bios_gdtr
    ljmp $0x18, $1f
1:
    movl $0x20, %eax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    movw %ax, %fs
    movw %ax, %gs

    /* Long mode available? (CPUID 0x80000001, EDX bit 29) */
    movl $0x80000000, %eax
    cpuid
    cmpl $0x80000001, %eax
    jb 9f
    movl $0x80000001, %eax
    cpuid
    btl $29, %edx
    jnc 9f

    /* Zero the tables (Multiboot zeroes .bss; do not rely on it). */
    movl $bios_pml4, %ebx
    xorl %eax, %eax
    movl $(6 * 4096 / 4), %ecx
    pushl %edi
    movl %ebx, %edi
    rep stosl
    popl %edi

    /* PML4[0] -> PDPT; PDPT[0..4] -> the four PDs; PD entries: 2 MiB pages, RW, present. */
    movl $bios_pdpt, %eax
    orl $3, %eax
    movl %eax, bios_pml4
    xorl %ecx, %ecx
2:
    movl %ecx, %eax
    shll $12, %eax
    addl $bios_pd, %eax
    orl $3, %eax
    movl %eax, bios_pdpt(,%ecx,8)
    incl %ecx
    cmpl $4, %ecx
    jne 2b
    xorl %ecx, %ecx
3:
    movl %ecx, %eax
    shll $21, %eax
    orl $0x83, %eax
    movl %eax, bios_pd(,%ecx,8)
    incl %ecx
    cmpl $2048, %ecx
    jne 3b

    movl $bios_pml4, %eax
    movl %eax, %cr3
    movl %cr4, %eax
    orl $0x20, %eax
    movl %eax, %cr4
    movl $0xc0000080, %ecx
    rdmsr
    orl $0x100, %eax
    wrmsr
    movl %cr0, %eax
    orl $0x80000001, %eax
    movl %eax, %cr0
    ljmp $0x28, $4f

9:
    /* No long mode: say so on the text screen and stop. */
    movl $0xb8000, %ebx
    movl $0x4f4e4f21, (%ebx)
    movl $0x4f204f4f, 4(%ebx)
    movl $0x4f344f36, 8(%ebx)
    10:
    hlt
    jmp 10b

    .code64
4:
    movl $0x30, %eax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    xorl %eax, %eax
    movw %ax, %fs
    movw %ax, %gs
    /* The upper halves of the GPRs are undefined after the switch: zero-extend. */
    movl %edi, %edi
    movl %esi, %esi
    movabsq $bios_stack_top, %rsp
    xorl %ebp, %ebp
    call bios_main
5:
    cli
    hlt
    jmp 5b
"#,
    options(att_syntax)
);
