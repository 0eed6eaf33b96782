# The test guest of kvm_guest.rs: a 64 KiB firmware that goes from the reset vector to
# 64-bit long mode, then writes 0x20 to isa-debug-exit (QEMU exits with 65).
# Build: as --64 -o g.o kvm_guest.S && ld -e 0 -Ttext=0 --oformat binary -o g.bin g.o
    .set ROM_HIGH, 0xFFFF0000
    .set ROM_LOW,  0x000F0000
    .code16
    .org 0
start16:
    cli
    lgdtl %cs:gdt_desc
    mov %cr0, %eax
    or $1, %eax
    mov %eax, %cr0
    .byte 0x66, 0xea
    .long ROM_HIGH + pm32
    .word 0x08
    .code32
pm32:
    mov $0x18, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    # Continue in the low alias of the ROM: identity-mapped once paging is on.
    ljmp $0x08, $(ROM_LOW + low32)
low32:
    # The GDT too: only the low alias stays mapped.
    lgdt (ROM_LOW + gdt_desc_low)
    movl $0x2003, 0x1000
    movl $0x3003, 0x2000
    movl $0x83, 0x3000
    mov %cr4, %eax
    or $0x20, %eax
    mov %eax, %cr4
    mov $0x1000, %eax
    mov %eax, %cr3
    mov $0xC0000080, %ecx
    rdmsr
    or $0x100, %eax
    wrmsr
    mov %cr0, %eax
    or $0x80000000, %eax
    mov %eax, %cr0
    ljmp $0x10, $(ROM_LOW + lm64)
    .code64
lm64:
    mov $0x20, %al
    out %al, $0xf4
1:  hlt
    jmp 1b
    .align 8
gdt:
    .quad 0
    .quad 0x00CF9A000000FFFF
    .quad 0x00AF9A000000FFFF
    .quad 0x00CF92000000FFFF
gdt_end:
gdt_desc:
    .word gdt_end - gdt - 1
    .long ROM_HIGH + gdt
gdt_desc_low:
    .word gdt_end - gdt - 1
    .long ROM_LOW + gdt
    .code16
    .org 0xFFF0, 0xF4
reset:
    jmp start16
    .org 0x10000, 0xF4
