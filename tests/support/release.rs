//! The release artefacts for the release tests, built from this checkout by the same scripts
//! the release workflow runs: the static binary (scripts/release-build.sh, once per test
//! process; cargo makes a second build cost seconds) and the release layout
//! (scripts/release-layout.sh).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// A command's output as text (lossy UTF-8).
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A command's exit status, stdout and stderr, for an assertion message.
pub fn describe(output: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        output.status.code(),
        text(&output.stdout),
        text(&output.stderr)
    )
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The release target of this machine, e.g. `x86_64-unknown-linux-gnu`.
pub fn host_target() -> String {
    format!("{}-unknown-linux-gnu", std::env::consts::ARCH)
}

/// `owner/name` of Cargo.toml's `repository`: the project's one repository setting.
pub fn repository() -> String {
    let manifest = std::fs::read_to_string(repo_root().join("Cargo.toml")).unwrap();
    let url = manifest
        .lines()
        .find_map(|l| l.strip_prefix("repository = \""))
        .and_then(|l| l.strip_suffix('"'))
        .expect("Cargo.toml names its repository");
    url.strip_prefix("https://github.com/")
        .expect("a GitHub repository")
        .to_string()
}

/// The static release binary for this machine.
pub fn static_binary() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY
        .get_or_init(|| {
            let output = Command::new("nice")
                .arg(repo_root().join("scripts/release-build.sh"))
                .output()
                .expect("scripts/release-build.sh runs");
            eprint!("{}", String::from_utf8_lossy(&output.stderr));
            assert!(
                output.status.success(),
                "scripts/release-build.sh failed:\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
            let path = String::from_utf8(output.stdout).unwrap();
            repo_root().join(path.trim())
        })
        .clone()
}

/// Lays the release out in `out` as the release workflow does, for this machine's target.
pub fn lay_out_release(out: &Path) {
    let output = Command::new(repo_root().join("scripts/release-layout.sh"))
        .arg(format!("v{VERSION}"))
        .arg(out)
        .arg(format!("{}={}", host_target(), static_binary().display()))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "scripts/release-layout.sh failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The commit `cisgate --version` of a build of this checkout reports: `CISGATE_COMMIT` when
/// set, else git's HEAD (as build.rs decides).
pub fn expected_commit() -> String {
    if let Some(commit) = std::env::var("CISGATE_COMMIT")
        .ok()
        .filter(|c| !c.trim().is_empty())
    {
        return commit.trim().to_string();
    }
    Command::new("git")
        .args(["rev-parse", "--verify", "HEAD"])
        .current_dir(repo_root())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".to_string())
}

/// Whether an ELF file is position independent (`ET_DYN`: a PIE or a shared library), not
/// an executable linked at a fixed address (`ET_EXEC`).
pub fn is_position_independent(elf: &[u8]) -> bool {
    let object_type = Elf64::new(elf).u16_at(0x10);
    assert!(
        matches!(object_type, 2 | 3),
        "an executable or PIE: {object_type}"
    );
    object_type == 3
}

/// Whether an ELF file has a section of packed relative relocations (`SHT_RELR`).
pub fn has_packed_relative_relocations(elf: &[u8]) -> bool {
    const SHT_RELR: u32 = 19;
    Elf64::new(elf).section_types().any(|kind| kind == SHT_RELR)
}

/// Whether an ELF file asks for a program interpreter (a dynamic loader): a static binary
/// (static-pie included) does not.
pub fn has_program_interpreter(elf: &[u8]) -> bool {
    const PT_INTERP: u32 = 3;
    Elf64::new(elf)
        .segment_types()
        .any(|kind| kind == PT_INTERP)
}

/// A 64-bit little-endian ELF file's header fields and the types in its two header tables.
struct Elf64<'a>(&'a [u8]);

impl<'a> Elf64<'a> {
    fn new(elf: &'a [u8]) -> Self {
        assert_eq!(&elf[..4], b"\x7fELF", "an ELF file");
        assert_eq!(elf[4], 2, "64-bit");
        assert_eq!(elf[5], 1, "little-endian");
        Elf64(elf)
    }

    fn u16_at(&self, at: usize) -> u16 {
        u16::from_le_bytes(self.0[at..at + 2].try_into().unwrap())
    }

    fn u32_at(&self, at: usize) -> u32 {
        u32::from_le_bytes(self.0[at..at + 4].try_into().unwrap())
    }

    fn u64_at(&self, at: usize) -> usize {
        u64::from_le_bytes(self.0[at..at + 8].try_into().unwrap()) as usize
    }

    /// `p_type` of every program header (segment).
    fn segment_types(&self) -> impl Iterator<Item = u32> + '_ {
        self.table(self.u64_at(0x20), self.u16_at(0x36), self.u16_at(0x38), 0)
    }

    /// `sh_type` of every section header.
    fn section_types(&self) -> impl Iterator<Item = u32> + '_ {
        self.table(self.u64_at(0x28), self.u16_at(0x3a), self.u16_at(0x3c), 4)
    }

    /// The `u32` at `field` of each of `count` entries of `entry_size` bytes from `offset`.
    fn table(
        &self,
        offset: usize,
        entry_size: u16,
        count: u16,
        field: usize,
    ) -> impl Iterator<Item = u32> + '_ {
        (0..usize::from(count))
            .map(move |i| self.u32_at(offset + i * usize::from(entry_size) + field))
    }
}

/// A function's section in a link map: its symbol, address and size.
pub struct LinkedFunction {
    pub symbol: String,
    pub address: u64,
    pub size: u64,
}

/// The functions of a link map written by lld (`-Map`) that the compiler put in sections of
/// their own (`.text.<symbol>`, `.text.unlikely.<symbol>`, ...); a C library's `.text`
/// sections, which hold many functions, are left out.
pub fn linked_functions(link_map: &str) -> Vec<LinkedFunction> {
    link_map
        .lines()
        .filter_map(|line| {
            // `VMA LMA Size Align` in hex (Align decimal), then `file:(section)`.
            let mut fields = line.split_whitespace();
            let address = u64::from_str_radix(fields.next()?, 16).ok()?;
            let _lma = fields.next()?;
            let size = u64::from_str_radix(fields.next()?, 16).ok()?;
            let _align = fields.next()?;
            let section = fields.next()?.rsplit_once(":(")?.1.strip_suffix(')')?;
            let symbol = [".text.unlikely.", ".text.hot.", ".text.startup.", ".text."]
                .iter()
                .find_map(|prefix| section.strip_prefix(prefix))?;
            Some(LinkedFunction {
                symbol: symbol.to_string(),
                address,
                size,
            })
        })
        .collect()
}

/// A Rust symbol's name without the hashes rustc puts in it (scripts/symbol-order.awk's key):
/// a legacy name's `17h<16 hex digits>E` end, a v0 name's crate hashes (`Cs<base-62>_`).
pub fn symbol_without_hashes(symbol: &str) -> String {
    if let Some(body) = symbol.strip_prefix("_ZN") {
        if let Some((path, hash)) = body.rsplit_once("17h") {
            if hash.len() == 17 && hash.ends_with('E') {
                return format!("_ZN{path}E");
            }
        }
        return symbol.to_string();
    }
    if !symbol.starts_with("_R") {
        return symbol.to_string();
    }
    let mut out = String::with_capacity(symbol.len());
    let mut rest = symbol;
    while let Some(at) = rest.find("Cs") {
        out.push_str(&rest[..at + 2]);
        rest = &rest[at + 2..];
        let hash = rest
            .find(|c: char| !c.is_ascii_alphanumeric())
            .filter(|&end| end > 0 && rest[end..].starts_with('_'));
        if let Some(end) = hash {
            rest = &rest[end..];
        }
    }
    out.push_str(rest);
    out
}
