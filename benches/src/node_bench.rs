//! CPU share of the provider node's metering loop: `provider_node::meter::sampler::Sampler`
//! (the loop the node runs while a job runs) at 1 Hz and 10 Hz, with the simulated meter and
//! with NVML through `nvml-wrapper` loading the fake `libnvidia-ml.so.1` that
//! provider-node/tests/fake-nvml builds. Process CPU time (getrusage, all threads) over a
//! fixed wall window, minus the same window with nothing sampling.

use std::{path::PathBuf, sync::Arc, time::Duration, time::Instant};

use eyre::{bail, Context, Result};
use provider_node::meter::{nvml::NvmlMeter, sampler::Sampler, sim::SimulatedMeter, Meter};

use crate::cpu::process_cpu;

/// Builds the fake NVML library with gcc into `dir`, as provider-node's tests do.
pub fn build_fake_nvml(dir: &std::path::Path) -> Result<PathBuf> {
    let src = deployer::workspace_root().join("provider-node/tests/fake-nvml/fake_nvml.c");
    let out = dir.join("libnvidia-ml.so.1");
    let status = std::process::Command::new("gcc")
        .args(["-shared", "-fPIC", "-O1", "-o"])
        .arg(&out)
        .arg(&src)
        .status()
        .wrap_err("gcc (needed for the fake libnvidia-ml.so.1)")?;
    if !status.success() {
        bail!("gcc failed to build {}", src.display());
    }
    Ok(out)
}

struct Window {
    cpu: Duration,
    wall: Duration,
    samples: usize,
}

async fn window(
    meter: Option<Arc<dyn Meter>>,
    hz: u32,
    secs: f64,
    persist: Option<PathBuf>,
) -> Result<Window> {
    let gpus = match &meter {
        Some(m) => m.gpus().map_err(|e| eyre::eyre!("{e}"))?,
        None => Vec::new(),
    };
    let cpu0 = process_cpu();
    let t0 = Instant::now();
    let period = Duration::from_secs(1) / hz;
    // `start_persisted` is what the node runs for a job (each tick appended to the job's
    // samples.jsonl, fsynced at most once a second); `start` keeps the samples in memory only.
    let sampler = meter.map(|m| match persist {
        Some(p) => Sampler::start_persisted(m, gpus, period, Some(p)),
        None => Sampler::start(m, gpus, period),
    });
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
    let samples = sampler.map(|s| s.finish().iter().map(Vec::len).sum()).unwrap_or(0);
    Ok(Window { cpu: process_cpu() - cpu0, wall: t0.elapsed(), samples })
}

pub async fn run(secs: f64) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let fake = match build_fake_nvml(dir.path()) {
        Ok(p) => Some(p),
        Err(e) => {
            eprintln!("fake NVML not built ({e:#}); simulated meter only");
            None
        }
    };
    let mut meters: Vec<(String, Arc<dyn Meter>)> =
        vec![("simulated meter, 1 GPU".into(), Arc::new(SimulatedMeter::new(1, 90, 700)))];
    meters.push(("simulated meter, 8 GPUs".into(), Arc::new(SimulatedMeter::new(8, 90, 700))));
    if let Some(p) = &fake {
        let m = NvmlMeter::open(Some(p.as_os_str())).map_err(|e| eyre::eyre!("fake NVML: {e}"))?;
        let n = m.gpus().map_err(|e| eyre::eyre!("{e}"))?.len();
        meters.push((format!("NVML (nvml-wrapper + fake libnvidia-ml.so.1), {n} GPUs"), Arc::new(m)));
    }
    let idle = window(None, 1, secs, None).await?;
    let idle_share = idle.cpu.as_secs_f64() / idle.wall.as_secs_f64();
    println!("## Provider node: CPU share of the metering loop\n");
    println!(
        "`Sampler` of provider-node (its own thread, reads every GPU each period), {secs:.0} s wall window each, \
         process CPU from getrusage (user + system, all threads). Profile: {}. Idle process over the same \
         window: {:.3} % of one core (subtracted below).\n",
        crate::profile(),
        idle_share * 100.0
    );
    println!("| meter | sampling | samples kept | samples taken | CPU time (ms) | CPU share of one core | net of idle |");
    println!("|---|---:|---|---:|---:|---:|---:|");
    for (k, (name, m)) in meters.iter().enumerate() {
        // The 8-GPU simulated meter only in memory (it shows how the reads scale).
        let persisted: &[bool] = if k == 1 { &[false] } else { &[false, true] };
        for &persist in persisted {
            for hz in [1u32, 10] {
                let file = persist.then(|| dir.path().join(format!("samples-{k}-{hz}.jsonl")));
                let w = window(Some(m.clone()), hz, secs, file).await?;
                let share = w.cpu.as_secs_f64() / w.wall.as_secs_f64();
                println!(
                    "| {name} | {hz} Hz | {} | {} | {:.1} | {:.3} % | {:.3} % |",
                    if persist { "appended, fsync <= 1/s (the node's job path)" } else { "in memory" },
                    w.samples,
                    w.cpu.as_secs_f64() * 1e3,
                    share * 100.0,
                    (share - idle_share).max(0.0) * 100.0
                );
            }
        }
    }
    println!(
        "\nThe sampler thread wakes every 5 ms (min(5 ms, period)) to check its stop flag and the next \
         sample time, so most of its cost at 1 Hz is the wake-ups rather than the GPU reads."
    );
    Ok(())
}
