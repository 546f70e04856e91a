//! Instruction semantics of the interpreter, one test per instruction class.
//!
//! Programs are built from raw slots with the opcode constants, so each test also goes
//! through the decoder. Every expected value is derived by hand from RFC 9669; the
//! derivation is written next to it.

use bpfkit_isa::opcode::*;
use bpfkit_isa::{decode_program, RawInsn};
use bpfkit_vm::{Access, Fault, Helpers, Interpreter, PrepareErrorKind, VmError};

/// One slot: opcode, dst, src, off, imm.
fn i(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> RawInsn {
    RawInsn {
        code,
        dst,
        src,
        off,
        imm,
    }
}

/// `dst = value ll`: both slots of an lddw.
fn lddw(dst: u8, value: u64) -> [RawInsn; 2] {
    [
        i(LDDW, dst, 0, 0, value as u32 as i32),
        i(0, 0, 0, 0, (value >> 32) as u32 as i32),
    ]
}

fn exit() -> RawInsn {
    i(JMP | EXIT, 0, 0, 0, 0)
}

fn bytes(slots: &[RawInsn]) -> Vec<u8> {
    slots.iter().flat_map(|s| s.to_bytes()).collect()
}

fn run_with(slots: &[RawInsn], mem: &mut [u8], helpers: &Helpers) -> Result<u64, VmError> {
    let insns = decode_program(&bytes(slots)).expect("test program decodes");
    let mut vm = Interpreter::new(&insns, helpers).expect("test program prepares");
    vm.set_budget(100_000);
    vm.run_mem(mem).map(|o| o.r0)
}

fn run_mem(slots: &[RawInsn], mem: &mut [u8]) -> Result<u64, VmError> {
    run_with(slots, mem, &Helpers::new())
}

/// r0 after running `slots` with an empty input.
fn r0(slots: &[RawInsn]) -> u64 {
    run_mem(slots, &mut []).expect("program runs")
}

/// `r0 = a; r1 = b; r0 <op>= r1; exit` in the given class (ALU or ALU64), with `off` for
/// the signed variants.
fn binop(class: u8, op: u8, off: i16, a: u64, b: u64) -> u64 {
    let mut p = Vec::new();
    p.extend(lddw(0, a));
    p.extend(lddw(1, b));
    p.push(i(class | op | X, 0, 1, off, 0));
    p.push(exit());
    r0(&p)
}

/// Same with the immediate form `r0 <op>= imm`.
fn binop_k(class: u8, op: u8, off: i16, a: u64, imm: i32) -> u64 {
    let mut p = Vec::new();
    p.extend(lddw(0, a));
    p.push(i(class | op | K, 0, 0, off, imm));
    p.push(exit());
    r0(&p)
}

#[test]
fn alu64_arithmetic_wraps() {
    // u64::MAX + 1 wraps to 0.
    assert_eq!(binop(ALU64, ADD, 0, u64::MAX, 1), 0);
    // 0 - 1 = 2^64 - 1.
    assert_eq!(binop(ALU64, SUB, 0, 0, 1), u64::MAX);
    // 2^32 * 2^32 = 2^64 = 0 mod 2^64.
    assert_eq!(binop(ALU64, MUL, 0, 1 << 32, 1 << 32), 0);
    // The immediate is sign-extended to 64 bits: 5 + (-1) = 4, not 5 + 0xffffffff.
    assert_eq!(binop_k(ALU64, ADD, 0, 5, -1), 4);
    // Bitwise: 0b1100 op 0b1010.
    assert_eq!(binop(ALU64, OR, 0, 0b1100, 0b1010), 0b1110);
    assert_eq!(binop(ALU64, AND, 0, 0b1100, 0b1010), 0b1000);
    assert_eq!(binop(ALU64, XOR, 0, 0b1100, 0b1010), 0b0110);
    // mov of imm -1 sign-extends: all ones.
    assert_eq!(binop_k(ALU64, MOV, 0, 0, -1), u64::MAX);
}

#[test]
fn alu32_results_are_zero_extended() {
    // Low halves: 0xffffffff + 1 = 0 (32-bit wrap); upper half of dst cleared.
    assert_eq!(binop(ALU, ADD, 0, u64::MAX, 1), 0);
    // 0x1_0000_0002 -> w0 = w0 keeps only the low 32 bits: 2.
    assert_eq!(
        r0(&[
            lddw(0, 0x1_0000_0002)[0],
            lddw(0, 0x1_0000_0002)[1],
            i(ALU | MOV | X, 0, 0, 0, 0),
            exit()
        ]),
        2
    );
    // 32-bit mov of imm -1 gives 0x00000000_ffffffff (no sign extension to 64).
    assert_eq!(binop_k(ALU, MOV, 0, 7, -1), 0xffff_ffff);
    // 0x8000_0000 * 2 = 2^32 -> 0 in 32 bits.
    assert_eq!(binop_k(ALU, MUL, 0, 0x8000_0000, 2), 0);
    // The 32-bit sub result 0 - 1 = 0xffffffff, zero-extended.
    assert_eq!(binop_k(ALU, SUB, 0, 0xdead_0000_0000_0000, 1), 0xffff_ffff);
}

#[test]
fn division_and_modulo_by_zero() {
    // RFC 9669: division by zero sets dst to 0.
    assert_eq!(binop(ALU64, DIV, 0, 7, 0), 0);
    assert_eq!(binop_k(ALU64, DIV, 0, 7, 0), 0);
    assert_eq!(binop(ALU64, DIV, 1, 7, 0), 0); // sdiv
                                               // 32-bit: the divisor is the low 32 bits, 0x1_0000_0000 -> 0.
    assert_eq!(binop(ALU, DIV, 0, 7, 1 << 32), 0);
    // Modulo by zero leaves dst unchanged for ALU64 ...
    assert_eq!(binop(ALU64, MOD, 0, 7, 0), 7);
    assert_eq!(binop(ALU64, MOD, 1, u64::MAX - 1, 0), u64::MAX - 1); // smod
                                                                     // ... and for ALU zeroes the upper 32 bits of dst.
    assert_eq!(binop(ALU, MOD, 0, 0xffff_ffff_0000_0007, 0), 7);
    assert_eq!(binop_k(ALU, MOD, 1, 0xffff_ffff_0000_0007, 0), 7);
}

#[test]
fn unsigned_and_signed_division() {
    // Unsigned: (2^64 - 2) / 2 = 2^63 - 1.
    assert_eq!(binop_k(ALU64, DIV, 0, u64::MAX - 1, 2), (1 << 63) - 1);
    // The 64-bit DIV immediate is sign-extended then used unsigned: x / 0xffff...ffff = 0
    // for x < 2^64 - 1.
    assert_eq!(binop_k(ALU64, DIV, 0, 100, -1), 0);
    // Signed: -7 / 2 = -3 (truncation toward zero), -7 % 2 = -1 (sign of the dividend).
    assert_eq!(binop_k(ALU64, DIV, 1, -7i64 as u64, 2), -3i64 as u64);
    assert_eq!(binop_k(ALU64, MOD, 1, -7i64 as u64, 2), -1i64 as u64);
    // 7 s% -3 = 1.
    assert_eq!(binop_k(ALU64, MOD, 1, 7, -3), 1);
    // INT_MIN / -1 overflows: the result is INT_MIN; INT_MIN % -1 = 0.
    assert_eq!(binop_k(ALU64, DIV, 1, i64::MIN as u64, -1), i64::MIN as u64);
    assert_eq!(binop_k(ALU64, MOD, 1, i64::MIN as u64, -1), 0);
    assert_eq!(binop_k(ALU, DIV, 1, 0x8000_0000, -1), 0x8000_0000);
    assert_eq!(binop_k(ALU, MOD, 1, 0x8000_0000, -1), 0);
    // 32-bit signed: w(-8) s/ 3 = -2 -> 0xfffffffe zero-extended.
    assert_eq!(binop_k(ALU, DIV, 1, 0xffff_fff8, 3), 0xffff_fffe);
    // 32-bit unsigned: 0xffff_fff8 / 3 = 0x5555_5552 (4294967288 / 3 = 1431655762).
    assert_eq!(binop_k(ALU, DIV, 0, 0xffff_fff8, 3), 1_431_655_762);
}

#[test]
fn shift_amounts_are_masked() {
    // 64-bit shifts use the amount mod 64: 1 << 65 = 1 << 1.
    assert_eq!(binop(ALU64, LSH, 0, 1, 65), 2);
    assert_eq!(
        binop_k(ALU64, RSH, 0, 0x8000_0000_0000_0000, 64),
        0x8000_0000_0000_0000
    );
    // 32-bit shifts use it mod 32: 1 << 33 = 1 << 1.
    assert_eq!(binop(ALU, LSH, 0, 1, 33), 2);
    // Logical right shift fills with zeros, arithmetic with the sign bit.
    assert_eq!(
        binop_k(ALU64, RSH, 0, -16i64 as u64, 2),
        (-16i64 as u64) >> 2
    );
    assert_eq!(binop_k(ALU64, ARSH, 0, -16i64 as u64, 2), -4i64 as u64);
    // 32-bit arsh on bit 31: 0x80000000 s>> 31 = 0xffffffff, upper half zero.
    assert_eq!(binop_k(ALU, ARSH, 0, 0x8000_0000, 31), 0xffff_ffff);
    // Shifts by a register: amount 0x100 & 63 = 0 leaves the value.
    assert_eq!(binop(ALU64, LSH, 0, 5, 0x100), 5);
}

#[test]
fn neg_and_sign_extending_moves() {
    // -5 in two's complement.
    assert_eq!(
        r0(&[
            i(ALU64 | MOV | K, 0, 0, 0, 5),
            i(ALU64 | NEG, 0, 0, 0, 0),
            exit()
        ]),
        -5i64 as u64
    );
    // 32-bit neg: 0xfffffffb, zero-extended.
    assert_eq!(
        r0(&[
            i(ALU64 | MOV | K, 0, 0, 0, 5),
            i(ALU | NEG, 0, 0, 0, 0),
            exit()
        ]),
        0xffff_fffb
    );
    let movsx = |class: u8, bits: i16, v: u64| {
        let mut p = lddw(1, v).to_vec();
        p.push(i(class | MOV | X, 0, 1, bits, 0));
        p.push(exit());
        r0(&p)
    };
    // (s8)0x80 = -128.
    assert_eq!(movsx(ALU64, 8, 0x1234_5680), -128i64 as u64);
    // (s16)0x7fff stays positive.
    assert_eq!(movsx(ALU64, 16, 0xffff_7fff), 0x7fff);
    // (s32)0x8000_0000 = -2^31.
    assert_eq!(movsx(ALU64, 32, 0x8000_0000), 0xffff_ffff_8000_0000);
    // w0 = (s16)w1: sign-extended to 32 bits, then zero-extended: 0x0000_0000_ffff_8000.
    assert_eq!(movsx(ALU, 16, 0x8000), 0xffff_8000);
}

#[test]
fn byte_swaps() {
    let v = 0x0102_0304_0506_0708u64;
    let swap = |code: u8, bits: i32| {
        let mut p = lddw(0, v).to_vec();
        p.push(i(code, 0, 0, 0, bits));
        p.push(exit());
        r0(&p)
    };
    // On this little-endian machine, le<N> truncates to N bits ...
    assert_eq!(swap(ALU | END | TO_LE, 16), 0x0708);
    assert_eq!(swap(ALU | END | TO_LE, 32), 0x0506_0708);
    assert_eq!(swap(ALU | END | TO_LE, 64), v);
    // ... and be<N> reverses the low N bits' bytes, zero-extending.
    assert_eq!(swap(ALU | END | TO_BE, 16), 0x0807);
    assert_eq!(swap(ALU | END | TO_BE, 32), 0x0807_0605);
    assert_eq!(swap(ALU | END | TO_BE, 64), 0x0807_0605_0403_0201);
    // bswap<N> (ALU64) swaps unconditionally.
    assert_eq!(swap(ALU64 | END, 16), 0x0807);
    assert_eq!(swap(ALU64 | END, 32), 0x0807_0605);
    assert_eq!(swap(ALU64 | END, 64), 0x0807_0605_0403_0201);
}

/// `r0 = 0; r1 = a; if r1 <cond> b goto +1; exit; r0 = 1; exit` -> 1 when taken.
fn taken(class: u8, op: u8, a: u64, b: u64) -> bool {
    let mut p = vec![i(ALU64 | MOV | K, 0, 0, 0, 0)];
    p.extend(lddw(1, a));
    p.extend(lddw(2, b));
    p.push(i(class | op | X, 1, 2, 1, 0));
    p.push(exit());
    p.push(i(ALU64 | MOV | K, 0, 0, 0, 1));
    p.push(exit());
    r0(&p) == 1
}

#[test]
fn conditional_jumps() {
    let m1 = u64::MAX; // -1
                       // Unsigned vs signed views of -1 against 1.
    assert!(taken(JMP, JGT, m1, 1));
    assert!(!taken(JMP, JSGT, m1, 1));
    assert!(taken(JMP, JSLT, m1, 1));
    assert!(!taken(JMP, JLT, m1, 1));
    assert!(taken(JMP, JGE, 3, 3) && taken(JMP, JLE, 3, 3));
    assert!(taken(JMP, JSGE, m1, m1) && taken(JMP, JSLE, m1, m1));
    assert!(taken(JMP, JEQ, 9, 9) && !taken(JMP, JNE, 9, 9));
    // jset: 0b0110 & 0b0100 != 0, 0b0110 & 0b1001 == 0.
    assert!(taken(JMP, JSET, 0b0110, 0b0100));
    assert!(!taken(JMP, JSET, 0b0110, 0b1001));
    // JMP32 compares the low 32 bits only: 0x1_0000_0000 == 0 in 32 bits.
    assert!(taken(JMP32, JEQ, 1 << 32, 0));
    assert!(!taken(JMP, JEQ, 1 << 32, 0));
    // Signed 32-bit: 0x8000_0000 is negative in 32 bits, positive in 64.
    assert!(taken(JMP32, JSLT, 0x8000_0000, 0));
    assert!(!taken(JMP, JSLT, 0x8000_0000, 0));
    // The JMP immediate is sign-extended: -1 (u64::MAX) == imm -1.
    let p = [
        i(ALU64 | MOV | K, 0, 0, 0, 0),
        i(ALU64 | MOV | K, 1, 0, 0, -1),
        i(JMP | JEQ | K, 1, 0, 1, -1),
        exit(),
        i(ALU64 | MOV | K, 0, 0, 0, 1),
        exit(),
    ];
    assert_eq!(r0(&p), 1);
}

#[test]
fn unconditional_jumps_and_gotol() {
    // ja +1 skips `r0 = 1`; gotol +1 skips `r0 = 2`.
    let p = [
        i(ALU64 | MOV | K, 0, 0, 0, 0),
        i(JMP | JA, 0, 0, 1, 0),
        i(ALU64 | MOV | K, 0, 0, 0, 1),
        i(JMP32 | JA, 0, 0, 0, 1),
        i(ALU64 | MOV | K, 0, 0, 0, 2),
        i(ALU64 | ADD | K, 0, 0, 0, 40),
        exit(),
    ];
    assert_eq!(r0(&p), 40);
}

#[test]
fn lddw_loads_all_64_bits() {
    let mut p = lddw(0, 0x8765_4321_dead_beef).to_vec();
    p.push(exit());
    assert_eq!(r0(&p), 0x8765_4321_dead_beef);
}

#[test]
fn loads_and_stores_of_every_size() {
    let mut mem = [
        0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    let ld = |code: u8, off: i16, mem: &mut [u8]| {
        run_mem(&[i(code, 0, 1, off, 0), exit()], mem).unwrap()
    };
    // Little-endian loads from the input (r1).
    assert_eq!(ld(LDX | MEM | B, 1, &mut mem), 0x81);
    assert_eq!(ld(LDX | MEM | H, 1, &mut mem), 0x8281);
    assert_eq!(ld(LDX | MEM | W, 0, &mut mem), 0x8382_8180);
    assert_eq!(ld(LDX | MEM | DW, 0, &mut mem), 0x8786_8584_8382_8180);
    // Sign-extending loads: 0x81 = -127, 0x8281 as i16, 0x83828180 as i32.
    assert_eq!(ld(LDX | MEMSX | B, 1, &mut mem), -127i64 as u64);
    assert_eq!(
        ld(LDX | MEMSX | H, 1, &mut mem),
        0x8281u16 as i16 as i64 as u64
    );
    assert_eq!(
        ld(LDX | MEMSX | W, 0, &mut mem),
        0x8382_8180u32 as i32 as i64 as u64
    );
    // Stores of an immediate: the DW store sign-extends imm -2.
    run_mem(
        &[
            i(ST | MEM | DW, 1, 0, 8, -2),
            i(ST | MEM | B, 1, 0, 0, 0x1ff),
            exit(),
        ],
        &mut mem,
    )
    .unwrap();
    assert_eq!(&mem[8..16], &(-2i64).to_le_bytes());
    assert_eq!(mem[0], 0xff); // only the low byte of 0x1ff
                              // Register stores of each size, through the stack and back.
    let p = [
        lddw(2, 0x1122_3344_5566_7788)[0],
        lddw(2, 0x1122_3344_5566_7788)[1],
        i(ST | MEM | DW, 10, 0, -8, 0),
        i(STX | MEM | H, 10, 2, -8, 0),
        i(STX | MEM | B, 10, 2, -5, 0),
        i(LDX | MEM | DW, 0, 10, -8, 0),
        exit(),
    ];
    // bytes at -8..-1: 88 77 00 88 00 00 00 00 -> 0x0000_0000_8800_7788.
    assert_eq!(r0(&p), 0x8800_7788);
    // A stack pointer passed in a register is checked, not assumed: r1 = r10 - 16.
    let p = [
        i(ALU64 | MOV | X, 1, 10, 0, 0),
        i(ALU64 | ADD | K, 1, 0, 0, -16),
        i(ST | MEM | W, 1, 0, 4, 77),
        i(LDX | MEM | W, 0, 10, -12, 0),
        exit(),
    ];
    assert_eq!(r0(&p), 77);
}

/// `*(u64 *)(r10 - 8) = init; r1 = r10 - 8; r2 = operand; [r0 = expected]; atomic; ...`
fn atomic(code: u8, imm: i32, init: u64, operand: u64, r0_in: u64) -> (u64, u64, u64) {
    let mut p = Vec::new();
    p.extend(lddw(3, init));
    p.push(i(STX | MEM | DW, 10, 3, -8, 0));
    p.push(i(ALU64 | MOV | X, 1, 10, 0, 0));
    p.push(i(ALU64 | ADD | K, 1, 0, 0, -8));
    p.extend(lddw(2, operand));
    p.extend(lddw(0, r0_in));
    p.push(i(code, 1, 2, 0, imm));
    // Return r0, r2 and the memory word packed by the caller's probes below.
    let probe = |which: u8| {
        let mut q = p.clone();
        match which {
            0 => {}
            1 => q.push(i(ALU64 | MOV | X, 0, 2, 0, 0)),
            _ => q.push(i(LDX | MEM | DW, 0, 10, -8, 0)),
        }
        q.push(exit());
        r0(&q)
    };
    (probe(0), probe(1), probe(2))
}

#[test]
fn atomics_return_old_values() {
    let dw = STX | ATOMIC | DW;
    let w = STX | ATOMIC | W;
    // add without fetch: memory 10 + 5 = 15, src unchanged.
    assert_eq!(atomic(dw, ATOMIC_ADD, 10, 5, 0), (0, 5, 15));
    // fetch_add: src gets the old value 10.
    assert_eq!(atomic(dw, ATOMIC_ADD | FETCH, 10, 5, 0), (0, 10, 15));
    // fetch_or / fetch_and / fetch_xor on 0b1100 with 0b1010.
    assert_eq!(
        atomic(dw, ATOMIC_OR | FETCH, 0b1100, 0b1010, 0),
        (0, 0b1100, 0b1110)
    );
    assert_eq!(
        atomic(dw, ATOMIC_AND | FETCH, 0b1100, 0b1010, 0),
        (0, 0b1100, 0b1000)
    );
    assert_eq!(
        atomic(dw, ATOMIC_XOR | FETCH, 0b1100, 0b1010, 0),
        (0, 0b1100, 0b0110)
    );
    assert_eq!(
        atomic(dw, ATOMIC_XOR, 0b1100, 0b1010, 0),
        (0, 0b1010, 0b0110)
    );
    // xchg: memory gets src, src gets the old value.
    assert_eq!(atomic(dw, ATOMIC_XCHG, 1, 2, 0), (0, 1, 2));
    // cmpxchg: r0 == memory -> store src; r0 gets the old value either way.
    assert_eq!(atomic(dw, ATOMIC_CMPXCHG, 7, 9, 7), (7, 9, 9));
    assert_eq!(atomic(dw, ATOMIC_CMPXCHG, 7, 9, 8), (7, 9, 7));
    // 32-bit: operates on the low word; fetched values are zero-extended.
    // Memory 0x1_ffff_ffff: low word 0xffffffff + 1 = 0 (no carry into the high word).
    assert_eq!(
        atomic(w, ATOMIC_ADD | FETCH, 0x1_ffff_ffff, 1, 0),
        (0, 0xffff_ffff, 0x1_0000_0000)
    );
    // cmpxchg32 compares w0 only: r0 = 0xdead_0000_0000_0007 matches word 7.
    assert_eq!(
        atomic(w, ATOMIC_CMPXCHG, 7, 9, 0xdead_0000_0000_0007),
        (7, 9, 9)
    );
    assert_eq!(
        atomic(w, ATOMIC_XCHG, 0x5_0000_0003, 4, 0),
        (0, 3, 0x5_0000_0004)
    );
}

#[test]
fn misaligned_atomic_faults() {
    let p = [
        i(ALU64 | MOV | X, 1, 10, 0, 0),
        i(ALU64 | ADD | K, 1, 0, 0, -15),
        i(STX | ATOMIC | DW, 1, 2, 0, ATOMIC_ADD),
        exit(),
    ];
    let err = run_mem(&p, &mut []).unwrap_err();
    assert_eq!(err.pc, 2);
    assert!(
        matches!(err.fault, Fault::Misaligned { size: 8, .. }),
        "{err}"
    );
}

#[test]
fn out_of_bounds_accesses_fault_with_the_instruction_index() {
    let mut mem = [0u8; 4];
    // Reading 4 bytes at offset 1 of a 4-byte input runs past its end.
    let err = run_mem(
        &[
            i(ALU64 | MOV | K, 0, 0, 0, 0),
            i(LDX | MEM | W, 0, 1, 1, 0),
            exit(),
        ],
        &mut mem,
    )
    .unwrap_err();
    assert_eq!(err.pc, 1);
    assert!(matches!(
        err.fault,
        Fault::OutOfBounds {
            size: 4,
            access: Access::Read,
            ..
        }
    ));
    // Above the top of the stack.
    let err = run_mem(&[i(ST | MEM | B, 10, 0, 0, 1), exit()], &mut mem).unwrap_err();
    assert!(matches!(
        err.fault,
        Fault::OutOfBounds {
            access: Access::Write,
            ..
        }
    ));
    // addr + size overflows u64: must not wrap around into a region.
    let mut p = lddw(1, u64::MAX - 2).to_vec();
    p.push(i(LDX | MEM | DW, 0, 1, 0, 0));
    p.push(exit());
    let err = run_mem(&p, &mut mem).unwrap_err();
    assert_eq!(err.pc, 2);
    // A null pointer.
    let err = run_mem(
        &[
            i(ALU64 | MOV | K, 1, 0, 0, 0),
            i(LDX | MEM | B, 0, 1, 0, 0),
            exit(),
        ],
        &mut mem,
    )
    .unwrap_err();
    assert_eq!(
        err.fault,
        Fault::OutOfBounds {
            addr: 0,
            size: 1,
            access: Access::Read
        }
    );
}

#[test]
fn runaway_loops_exhaust_the_budget() {
    let err = run_mem(&[i(JMP | JA, 0, 0, -1, 0), exit()], &mut []).unwrap_err();
    assert_eq!(err.fault, Fault::BudgetExhausted(100_000));
}

#[test]
fn falling_off_the_end_faults() {
    let err = run_mem(&[i(ALU64 | MOV | K, 0, 0, 0, 1)], &mut []).unwrap_err();
    assert_eq!(
        err,
        VmError {
            pc: 1,
            fault: Fault::FellOffEnd
        }
    );
}

#[test]
fn writes_to_r10_are_rejected_before_running() {
    let insns = decode_program(&bytes(&[i(ALU64 | ADD | K, 10, 0, 0, 8), exit()])).unwrap();
    let err = Interpreter::new(&insns, &Helpers::new())
        .err()
        .expect("rejected");
    assert_eq!(err.pc, 0);
    assert_eq!(err.kind, PrepareErrorKind::WritesFramePointer);
}

#[test]
fn local_calls_have_own_frames_and_preserve_r6_to_r9() {
    // main: r6 = 100; *(r10-8) = 1; r1 = 5; call f; r0 += r6; r0 += *(r10-8); exit
    // f:    r6 = 0; *(r10-8) = 50; r0 = r1 * 2; exit
    // f's r6 and r10-8 are its own: 10 + 100 + 1 = 111.
    let p = [
        i(ALU64 | MOV | K, 6, 0, 0, 100),
        i(ST | MEM | DW, 10, 0, -8, 1),
        i(ALU64 | MOV | K, 1, 0, 0, 5),
        i(JMP | CALL, 0, PSEUDO_CALL, 0, 4),
        i(ALU64 | ADD | X, 0, 6, 0, 0),
        i(LDX | MEM | DW, 1, 10, -8, 0),
        i(ALU64 | ADD | X, 0, 1, 0, 0),
        exit(),
        i(ALU64 | MOV | K, 6, 0, 0, 0),
        i(ST | MEM | DW, 10, 0, -8, 50),
        i(ALU64 | MOV | X, 0, 1, 0, 0),
        i(ALU64 | MUL | K, 0, 0, 0, 2),
        exit(),
    ];
    assert_eq!(r0(&p), 111);
}

#[test]
fn call_depth_is_limited_to_eight_frames() {
    // f calls itself forever: the 8th nested frame is refused.
    let p = [
        i(JMP | CALL, 0, PSEUDO_CALL, 0, 1),
        exit(),
        i(JMP | CALL, 0, PSEUDO_CALL, 0, -1),
        exit(),
    ];
    let err = run_mem(&p, &mut []).unwrap_err();
    assert_eq!(
        err,
        VmError {
            pc: 2,
            fault: Fault::CallDepth(8)
        }
    );
}

#[test]
fn callx_calls_a_function_address() {
    // r1 = &f (lddw BPF_PSEUDO_FUNC, imm relative to the next slot); callx r1; exit
    // f: r0 = 42; exit
    let p = [
        i(LDDW, 1, PSEUDO_FUNC, 0, 3),
        i(0, 0, 0, 0, 0),
        i(JMP | CALL | X, 1, 0, 0, 0),
        exit(),
        i(ALU64 | MOV | K, 0, 0, 0, 42),
        exit(),
    ];
    assert_eq!(r0(&p), 42);
    // A data value is not a function.
    let p = [
        i(ALU64 | MOV | K, 1, 0, 0, 4),
        i(JMP | CALL | X, 1, 0, 0, 0),
        exit(),
    ];
    let err = run_mem(&p, &mut []).unwrap_err();
    assert_eq!(
        err,
        VmError {
            pc: 1,
            fault: Fault::BadCallTarget(4)
        }
    );
}

#[test]
fn helpers_are_called_by_number() {
    let mut helpers = Helpers::new();
    // A helper summing its five arguments, and one reading a byte through a pointer.
    helpers.register(1000, "sum5", |_, a| Ok(a.iter().sum()));
    helpers.register(1001, "peek", |ctx, a| {
        Ok(ctx.memory.slice(a[0], 1)?[0] as u64)
    });
    let p = [
        i(ALU64 | MOV | K, 1, 0, 0, 1),
        i(ALU64 | MOV | K, 2, 0, 0, 2),
        i(ALU64 | MOV | K, 3, 0, 0, 3),
        i(ALU64 | MOV | K, 4, 0, 0, 4),
        i(ALU64 | MOV | K, 5, 0, 0, 5),
        i(JMP | CALL, 0, 0, 0, 1000),
        exit(),
    ];
    assert_eq!(run_with(&p, &mut [], &helpers).unwrap(), 15);
    let mut mem = [0x5a];
    let p = [i(JMP | CALL, 0, 0, 0, 1001), exit()];
    assert_eq!(run_with(&p, &mut mem, &helpers).unwrap(), 0x5a);
    // A pointer outside the program's memory is the helper's fault, reported at the call.
    let p = [
        i(ALU64 | MOV | K, 1, 0, 0, 16),
        i(JMP | CALL, 0, 0, 0, 1001),
        exit(),
    ];
    let err = run_with(&p, &mut mem, &helpers).unwrap_err();
    assert_eq!(err.pc, 1);
    // An unknown helper is refused before running.
    let insns = decode_program(&bytes(&[i(JMP | CALL, 0, 0, 0, 9999), exit()])).unwrap();
    let err = Interpreter::new(&insns, &helpers).err().expect("rejected");
    assert_eq!(err.kind, PrepareErrorKind::UnknownHelper(9999));
}

#[test]
fn legacy_packet_loads_are_big_endian_and_end_the_program_when_out_of_range() {
    let mut pkt = [0x12, 0x34, 0x56, 0x78, 0x9a];
    // ldabsh 1 -> bytes 0x34 0x56 in network order.
    let p = [i(LD | ABS | H, 0, 0, 0, 1), exit()];
    assert_eq!(run_mem(&p, &mut pkt).unwrap(), 0x3456);
    // ldindw r3 + 1 with r3 = 0 -> 0x3456789a.
    let p = [
        i(ALU64 | MOV | K, 3, 0, 0, 0),
        i(LD | IND | W, 0, 3, 0, 1),
        exit(),
    ];
    assert_eq!(run_mem(&p, &mut pkt).unwrap(), 0x3456_789a);
    // Out of range (offset 2 + 4 > 5): the program ends with r0 = 0, not a fault.
    let p = [
        i(ALU64 | MOV | K, 0, 0, 0, 9),
        i(LD | ABS | W, 0, 0, 0, 2),
        i(ALU64 | MOV | K, 0, 0, 0, 7),
        exit(),
    ];
    assert_eq!(run_mem(&p, &mut pkt).unwrap(), 0);
    // Negative offset via the index register.
    let p = [
        i(ALU64 | MOV | K, 3, 0, 0, -4),
        i(LD | IND | B, 0, 3, 0, 1),
        exit(),
    ];
    assert_eq!(run_mem(&p, &mut pkt).unwrap(), 0);
}

#[test]
fn counts_executed_instructions() {
    // r0 = 3; loop: r0 -= 1; if r0 != 0 goto loop; exit -> 1 + 3 * 2 + 1 = 8, lddw counting once.
    let mut p = lddw(0, 3).to_vec();
    p.push(i(ALU64 | SUB | K, 0, 0, 0, 1));
    p.push(i(JMP | JNE | K, 0, 0, -2, 0));
    p.push(exit());
    let insns = decode_program(&bytes(&p)).unwrap();
    let mut vm = Interpreter::new(&insns, &Helpers::new()).unwrap();
    assert_eq!(vm.run_mem(&mut []).unwrap().insns, 8);
}

#[test]
fn sequences_run_as_one_keep_their_meaning() {
    let v = 0xffff_ffff_1234_5678u64;
    // r1 = r2; r1 <<= 32; r1 >>= 32 zero-extends r2's low word into r1: 0x1234_5678.
    let mut p = lddw(2, v).to_vec();
    p.extend([
        i(ALU64 | MOV | X, 1, 2, 0, 0),
        i(ALU64 | LSH | K, 1, 0, 0, 32),
        i(ALU64 | RSH | K, 1, 0, 0, 32),
        i(ALU64 | MOV | X, 0, 1, 0, 0),
        exit(),
    ]);
    assert_eq!(r0(&p), 0x1234_5678);
    // A branch into the middle of that sequence runs only its tail: r1 = 7 is shifted in
    // place, r2 is never copied. r9 = 0 so the branch is taken: 7 << 32 >> 32 = 7.
    let mut p = lddw(2, v).to_vec();
    p.extend([
        i(ALU64 | MOV | K, 1, 0, 0, 7),
        i(ALU64 | MOV | K, 9, 0, 0, 0),
        i(JMP | JEQ | K, 9, 0, 1, 0),
        i(ALU64 | MOV | X, 1, 2, 0, 0),
        i(ALU64 | LSH | K, 1, 0, 0, 32),
        i(ALU64 | RSH | K, 1, 0, 0, 32),
        i(ALU64 | MOV | X, 0, 1, 0, 0),
        exit(),
    ]);
    assert_eq!(r0(&p), 7);
    // r1 = r2; r1 += r1 reads the new r1, which is r2: 2 * 21 = 42; r1 = r2; r1 += 5.
    let p = [
        i(ALU64 | MOV | K, 2, 0, 0, 21),
        i(ALU64 | MOV | X, 1, 2, 0, 0),
        i(ALU64 | ADD | X, 1, 1, 0, 0),
        i(ALU64 | MOV | X, 0, 2, 0, 0),
        i(ALU64 | ADD | K, 0, 0, 0, 5),
        i(ALU64 | ADD | X, 0, 1, 0, 0),
        exit(),
    ];
    assert_eq!(r0(&p), 42 + 26);
    // Every instruction of a sequence counts: 7 instructions executed.
    let insns = decode_program(&bytes(&p)).unwrap();
    let mut vm = Interpreter::new(&insns, &Helpers::new()).unwrap();
    assert_eq!(vm.run_mem(&mut []).unwrap().insns, 7);
}

#[test]
fn function_addresses_outside_the_program_are_refused() {
    // lddw r1, BPF_PSEUDO_FUNC with targets past the end (pc 0 + 5 + 1 = 6 of 4 slots),
    // before the start, and on the second slot of an lddw (0 + 0 + 1 = 1).
    for imm in [5, -3, 0] {
        let p = [
            i(LDDW, 1, PSEUDO_FUNC, 0, imm),
            i(0, 0, 0, 0, 0),
            i(ALU64 | MOV | K, 0, 0, 0, 0),
            exit(),
        ];
        let insns = decode_program(&bytes(&p)).unwrap();
        let err = Interpreter::new(&insns, &Helpers::new())
            .err()
            .expect("refused");
        assert_eq!(err.pc, 0);
        assert_eq!(
            err.kind,
            PrepareErrorKind::BadBranch {
                target: 1 + imm as i64
            }
        );
    }
}

#[test]
fn fused_bounds_checks_and_loop_counters_keep_their_meaning() {
    // Sum of bytes, written the way clang writes loops over a buffer:
    //   r0 = 0; r3 = r1 + r2 (end); r4 = 0 (index)
    // loop: r5 = r1; r5 += r4 ... as `r6 = r1; r6 += 1`-style bounds check:
    //   r5 = r1; r5 += 1; if r5 > r3 goto out; r6 = *(u8 *)(r1 + 0); r0 += r6;
    //   r1 += 1; r4 += 1; if r4 != 3 goto loop; out: exit
    // On [5, 6, 7, 8] the counter stops the loop after three bytes: 5 + 6 + 7 = 18.
    let p = [
        i(ALU64 | MOV | K, 0, 0, 0, 0),
        i(ALU64 | MOV | X, 3, 1, 0, 0),
        i(ALU64 | ADD | X, 3, 2, 0, 0),
        i(ALU64 | MOV | K, 4, 0, 0, 0),
        i(ALU64 | MOV | X, 5, 1, 0, 0),
        i(ALU64 | ADD | K, 5, 0, 0, 1),
        i(JMP | JGT | X, 5, 3, 6, 0),
        i(LDX | MEM | B, 6, 1, 0, 0),
        i(ALU64 | ADD | X, 0, 6, 0, 0),
        i(ALU64 | ADD | K, 1, 0, 0, 1),
        i(ALU64 | ADD | K, 4, 0, 0, 1),
        i(JMP | JNE | K, 4, 0, -8, 3),
        exit(),
        exit(),
    ];
    assert_eq!(run_mem(&p, &mut [5, 6, 7, 8]).unwrap(), 18);
    // On [5, 6] the bounds check ends it after two bytes: 11.
    assert_eq!(run_mem(&p, &mut [5, 6]).unwrap(), 11);
    // Instructions: 4 before the loop, 8 per byte summed, then the check that fails (3)
    // and exit: on [5, 6], 4 + 2 * 8 + 3 + 1 = 24.
    let insns = decode_program(&bytes(&p)).unwrap();
    let mut vm = Interpreter::new(&insns, &Helpers::new()).unwrap();
    assert_eq!(vm.run_mem(&mut [5, 6]).unwrap().insns, 24);
    // The bound compared against the register being computed: r5 = r1 + 1 > r5 is false,
    // so no jump: r0 = 1. And `r5 += 1; if r5 == 2` jumps when the counter reaches 2.
    let p = [
        i(ALU64 | MOV | K, 0, 0, 0, 1),
        i(ALU64 | MOV | X, 5, 1, 0, 0),
        i(ALU64 | ADD | K, 5, 0, 0, 1),
        i(JMP | JGT | X, 5, 5, 1, 0),
        exit(),
        i(ALU64 | MOV | K, 0, 0, 0, 2),
        exit(),
    ];
    assert_eq!(run_mem(&p, &mut []).unwrap(), 1);
    let p = [
        i(ALU64 | MOV | K, 0, 0, 0, 0),
        i(ALU64 | MOV | K, 5, 0, 0, 0),
        i(ALU64 | ADD | K, 0, 0, 0, 10),
        i(ALU64 | ADD | K, 5, 0, 0, 1),
        i(JMP | JEQ | K, 5, 0, 1, 2),
        i(JMP | JA, 0, 0, -4, 0),
        exit(),
    ];
    // Two rounds of r0 += 10 before r5 reaches 2.
    assert_eq!(run_mem(&p, &mut []).unwrap(), 20);
}
