//! Project tasks, run from the repository root:
//!
//! * `cargo run -p xtask -- sizes` builds every contract for wasm32 in release, compresses
//!   it as Stylus does (brotli, quality 11) and prints raw and compressed sizes against the
//!   24 KiB limit; it fails above the limit.
//! * `cargo run -p xtask -- abi` writes `abi/I<Contract>.sol` (functions, errors with
//!   parameter names, events) and `abi/<Contract>.json` (compiled from that interface by
//!   solc-js); `abi --check` regenerates into a temporary folder and fails if `abi/` differs.

use anyhow::{bail, ensure, Context, Result};
use clap::{Parser, Subcommand};
use std::{
    fs,
    io::Write,
    path::{Path, PathBuf},
    process::Command,
};

/// Arbitrum's limit on a Stylus program: 24 KiB of compressed wasm (EIP-170's code size).
const STYLUS_LIMIT: usize = 24 * 1024;
/// The project's own target, leaving room to grow.
const PROJECT_TARGET: usize = 20 * 1024;
/// Deployed code is `EF F0 00` followed by the compressed wasm.
const STYLUS_PREFIX_LEN: usize = 3;

#[derive(Parser)]
#[command(about = "Project tasks: contract size gate and ABI generation")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Build every contract for wasm32 (release) and print the size table; fails above 24 KiB.
    Sizes {
        /// Skip the build and measure the wasm already in the target directory.
        #[arg(long)]
        no_build: bool,
    },
    /// Generate abi/ from the contracts (or check that it is fresh with --check).
    Abi {
        #[arg(long)]
        check: bool,
    },
}

/// A deployable contract: a crate under contracts/ with a Stylus.toml.
struct Contract {
    /// Cargo package name, e.g. `compute-token`.
    package: String,
    /// Solidity-style name, e.g. `ComputeToken`.
    name: String,
}

fn main() -> Result<()> {
    let root = repo_root()?;
    std::env::set_current_dir(&root)?;
    match Cli::parse().task {
        Task::Sizes { no_build } => sizes(&root, no_build),
        Task::Abi { check } => abi(&root, check),
    }
}

fn repo_root() -> Result<PathBuf> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    Ok(manifest.parent().and_then(Path::parent).context("xtask lives in scripts/xtask")?.to_path_buf())
}

fn contracts(root: &Path) -> Result<Vec<Contract>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(root.join("contracts"))? {
        let dir = entry?.path();
        if !dir.join("Stylus.toml").exists() {
            continue;
        }
        let package = dir.file_name().unwrap().to_string_lossy().into_owned();
        let name = package
            .split('-')
            .map(|w| {
                let mut c = w.chars();
                c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
            })
            .collect();
        out.push(Contract { package, name });
    }
    out.sort_by(|a, b| a.package.cmp(&b.package));
    ensure!(!out.is_empty(), "no contracts found under contracts/*/Stylus.toml");
    Ok(out)
}

fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root.join("target"))
}

fn run(cmd: &mut Command) -> Result<Vec<u8>> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        std::io::stderr().write_all(&out.stderr)?;
        bail!("{cmd:?} failed with {}", out.status);
    }
    Ok(out.stdout)
}

/// Brotli at quality 11 with a 4 MiB window: the compression Arbitrum applies to programs.
pub fn stylus_compress(wasm: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    {
        let mut w = brotli::CompressorWriter::new(&mut out, 4096, 11, 22);
        w.write_all(wasm)?;
    }
    Ok(out)
}

fn sizes(root: &Path, no_build: bool) -> Result<()> {
    let contracts = contracts(root)?;
    if !no_build {
        eprintln!("building {} contracts for wasm32-unknown-unknown (release)...", contracts.len());
        let mut cmd = Command::new("cargo");
        cmd.args(["build", "--release", "--locked", "--target", "wasm32-unknown-unknown"]);
        for c in &contracts {
            cmd.args(["-p", &c.package]);
        }
        let status = cmd.status()?;
        ensure!(status.success(), "contract build failed");
    }
    let dir = target_dir(root).join("wasm32-unknown-unknown/release");
    println!("| contract | raw wasm (bytes) | compressed (bytes) | share of 24 KiB |");
    println!("|---|---:|---:|---:|");
    let mut over = Vec::new();
    for c in &contracts {
        let path = dir.join(format!("{}.wasm", c.package.replace('-', "_")));
        let wasm = fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let deployed = stylus_compress(&wasm)?.len() + STYLUS_PREFIX_LEN;
        let share = deployed as f64 * 100.0 / STYLUS_LIMIT as f64;
        let note = if deployed > STYLUS_LIMIT {
            over.push(c.package.clone());
            " OVER LIMIT"
        } else if deployed > PROJECT_TARGET {
            " (above the 20 KiB target)"
        } else {
            ""
        };
        println!("| {} | {} | {} | {:.1}%{} |", c.package, wasm.len(), deployed, share, note);
    }
    println!("\ncompressed = brotli quality 11 + the 3-byte EF F0 00 prefix, as deployed; limit {STYLUS_LIMIT} bytes");
    ensure!(over.is_empty(), "contracts over the 24 KiB Stylus limit: {}", over.join(", "));
    Ok(())
}

/// Turns `stringify!`-ed declarations back into one declaration per line.
fn declarations(tokens: &str) -> Vec<String> {
    tokens
        .split(';')
        .map(|d| d.split_whitespace().collect::<Vec<_>>().join(" "))
        .map(|d| d.replace(" (", "(").replace("( ", "(").replace(" )", ")").replace(" ,", ","))
        .filter(|d| !d.is_empty())
        .map(|d| format!("{d};"))
        .collect()
}

/// The SDK names parameters as in Rust (`class_id`); Solidity interfaces, and the
/// TypeScript bindings generated from them, use camelCase (`classId`).
fn camel_case_params(line: &str) -> String {
    if !line.trim_start().starts_with("function ") {
        return line.to_owned();
    }
    let mut out = String::with_capacity(line.len());
    let mut upper_next = false;
    for c in line.chars() {
        if c == '_' {
            upper_next = true;
        } else if upper_next {
            out.push(c.to_ascii_uppercase());
            upper_next = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// Programs that serve another program's address through its fallback (a delegate call):
/// their functions belong to that program's interface, and they get none of their own.
const DELEGATES: &[(&str, &str)] = &[("amm-liquidity", "amm")];

/// One program's export: its function lines (as the SDK prints them, inside the
/// interface body), its error and its event declarations.
fn export(package: &str) -> Result<(Vec<String>, Vec<String>, Vec<String>)> {
    let out = run(Command::new("cargo").args([
        "run",
        "--quiet",
        "--locked",
        "-p",
        package,
        "--features",
        "export-abi",
        "--bin",
        &format!("{package}-abi"),
    ]))?;
    let text = String::from_utf8(out)?;
    let (sdk, rest) = text.split_once("// errors\n").context("export has no '// errors' section")?;
    let (errors, events) = rest.split_once("// events\n").context("export has no '// events' section")?;
    let close = sdk.rfind('}').context("export has no interface body")?;
    let body =
        sdk[..close].lines().filter(|l| !l.trim_start().starts_with("error ")).map(str::to_owned).collect();
    Ok((body, declarations(errors), declarations(events)))
}

/// The interface the SDK exports, with its nameless errors replaced by the contract's own
/// declarations and the events added; the functions of its delegates are merged in.
fn interface_for(c: &Contract) -> Result<String> {
    let (mut body, mut errors, mut events) = export(&c.package)?;
    for (delegate, _) in DELEGATES.iter().filter(|(_, host)| *host == c.package) {
        let (d_body, d_errors, d_events) = export(delegate)?;
        while body.last().is_some_and(|l| l.trim().is_empty()) {
            body.pop();
        }
        // The delegate's functions: the lines after its `interface X {` line.
        let start = d_body.iter().position(|l| l.trim_start().starts_with("interface ")).map_or(0, |i| i + 1);
        body.push(String::new());
        body.push(format!("    // served by the `{delegate}` program through the fallback"));
        body.extend(d_body[start..].iter().cloned());
        for e in d_errors {
            if !errors.contains(&e) {
                errors.push(e);
            }
        }
        for e in d_events {
            if !events.contains(&e) {
                events.push(e);
            }
        }
    }
    while body.last().is_some_and(|l| l.trim().is_empty()) {
        body.pop();
    }
    let mut s = String::new();
    for line in body {
        s.push_str(&camel_case_params(&line));
        s.push('\n');
    }
    for e in errors {
        s.push_str(&format!("\n    {e}\n"));
    }
    for e in events {
        s.push_str(&format!("\n    {e}\n"));
    }
    s.push_str("}\n");
    let header = "// Generated by `cargo run -p xtask -- abi` from the Stylus contract; do not edit.\n";
    Ok(format!("{header}{}", s.trim_start_matches('\n')))
}

fn generate(root: &Path, out_dir: &Path) -> Result<()> {
    fs::create_dir_all(out_dir)?;
    let contracts = contracts(root)?;
    for c in contracts.iter().filter(|c| !DELEGATES.iter().any(|(d, _)| *d == c.package)) {
        eprintln!("exporting the ABI of {}", c.package);
        fs::write(out_dir.join(format!("I{}.sol", c.name)), interface_for(c)?)?;
    }
    // JSON ABIs: compile the interfaces with the Solidity compiler (solc-js).
    let script = root.join("scripts/abi-json.cjs");
    run(Command::new("node").arg(&script).arg(out_dir))
        .context("compiling the interfaces to JSON with solc-js (run `npm ci --prefix scripts` first)")?;
    Ok(())
}

fn abi(root: &Path, check: bool) -> Result<()> {
    let abi_dir = root.join("abi");
    if !check {
        return generate(root, &abi_dir);
    }
    let tmp = target_dir(root).join("abi-check");
    let _ = fs::remove_dir_all(&tmp);
    generate(root, &tmp)?;
    let mut stale = Vec::new();
    let mut names: Vec<_> =
        fs::read_dir(&tmp)?.map(|e| e.map(|e| e.file_name())).collect::<Result<_, _>>()?;
    let committed: Vec<_> = fs::read_dir(&abi_dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.file_name())).collect())
        .unwrap_or_else(|_| Vec::new());
    for n in &committed {
        let is_generated = n.to_string_lossy().ends_with(".json") || n.to_string_lossy().ends_with(".sol");
        if is_generated && !names.contains(n) {
            stale.push(format!("{} (no longer generated)", n.to_string_lossy()));
        }
    }
    names.sort();
    for n in names {
        let fresh = fs::read(tmp.join(&n))?;
        match fs::read(abi_dir.join(&n)) {
            Ok(old) if old == fresh => {}
            Ok(_) => stale.push(format!("{} (differs)", n.to_string_lossy())),
            Err(_) => stale.push(format!("{} (missing)", n.to_string_lossy())),
        }
    }
    if !stale.is_empty() {
        bail!("abi/ is stale: {}. Run `cargo run -p xtask -- abi` and commit abi/.", stale.join(", "));
    }
    println!("abi/ is fresh ({} contracts)", contracts(root)?.len());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declarations_are_split_and_tidied() {
        let d = declarations(
            "event A(address indexed a, uint256 b); event\nB(); error C(uint256 x , address y );",
        );
        assert_eq!(
            d,
            ["event A(address indexed a, uint256 b);", "event B();", "error C(uint256 x, address y);"]
        );
    }

    #[test]
    fn parameters_become_camel_case_in_functions_only() {
        assert_eq!(
            camel_case_params("    function openJob(bytes32 class_id, uint256 gpu_seconds) external;"),
            "    function openJob(bytes32 classId, uint256 gpuSeconds) external;"
        );
        assert_eq!(camel_case_params("// a_comment"), "// a_comment");
    }

    #[test]
    fn compression_round_trips() {
        let data = b"\0asm some wasm bytes some wasm bytes".repeat(50);
        let c = stylus_compress(&data).unwrap();
        assert!(c.len() < data.len());
        let mut back = Vec::new();
        brotli::BrotliDecompress(&mut &c[..], &mut back).unwrap();
        assert_eq!(back, data);
    }
}
