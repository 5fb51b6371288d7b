//! Prints what calling a Stylus program costs before it runs (nitro's model, see README
//! "Gas"): footprint, init and cached-init costs, and the per-call gas.
//!
//! ```sh
//! cargo run -p devnet --example program_costs -- target/wasm32-unknown-unknown/release/compute_token.wasm
//! ```

use devnet::stylus::meter::{instrument, memory_gas};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let paths: Vec<String> = std::env::args().skip(1).collect();
    if paths.is_empty() {
        return Err("usage: program_costs WASM...".into());
    }
    println!("| wasm | bytes | pages | init_cost | cached_init_cost | call gas (init + cached + first-frame pages) |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    for path in paths {
        let wasm = std::fs::read(&path).map_err(|e| format!("{path}: {e}"))?;
        let c = instrument(&wasm).map_err(|e| format!("{path}: {e}"))?.costs;
        let gas = c.call_gas() + memory_gas(c.footprint, 0, 0);
        println!(
            "| {path} | {} | {} | {} | {} | {gas} |",
            wasm.len(),
            c.footprint,
            c.init_cost,
            c.cached_init_cost
        );
    }
    Ok(())
}
