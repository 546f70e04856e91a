//! The disassembler against llvm-objdump-19: every fixture object's listing must equal the
//! checked-in `fixtures/<name>.objdump` and `.objdump-raw` files (all lines, headers
//! included), and a listing of every instruction form must equal llvm-objdump's listing of
//! the same bytes.

use bpfkit_isa::{
    disassemble, format_insn, DecodeErrorKind, Dialect, Insn, ListingOptions, Reg, Symbol,
};
use object::{Object, ObjectSection, ObjectSymbol, SectionFlags, SymbolKind};
use std::path::{Path, PathBuf};

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

/// What `llvm-objdump-19 -d [--no-show-raw-insn] <file>` prints for an object, rebuilt
/// from bpfkit's per-section listings: the file header, then for each executable section
/// its `Disassembly of section` line and body.
fn objdump_like(file_name: &str, data: &[u8], raw_bytes: bool) -> String {
    let obj = object::File::parse(data).expect("fixture is an ELF object");
    let mut out = format!("\n{file_name}:\tfile format elf64-bpf\n");
    for section in obj.sections() {
        let executable = match section.flags() {
            SectionFlags::Elf { sh_flags } => sh_flags & u64::from(object::elf::SHF_EXECINSTR) != 0,
            _ => false,
        };
        if !executable || section.size() == 0 {
            continue;
        }
        let name = section.name().expect("section name");
        let names: Vec<(usize, String)> = obj
            .symbols()
            .filter(|s| s.section_index() == Some(section.index()))
            .filter(|s| !matches!(s.kind(), SymbolKind::Section | SymbolKind::File))
            .filter_map(|s| Some((s.address() as usize / 8, s.name().ok()?.to_string())))
            .filter(|(_, n)| !n.is_empty())
            .collect();
        let symbols: Vec<Symbol> = names
            .iter()
            .map(|(slot, name)| Symbol { slot: *slot, name })
            .collect();
        let options = ListingOptions {
            raw_bytes,
            dialect: Dialect::Generic,
        };
        let code = section.data().expect("section data");
        let body = disassemble(code, name, &symbols, options).expect("fixture decodes");
        out.push_str(&format!("\nDisassembly of section {name}:\n{body}"));
    }
    out
}

fn assert_same_lines(what: &str, got: &str, want: &str) {
    for (i, (g, w)) in got.lines().zip(want.lines()).enumerate() {
        assert_eq!(g, w, "{what}: line {} differs", i + 1);
    }
    assert_eq!(
        got.lines().count(),
        want.lines().count(),
        "{what}: number of lines differs"
    );
}

#[test]
fn fixture_listings_match_llvm_objdump() {
    let mut checked = 0;
    for entry in std::fs::read_dir(fixtures_dir()).expect("fixtures directory") {
        let path = entry.expect("directory entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("o") {
            continue;
        }
        let file_name = path.file_name().unwrap().to_str().unwrap();
        let data = std::fs::read(&path).expect("read fixture");
        for (raw_bytes, ext) in [(false, "objdump"), (true, "objdump-raw")] {
            let want = std::fs::read_to_string(path.with_extension(ext)).expect("listing");
            let got = objdump_like(file_name, &data, raw_bytes);
            assert_same_lines(&format!("{file_name} vs .{ext}"), &got, &want);
        }
        checked += 1;
    }
    assert!(
        checked >= 6,
        "expected the six fixture objects, found {checked}"
    );
}

/// Rebuilds the section bytes and symbols from a raw llvm-objdump listing body (its
/// `<address> <name>:` lines and the byte column of its instruction lines).
fn parse_listing(listing: &str) -> (Vec<u8>, Vec<(usize, String)>) {
    let mut code = Vec::new();
    let mut symbols = Vec::new();
    for line in listing.lines() {
        let symbol_line = !line.contains('\t') && line.ends_with(">:");
        if let Some((address, rest)) = line.split_once(" <").filter(|_| symbol_line) {
            let address = u64::from_str_radix(address, 16).expect("symbol address");
            let name = rest.strip_suffix(">:").expect("symbol line");
            symbols.push((address as usize / 8, name.to_string()));
        } else if let Some(bytes) = line.split('\t').nth(1) {
            code.extend(
                bytes
                    .split(' ')
                    .map(|b| u8::from_str_radix(b, 16).expect("byte")),
            );
        }
    }
    (code, symbols)
}

/// The listing without the byte column, as `--no-show-raw-insn` prints it.
fn without_bytes(listing: &str) -> String {
    listing
        .lines()
        .map(|line| match line.split_once('\t') {
            Some((index, rest)) => format!("{index}\t{}\n", rest.split_once('\t').unwrap().1),
            None => format!("{line}\n"),
        })
        .collect()
}

fn check_forms(listing: &str, dialect: Dialect) {
    let (code, names) = parse_listing(listing);
    let symbols: Vec<Symbol> = names
        .iter()
        .map(|(slot, name)| Symbol { slot: *slot, name })
        .collect();
    for raw_bytes in [true, false] {
        let got = disassemble(
            &code,
            ".text",
            &symbols,
            ListingOptions { raw_bytes, dialect },
        )
        .expect("every form decodes");
        let want = if raw_bytes {
            listing.to_string()
        } else {
            without_bytes(listing)
        };
        assert_same_lines(&format!("{dialect:?}, raw bytes {raw_bytes}"), &got, &want);
    }
}

#[test]
fn every_form_matches_llvm_objdump_generic() {
    check_forms(LLVM_GENERIC, Dialect::Generic);
}

#[test]
fn every_form_matches_llvm_objdump_alu32() {
    check_forms(LLVM_ALU32, Dialect::Alu32);
}

#[test]
fn section_name_labels_code_before_the_first_symbol() {
    // `llvm-objdump-19 -d` on bytes 05 00 ff ff 00 00 00 00, 95 00 ... assembled with
    // llvm-mc-19 into a .text section without symbols.
    let code = [0x05, 0, 0xff, 0xff, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0];
    let got = disassemble(&code, ".text", &[], ListingOptions::default()).unwrap();
    assert_eq!(
        got,
        "\n0000000000000000 <.text>:\n       0:\tgoto -0x1 <.text>\n       1:\texit\n"
    );
}

#[test]
fn format_insn_prints_jumps_without_labels() {
    // As in the listings above, less the ` <f+0x130>` label.
    assert_eq!(
        format_insn(&Insn::Ja { off: 1 }, Dialect::Generic),
        "goto +0x1"
    );
    let lddw = Insn::lddw(Reg::R1, 0x0123_4567_89ab_cdef);
    assert_eq!(
        format_insn(&lddw, Dialect::Alu32),
        "r1 = 0x123456789abcdef ll"
    );
}

#[test]
fn decode_errors_are_returned_with_the_slot_index() {
    let truncated_lddw = [0x95, 0, 0, 0, 0, 0, 0, 0, 0x18, 0x01, 0, 0, 5, 0, 0, 0];
    let err = disassemble(&truncated_lddw, ".text", &[], ListingOptions::default()).unwrap_err();
    assert_eq!(err.index, 1);
    assert_eq!(err.kind, DecodeErrorKind::TruncatedLddw);

    let unknown = [0x95, 0, 0, 0, 0, 0, 0, 0, 0xff, 0, 0, 0, 0, 0, 0, 0];
    let err = disassemble(&unknown, ".text", &[], ListingOptions::default()).unwrap_err();
    assert_eq!(err.index, 1);
    assert_eq!(err.kind, DecodeErrorKind::UnknownOpcode(0xff));

    let odd_length = [0x95, 0, 0];
    assert!(disassemble(&odd_length, ".text", &[], ListingOptions::default()).is_err());
}

// Every instruction form, assembled with `llvm-mc-19 -triple bpfel -mcpu=v4 -filetype=obj`
// into forms.o: mnemonics for what llvm-mc accepts, `.byte` lines for the rest (lddw pseudo
// kinds, kfunc and local calls, extreme immediates and offsets, 32-bit atomics, jumps to a
// symbol's start and before it). The listings are llvm-objdump-19's output, pasted.

/// `llvm-objdump-19 -d forms.o`, after its `Disassembly of section .text:` line.
const LLVM_GENERIC: &str = concat!(
    "\n",
    "0000000000000000 <f>:\n",
    "       0:\tbf 21 00 00 00 00 00 00\tr1 = r2\n",
    "       1:\tbc 21 00 00 00 00 00 00\tw1 = w2\n",
    "       2:\t07 01 00 00 05 00 00 00\tr1 += 0x5\n",
    "       3:\t04 01 00 00 fb ff ff ff\tw1 += -0x5\n",
    "       4:\t1f 21 00 00 00 00 00 00\tr1 -= r2\n",
    "       5:\t2f 31 00 00 00 00 00 00\tr1 *= r3\n",
    "       6:\t3f 31 00 00 00 00 00 00\tr1 /= r3\n",
    "       7:\t3c 31 00 00 00 00 00 00\tw1 /= w3\n",
    "       8:\t3f 31 01 00 00 00 00 00\tr1 s/= r3\n",
    "       9:\t34 01 01 00 07 00 00 00\tw1 s/= 0x7\n",
    "      10:\t9f 31 00 00 00 00 00 00\tr1 %= r3\n",
    "      11:\t9f 31 01 00 00 00 00 00\tr1 s%= r3\n",
    "      12:\t94 01 01 00 03 00 00 00\tw1 s%= 0x3\n",
    "      13:\t47 01 00 00 ff ff ff 7f\tr1 |= 0x7fffffff\n",
    "      14:\t57 01 00 00 ff ff ff ff\tr1 &= -0x1\n",
    "      15:\t67 01 00 00 03 00 00 00\tr1 <<= 0x3\n",
    "      16:\t7c 21 00 00 00 00 00 00\tw1 >>= w2\n",
    "      17:\tc7 01 00 00 03 00 00 00\tr1 s>>= 0x3\n",
    "      18:\tc4 01 00 00 03 00 00 00\tw1 s>>= 0x3\n",
    "      19:\taf 21 00 00 00 00 00 00\tr1 ^= r2\n",
    "      20:\t87 01 00 00 00 00 00 00\tr1 = -r1\n",
    "      21:\t84 01 00 00 00 00 00 00\tw1 = -w1\n",
    "      22:\tbf 21 08 00 00 00 00 00\tr1 = (s8)r2\n",
    "      23:\tbf 21 10 00 00 00 00 00\tr1 = (s16)r2\n",
    "      24:\tbf 21 20 00 00 00 00 00\tr1 = (s32)r2\n",
    "      25:\tbc 21 08 00 00 00 00 00\tw1 = (s8)w2\n",
    "      26:\tbc 21 10 00 00 00 00 00\tw1 = (s16)w2\n",
    "      27:\td4 01 00 00 10 00 00 00\tr1 = le16 r1\n",
    "      28:\td4 01 00 00 20 00 00 00\tr1 = le32 r1\n",
    "      29:\td4 01 00 00 40 00 00 00\tr1 = le64 r1\n",
    "      30:\tdc 01 00 00 10 00 00 00\tr1 = be16 r1\n",
    "      31:\tdc 01 00 00 20 00 00 00\tr1 = be32 r1\n",
    "      32:\tdc 01 00 00 40 00 00 00\tr1 = be64 r1\n",
    "      33:\td7 01 00 00 10 00 00 00\tr1 = bswap16 r1\n",
    "      34:\td7 01 00 00 20 00 00 00\tr1 = bswap32 r1\n",
    "      35:\td7 01 00 00 40 00 00 00\tr1 = bswap64 r1\n",
    "      36:\t05 00 01 00 00 00 00 00\tgoto +0x1 <f+0x130>\n",
    "      37:\t06 00 00 00 01 00 00 00\tgotol +0x1 <f+0x138>\n",
    "      38:\t06 00 00 00 fe ff ff ff\tgotol -0x2 <f+0x128>\n",
    "      39:\t1d 21 01 00 00 00 00 00\tif r1 == r2 goto +0x1 <f+0x148>\n",
    "      40:\t56 01 ff ff 05 00 00 00\tif w1 != 0x5 goto -0x1 <f+0x140>\n",
    "      41:\t65 01 00 00 fd ff ff ff\tif r1 s> -0x3 goto +0x0 <f+0x150>\n",
    "      42:\t4d 21 00 00 00 00 00 00\tif r1 & r2 goto +0x0 <f+0x158>\n",
    "      43:\tde 21 00 00 00 00 00 00\tif w1 s<= w2 goto +0x0 <f+0x160>\n",
    "      44:\ta5 01 00 00 00 00 00 00\tif r1 < 0x0 goto +0x0 <f+0x168>\n",
    "      45:\tb5 01 00 00 00 00 00 00\tif r1 <= 0x0 goto +0x0 <f+0x170>\n",
    "      46:\tc5 01 00 00 00 00 00 00\tif r1 s< 0x0 goto +0x0 <f+0x178>\n",
    "      47:\t75 01 00 00 00 00 00 00\tif r1 s>= 0x0 goto +0x0 <f+0x180>\n",
    "      48:\t35 01 00 00 00 00 00 00\tif r1 >= 0x0 goto +0x0 <f+0x188>\n",
    "      49:\t25 01 00 00 00 00 00 00\tif r1 > 0x0 goto +0x0 <f+0x190>\n",
    "      50:\t85 00 00 00 01 00 00 00\tcall 0x1\n",
    "      51:\t85 00 00 00 ff ff ff ff\tcall -0x1\n",
    "      52:\t8d 03 00 00 00 00 00 00\tcallx r3\n",
    "      53:\t18 01 00 00 ef cd ab 89 00 00 00 00 67 45 23 01\tr1 = 0x123456789abcdef ll\n",
    "      55:\t18 01 00 00 ff ff ff ff 00 00 00 00 ff ff ff ff\tr1 = -0x1 ll\n",
    "      57:\t71 10 00 00 00 00 00 00\tr0 = *(u8 *)(r1 + 0x0)\n",
    "      58:\t69 10 fe ff 00 00 00 00\tr0 = *(u16 *)(r1 - 0x2)\n",
    "      59:\t61 10 04 00 00 00 00 00\tr0 = *(u32 *)(r1 + 0x4)\n",
    "      60:\t79 a0 f8 ff 00 00 00 00\tr0 = *(u64 *)(r10 - 0x8)\n",
    "      61:\t71 10 00 00 00 00 00 00\tr0 = *(u8 *)(r1 + 0x0)\n",
    "      62:\t91 10 00 00 00 00 00 00\tr0 = *(s8 *)(r1 + 0x0)\n",
    "      63:\t89 10 00 00 00 00 00 00\tr0 = *(s16 *)(r1 + 0x0)\n",
    "      64:\t81 10 00 00 00 00 00 00\tr0 = *(s32 *)(r1 + 0x0)\n",
    "      65:\t72 01 00 00 01 00 00 00\t*(u8 *)(r1 + 0x0) = 0x1\n",
    "      66:\t6a 01 02 00 ff ff ff ff\t*(u16 *)(r1 + 0x2) = -0x1\n",
    "      67:\t63 21 04 00 00 00 00 00\t*(u32 *)(r1 + 0x4) = r2\n",
    "      68:\t7b 2a f8 ff 00 00 00 00\t*(u64 *)(r10 - 0x8) = r2\n",
    "      69:\t63 2a f8 ff 00 00 00 00\t*(u32 *)(r10 - 0x8) = r2\n",
    "      70:\tc3 21 00 00 00 00 00 00\tlock *(u32 *)(r1 + 0x0) += r2\n",
    "      71:\tdb 21 00 00 00 00 00 00\tlock *(u64 *)(r1 + 0x0) += r2\n",
    "      72:\tdb 21 00 00 40 00 00 00\tlock *(u64 *)(r1 + 0x0) |= r2\n",
    "      73:\tdb 21 00 00 50 00 00 00\tlock *(u64 *)(r1 + 0x0) &= r2\n",
    "      74:\tdb 21 00 00 a0 00 00 00\tlock *(u64 *)(r1 + 0x0) ^= r2\n",
    "      75:\tc3 21 00 00 01 00 00 00\tlock *(u32 *)(r1 + 0x0) += r2\n",
    "      76:\tdb 21 08 00 01 00 00 00\tr2 = atomic_fetch_add((u64 *)(r1 + 0x8), r2)\n",
    "      77:\tdb 21 08 00 41 00 00 00\tr2 = atomic_fetch_or((u64 *)(r1 + 0x8), r2)\n",
    "      78:\tdb 21 08 00 51 00 00 00\tr2 = atomic_fetch_and((u64 *)(r1 + 0x8), r2)\n",
    "      79:\tdb 21 08 00 a1 00 00 00\tr2 = atomic_fetch_xor((u64 *)(r1 + 0x8), r2)\n",
    "      80:\tdb 21 08 00 e1 00 00 00\tr2 = xchg_64(r1 + 0x8, r2)\n",
    "      81:\tc3 21 08 00 e1 00 00 00\t<unknown>\n",
    "      82:\tdb 21 08 00 f1 00 00 00\tr0 = cmpxchg_64(r1 + 0x8, r0, r2)\n",
    "      83:\tc3 21 08 00 f1 00 00 00\t<unknown>\n",
    "      84:\t30 00 00 00 0a 00 00 00\tr0 = *(u8 *)skb[0xa]\n",
    "      85:\t28 00 00 00 0a 00 00 00\tr0 = *(u16 *)skb[0xa]\n",
    "      86:\t40 30 00 00 00 00 00 00\tr0 = *(u32 *)skb[r3]\n",
    "      87:\t8d 03 00 00 00 00 00 00\tcallx r3\n",
    "      88:\t85 20 00 00 05 00 00 00\tcall 0x5\n",
    "      89:\t85 20 01 00 05 00 00 00\tcall 0x5\n",
    "      90:\t85 10 00 00 ff ff ff ff\tcall -0x1\n",
    "      91:\t85 00 00 00 ff ff ff 7f\tcall 0x7fffffff\n",
    "      92:\t18 01 00 00 05 00 00 00 00 00 00 00 00 00 00 00\tr1 = 0x5 ll\n",
    "      94:\t18 11 00 00 05 00 00 00 00 00 00 00 00 00 00 00\tld_pseudo\tr1, 0x1, 0x5\n",
    "\n",
    "0000000000000300 <g>:\n",
    "      96:\t18 21 00 00 05 00 00 00 00 00 00 00 07 00 00 00\tld_pseudo\tr1, 0x2, 0x5\n",
    "      98:\t18 31 00 00 05 00 00 00 00 00 00 00 00 00 00 00\tld_pseudo\tr1, 0x3, 0x5\n",
    "     100:\t18 41 00 00 05 00 00 00 00 00 00 00 00 00 00 00\tld_pseudo\tr1, 0x4, 0x5\n",
    "     102:\t18 51 00 00 05 00 00 00 00 00 00 00 00 00 00 00\tld_pseudo\tr1, 0x5, 0x5\n",
    "     104:\t18 61 00 00 05 00 00 00 00 00 00 00 07 00 00 00\tld_pseudo\tr1, 0x6, 0x5\n",
    "     106:\t18 01 00 00 00 00 00 00 00 00 00 00 00 00 00 80\tr1 = -0x8000000000000000 ll\n",
    "     108:\t18 01 00 00 ff ff ff ff 00 00 00 00 00 00 00 00\tr1 = 0xffffffff ll\n",
    "     110:\t18 01 00 00 00 00 00 80 00 00 00 00 ff ff ff ff\tr1 = -0x80000000 ll\n",
    "     112:\tb7 01 00 00 ff ff ff ff\tr1 = -0x1\n",
    "     113:\tb4 01 00 00 ff ff ff ff\tw1 = -0x1\n",
    "     114:\tb4 01 00 00 ff ff ff 7f\tw1 = 0x7fffffff\n",
    "     115:\tb4 01 00 00 00 00 00 80\tw1 = -0x80000000\n",
    "     116:\t25 01 00 00 ff ff ff ff\tif r1 > -0x1 goto +0x0 <g+0xa8>\n",
    "     117:\t26 01 ff ff 00 00 00 80\tif w1 > -0x80000000 goto -0x1 <g+0xa8>\n",
    "     118:\t7a 01 00 80 00 00 00 80\t*(u64 *)(r1 - 0x8000) = -0x80000000\n",
    "     119:\t79 21 ff 7f 00 00 00 00\tr1 = *(u64 *)(r2 + 0x7fff)\n",
    "     120:\tc3 21 00 00 40 00 00 00\t<unknown>\n",
    "     121:\tc3 21 00 00 50 00 00 00\t<unknown>\n",
    "     122:\tc3 21 00 00 a0 00 00 00\t<unknown>\n",
    "     123:\tc3 21 00 00 41 00 00 00\t<unknown>\n",
    "     124:\tc3 21 00 00 51 00 00 00\t<unknown>\n",
    "     125:\tc3 21 00 00 a1 00 00 00\t<unknown>\n",
    "     126:\t87 01 00 00 00 00 00 00\tr1 = -r1\n",
    "     127:\t84 01 00 00 00 00 00 00\tw1 = -w1\n",
    "     128:\td4 01 00 00 10 00 00 00\tr1 = le16 r1\n",
    "     129:\tdc 01 00 00 40 00 00 00\tr1 = be64 r1\n",
    "     130:\td7 01 00 00 20 00 00 00\tr1 = bswap32 r1\n",
    "     131:\t50 30 00 00 0a 00 00 00\tr0 = *(u8 *)skb[r3]\n",
    "     132:\t48 30 00 00 ff ff ff ff\tr0 = *(u16 *)skb[r3]\n",
    "     133:\t20 00 00 00 ff ff ff ff\tr0 = *(u32 *)skb[-0x1]\n",
    "     134:\t05 00 ff ff 00 00 00 00\tgoto -0x1 <g+0x130>\n",
    "     135:\t06 00 00 00 00 00 00 80\tgotol -0x80000000 <h+0xfffffffbffffffa8>\n",
    "     136:\tbf 21 08 00 00 00 00 00\tr1 = (s8)r2\n",
    "     137:\tbc 21 08 00 00 00 00 00\tw1 = (s8)w2\n",
    "     138:\t3f 21 01 00 00 00 00 00\tr1 s/= r2\n",
    "     139:\t34 01 01 00 f9 ff ff ff\tw1 s/= -0x7\n",
    "     140:\t91 21 fe ff 00 00 00 00\tr1 = *(s8 *)(r2 - 0x2)\n",
    "     141:\t81 21 00 00 00 00 00 00\tr1 = *(s32 *)(r2 + 0x0)\n",
    "     142:\t05 00 fe ff 00 00 00 00\tgoto -0x2 <g+0x168>\n",
    "     143:\t05 00 01 00 00 00 00 00\tgoto +0x1 <g+0x188>\n",
    "     144:\t05 00 ff 7f 00 00 00 00\tgoto +0x7fff <h+0x3ffe8>\n",
    "     145:\tdb 9a f8 ff e1 00 00 00\tr9 = xchg_64(r10 - 0x8, r9)\n",
    "     146:\t95 00 00 00 00 00 00 00\texit\n",
    "\n",
    "0000000000000498 <h>:\n",
    "     147:\t18 11 00 00 ff ff ff ff 00 00 00 00 ff ff ff ff\tld_pseudo\tr1, 0x1, 0xffffffff\n",
    "     149:\t18 41 00 00 00 00 00 80 00 00 00 00 00 00 00 00\tld_pseudo\tr1, 0x4, 0x80000000\n",
    "     151:\t05 00 fc ff 00 00 00 00\tgoto -0x4 <h+0x8>\n",
    "     152:\t05 00 fa ff 00 00 00 00\tgoto -0x6 <h>\n",
    "     153:\t95 00 00 00 00 00 00 00\texit\n",
);

/// `llvm-objdump-19 -d --mcpu=v4 forms.o`, after its `Disassembly of section .text:` line.
const LLVM_ALU32: &str = concat!(
    "\n",
    "0000000000000000 <f>:\n",
    "       0:\tbf 21 00 00 00 00 00 00\tr1 = r2\n",
    "       1:\tbc 21 00 00 00 00 00 00\tw1 = w2\n",
    "       2:\t07 01 00 00 05 00 00 00\tr1 += 0x5\n",
    "       3:\t04 01 00 00 fb ff ff ff\tw1 += -0x5\n",
    "       4:\t1f 21 00 00 00 00 00 00\tr1 -= r2\n",
    "       5:\t2f 31 00 00 00 00 00 00\tr1 *= r3\n",
    "       6:\t3f 31 00 00 00 00 00 00\tr1 /= r3\n",
    "       7:\t3c 31 00 00 00 00 00 00\tw1 /= w3\n",
    "       8:\t3f 31 01 00 00 00 00 00\tr1 s/= r3\n",
    "       9:\t34 01 01 00 07 00 00 00\tw1 s/= 0x7\n",
    "      10:\t9f 31 00 00 00 00 00 00\tr1 %= r3\n",
    "      11:\t9f 31 01 00 00 00 00 00\tr1 s%= r3\n",
    "      12:\t94 01 01 00 03 00 00 00\tw1 s%= 0x3\n",
    "      13:\t47 01 00 00 ff ff ff 7f\tr1 |= 0x7fffffff\n",
    "      14:\t57 01 00 00 ff ff ff ff\tr1 &= -0x1\n",
    "      15:\t67 01 00 00 03 00 00 00\tr1 <<= 0x3\n",
    "      16:\t7c 21 00 00 00 00 00 00\tw1 >>= w2\n",
    "      17:\tc7 01 00 00 03 00 00 00\tr1 s>>= 0x3\n",
    "      18:\tc4 01 00 00 03 00 00 00\tw1 s>>= 0x3\n",
    "      19:\taf 21 00 00 00 00 00 00\tr1 ^= r2\n",
    "      20:\t87 01 00 00 00 00 00 00\tr1 = -r1\n",
    "      21:\t84 01 00 00 00 00 00 00\tw1 = -w1\n",
    "      22:\tbf 21 08 00 00 00 00 00\tr1 = (s8)r2\n",
    "      23:\tbf 21 10 00 00 00 00 00\tr1 = (s16)r2\n",
    "      24:\tbf 21 20 00 00 00 00 00\tr1 = (s32)r2\n",
    "      25:\tbc 21 08 00 00 00 00 00\tw1 = (s8)w2\n",
    "      26:\tbc 21 10 00 00 00 00 00\tw1 = (s16)w2\n",
    "      27:\td4 01 00 00 10 00 00 00\tr1 = le16 r1\n",
    "      28:\td4 01 00 00 20 00 00 00\tr1 = le32 r1\n",
    "      29:\td4 01 00 00 40 00 00 00\tr1 = le64 r1\n",
    "      30:\tdc 01 00 00 10 00 00 00\tr1 = be16 r1\n",
    "      31:\tdc 01 00 00 20 00 00 00\tr1 = be32 r1\n",
    "      32:\tdc 01 00 00 40 00 00 00\tr1 = be64 r1\n",
    "      33:\td7 01 00 00 10 00 00 00\tr1 = bswap16 r1\n",
    "      34:\td7 01 00 00 20 00 00 00\tr1 = bswap32 r1\n",
    "      35:\td7 01 00 00 40 00 00 00\tr1 = bswap64 r1\n",
    "      36:\t05 00 01 00 00 00 00 00\tgoto +0x1 <f+0x130>\n",
    "      37:\t06 00 00 00 01 00 00 00\tgotol +0x1 <f+0x138>\n",
    "      38:\t06 00 00 00 fe ff ff ff\tgotol -0x2 <f+0x128>\n",
    "      39:\t1d 21 01 00 00 00 00 00\tif r1 == r2 goto +0x1 <f+0x148>\n",
    "      40:\t56 01 ff ff 05 00 00 00\tif w1 != 0x5 goto -0x1 <f+0x140>\n",
    "      41:\t65 01 00 00 fd ff ff ff\tif r1 s> -0x3 goto +0x0 <f+0x150>\n",
    "      42:\t4d 21 00 00 00 00 00 00\tif r1 & r2 goto +0x0 <f+0x158>\n",
    "      43:\tde 21 00 00 00 00 00 00\tif w1 s<= w2 goto +0x0 <f+0x160>\n",
    "      44:\ta5 01 00 00 00 00 00 00\tif r1 < 0x0 goto +0x0 <f+0x168>\n",
    "      45:\tb5 01 00 00 00 00 00 00\tif r1 <= 0x0 goto +0x0 <f+0x170>\n",
    "      46:\tc5 01 00 00 00 00 00 00\tif r1 s< 0x0 goto +0x0 <f+0x178>\n",
    "      47:\t75 01 00 00 00 00 00 00\tif r1 s>= 0x0 goto +0x0 <f+0x180>\n",
    "      48:\t35 01 00 00 00 00 00 00\tif r1 >= 0x0 goto +0x0 <f+0x188>\n",
    "      49:\t25 01 00 00 00 00 00 00\tif r1 > 0x0 goto +0x0 <f+0x190>\n",
    "      50:\t85 00 00 00 01 00 00 00\tcall 0x1\n",
    "      51:\t85 00 00 00 ff ff ff ff\tcall -0x1\n",
    "      52:\t8d 03 00 00 00 00 00 00\tcallx r3\n",
    "      53:\t18 01 00 00 ef cd ab 89 00 00 00 00 67 45 23 01\tr1 = 0x123456789abcdef ll\n",
    "      55:\t18 01 00 00 ff ff ff ff 00 00 00 00 ff ff ff ff\tr1 = -0x1 ll\n",
    "      57:\t71 10 00 00 00 00 00 00\tw0 = *(u8 *)(r1 + 0x0)\n",
    "      58:\t69 10 fe ff 00 00 00 00\tw0 = *(u16 *)(r1 - 0x2)\n",
    "      59:\t61 10 04 00 00 00 00 00\tw0 = *(u32 *)(r1 + 0x4)\n",
    "      60:\t79 a0 f8 ff 00 00 00 00\tr0 = *(u64 *)(r10 - 0x8)\n",
    "      61:\t71 10 00 00 00 00 00 00\tw0 = *(u8 *)(r1 + 0x0)\n",
    "      62:\t91 10 00 00 00 00 00 00\tr0 = *(s8 *)(r1 + 0x0)\n",
    "      63:\t89 10 00 00 00 00 00 00\tr0 = *(s16 *)(r1 + 0x0)\n",
    "      64:\t81 10 00 00 00 00 00 00\tr0 = *(s32 *)(r1 + 0x0)\n",
    "      65:\t72 01 00 00 01 00 00 00\t*(u8 *)(r1 + 0x0) = 0x1\n",
    "      66:\t6a 01 02 00 ff ff ff ff\t*(u16 *)(r1 + 0x2) = -0x1\n",
    "      67:\t63 21 04 00 00 00 00 00\t*(u32 *)(r1 + 0x4) = w2\n",
    "      68:\t7b 2a f8 ff 00 00 00 00\t*(u64 *)(r10 - 0x8) = r2\n",
    "      69:\t63 2a f8 ff 00 00 00 00\t*(u32 *)(r10 - 0x8) = w2\n",
    "      70:\tc3 21 00 00 00 00 00 00\tlock *(u32 *)(r1 + 0x0) += w2\n",
    "      71:\tdb 21 00 00 00 00 00 00\tlock *(u64 *)(r1 + 0x0) += r2\n",
    "      72:\tdb 21 00 00 40 00 00 00\tlock *(u64 *)(r1 + 0x0) |= r2\n",
    "      73:\tdb 21 00 00 50 00 00 00\tlock *(u64 *)(r1 + 0x0) &= r2\n",
    "      74:\tdb 21 00 00 a0 00 00 00\tlock *(u64 *)(r1 + 0x0) ^= r2\n",
    "      75:\tc3 21 00 00 01 00 00 00\tw2 = atomic_fetch_add((u32 *)(r1 + 0x0), w2)\n",
    "      76:\tdb 21 08 00 01 00 00 00\tr2 = atomic_fetch_add((u64 *)(r1 + 0x8), r2)\n",
    "      77:\tdb 21 08 00 41 00 00 00\tr2 = atomic_fetch_or((u64 *)(r1 + 0x8), r2)\n",
    "      78:\tdb 21 08 00 51 00 00 00\tr2 = atomic_fetch_and((u64 *)(r1 + 0x8), r2)\n",
    "      79:\tdb 21 08 00 a1 00 00 00\tr2 = atomic_fetch_xor((u64 *)(r1 + 0x8), r2)\n",
    "      80:\tdb 21 08 00 e1 00 00 00\tr2 = xchg_64(r1 + 0x8, r2)\n",
    "      81:\tc3 21 08 00 e1 00 00 00\tw2 = xchg32_32(r1 + 0x8, w2)\n",
    "      82:\tdb 21 08 00 f1 00 00 00\tr0 = cmpxchg_64(r1 + 0x8, r0, r2)\n",
    "      83:\tc3 21 08 00 f1 00 00 00\tw0 = cmpxchg32_32(r1 + 0x8, w0, w2)\n",
    "      84:\t30 00 00 00 0a 00 00 00\tr0 = *(u8 *)skb[0xa]\n",
    "      85:\t28 00 00 00 0a 00 00 00\tr0 = *(u16 *)skb[0xa]\n",
    "      86:\t40 30 00 00 00 00 00 00\tr0 = *(u32 *)skb[r3]\n",
    "      87:\t8d 03 00 00 00 00 00 00\tcallx r3\n",
    "      88:\t85 20 00 00 05 00 00 00\tcall 0x5\n",
    "      89:\t85 20 01 00 05 00 00 00\tcall 0x5\n",
    "      90:\t85 10 00 00 ff ff ff ff\tcall -0x1\n",
    "      91:\t85 00 00 00 ff ff ff 7f\tcall 0x7fffffff\n",
    "      92:\t18 01 00 00 05 00 00 00 00 00 00 00 00 00 00 00\tr1 = 0x5 ll\n",
    "      94:\t18 11 00 00 05 00 00 00 00 00 00 00 00 00 00 00\tld_pseudo\tr1, 0x1, 0x5\n",
    "\n",
    "0000000000000300 <g>:\n",
    "      96:\t18 21 00 00 05 00 00 00 00 00 00 00 07 00 00 00\tld_pseudo\tr1, 0x2, 0x5\n",
    "      98:\t18 31 00 00 05 00 00 00 00 00 00 00 00 00 00 00\tld_pseudo\tr1, 0x3, 0x5\n",
    "     100:\t18 41 00 00 05 00 00 00 00 00 00 00 00 00 00 00\tld_pseudo\tr1, 0x4, 0x5\n",
    "     102:\t18 51 00 00 05 00 00 00 00 00 00 00 00 00 00 00\tld_pseudo\tr1, 0x5, 0x5\n",
    "     104:\t18 61 00 00 05 00 00 00 00 00 00 00 07 00 00 00\tld_pseudo\tr1, 0x6, 0x5\n",
    "     106:\t18 01 00 00 00 00 00 00 00 00 00 00 00 00 00 80\tr1 = -0x8000000000000000 ll\n",
    "     108:\t18 01 00 00 ff ff ff ff 00 00 00 00 00 00 00 00\tr1 = 0xffffffff ll\n",
    "     110:\t18 01 00 00 00 00 00 80 00 00 00 00 ff ff ff ff\tr1 = -0x80000000 ll\n",
    "     112:\tb7 01 00 00 ff ff ff ff\tr1 = -0x1\n",
    "     113:\tb4 01 00 00 ff ff ff ff\tw1 = -0x1\n",
    "     114:\tb4 01 00 00 ff ff ff 7f\tw1 = 0x7fffffff\n",
    "     115:\tb4 01 00 00 00 00 00 80\tw1 = -0x80000000\n",
    "     116:\t25 01 00 00 ff ff ff ff\tif r1 > -0x1 goto +0x0 <g+0xa8>\n",
    "     117:\t26 01 ff ff 00 00 00 80\tif w1 > -0x80000000 goto -0x1 <g+0xa8>\n",
    "     118:\t7a 01 00 80 00 00 00 80\t*(u64 *)(r1 - 0x8000) = -0x80000000\n",
    "     119:\t79 21 ff 7f 00 00 00 00\tr1 = *(u64 *)(r2 + 0x7fff)\n",
    "     120:\tc3 21 00 00 40 00 00 00\tlock *(u32 *)(r1 + 0x0) |= w2\n",
    "     121:\tc3 21 00 00 50 00 00 00\tlock *(u32 *)(r1 + 0x0) &= w2\n",
    "     122:\tc3 21 00 00 a0 00 00 00\tlock *(u32 *)(r1 + 0x0) ^= w2\n",
    "     123:\tc3 21 00 00 41 00 00 00\tw2 = atomic_fetch_or((u32 *)(r1 + 0x0), w2)\n",
    "     124:\tc3 21 00 00 51 00 00 00\tw2 = atomic_fetch_and((u32 *)(r1 + 0x0), w2)\n",
    "     125:\tc3 21 00 00 a1 00 00 00\tw2 = atomic_fetch_xor((u32 *)(r1 + 0x0), w2)\n",
    "     126:\t87 01 00 00 00 00 00 00\tr1 = -r1\n",
    "     127:\t84 01 00 00 00 00 00 00\tw1 = -w1\n",
    "     128:\td4 01 00 00 10 00 00 00\tr1 = le16 r1\n",
    "     129:\tdc 01 00 00 40 00 00 00\tr1 = be64 r1\n",
    "     130:\td7 01 00 00 20 00 00 00\tr1 = bswap32 r1\n",
    "     131:\t50 30 00 00 0a 00 00 00\tr0 = *(u8 *)skb[r3]\n",
    "     132:\t48 30 00 00 ff ff ff ff\tr0 = *(u16 *)skb[r3]\n",
    "     133:\t20 00 00 00 ff ff ff ff\tr0 = *(u32 *)skb[-0x1]\n",
    "     134:\t05 00 ff ff 00 00 00 00\tgoto -0x1 <g+0x130>\n",
    "     135:\t06 00 00 00 00 00 00 80\tgotol -0x80000000 <h+0xfffffffbffffffa8>\n",
    "     136:\tbf 21 08 00 00 00 00 00\tr1 = (s8)r2\n",
    "     137:\tbc 21 08 00 00 00 00 00\tw1 = (s8)w2\n",
    "     138:\t3f 21 01 00 00 00 00 00\tr1 s/= r2\n",
    "     139:\t34 01 01 00 f9 ff ff ff\tw1 s/= -0x7\n",
    "     140:\t91 21 fe ff 00 00 00 00\tr1 = *(s8 *)(r2 - 0x2)\n",
    "     141:\t81 21 00 00 00 00 00 00\tr1 = *(s32 *)(r2 + 0x0)\n",
    "     142:\t05 00 fe ff 00 00 00 00\tgoto -0x2 <g+0x168>\n",
    "     143:\t05 00 01 00 00 00 00 00\tgoto +0x1 <g+0x188>\n",
    "     144:\t05 00 ff 7f 00 00 00 00\tgoto +0x7fff <h+0x3ffe8>\n",
    "     145:\tdb 9a f8 ff e1 00 00 00\tr9 = xchg_64(r10 - 0x8, r9)\n",
    "     146:\t95 00 00 00 00 00 00 00\texit\n",
    "\n",
    "0000000000000498 <h>:\n",
    "     147:\t18 11 00 00 ff ff ff ff 00 00 00 00 ff ff ff ff\tld_pseudo\tr1, 0x1, 0xffffffff\n",
    "     149:\t18 41 00 00 00 00 00 80 00 00 00 00 00 00 00 00\tld_pseudo\tr1, 0x4, 0x80000000\n",
    "     151:\t05 00 fc ff 00 00 00 00\tgoto -0x4 <h+0x8>\n",
    "     152:\t05 00 fa ff 00 00 00 00\tgoto -0x6 <h>\n",
    "     153:\t95 00 00 00 00 00 00 00\texit\n",
);
