//! What a run measures: workloads (a trace, the fleet's flags, the client's
//! connection mode) and the load points of each, for quick and full mode.
//!
//! The fleet defaults to the `l4-8b` profile: a replica saturates at a few
//! requests per second, so the fleet saturates at loads this 2-core machine
//! generates and proxies without becoming the bottleneck itself, and its
//! 30.8 k-token KV cache makes prefix placement matter.

/// One workload.
pub struct Workload {
    /// Name in tables and file names.
    pub name: &'static str,
    /// What it shows.
    pub about: &'static str,
    /// `kvlb-loadgen generate` arguments (seed and model are added).
    pub generate: Vec<String>,
    /// Extra `kvlb-sim fleet` flags.
    pub fleet: Vec<String>,
    /// LoRA adapters the replicas serve beside the base model.
    pub adapters: Vec<String>,
    /// Client connection mode (`keep-alive` or `new`).
    pub connection: &'static str,
    /// Load points, requests per model second.
    pub qps: Vec<f64>,
}

fn args(s: &str) -> Vec<String> {
    s.split_whitespace().map(String::from).collect()
}

/// The workloads of a mode.
pub fn workloads(full: bool) -> Vec<Workload> {
    // 16 system prompts of 2,048 tokens: 32 k tokens, more than one L4
    // replica's cache, an eighth of the fleet's. Round robin makes every
    // replica hold every prefix; a cache-aware router gives each two.
    let per_group = if full { 24 } else { 16 };
    let mut list = vec![
        Workload {
            name: "shared-prefix",
            about: "16 groups of requests sharing a 2,048-token system prompt, 128-token questions, 64 output tokens",
            generate: args(&format!(
                "shared-prefix --groups 16 --prompts-per-group {per_group} --system-tokens 2048 --question-tokens 128 --output-tokens 64"
            )),
            fleet: Vec::new(),
            adapters: Vec::new(),
            connection: "keep-alive",
            qps: if full {
                vec![8.0, 16.0, 24.0, 32.0]
            } else {
                vec![10.0, 20.0]
            },
        },
        Workload {
            name: "bursty",
            about: "unique prompts (ShareGPT-like lengths, median 256 in / 64 out) in 2 s bursts every 5 s",
            generate: args(&format!(
                "bursty --requests {} --on-ms 2000 --off-ms 3000 --output-median 64 --output-max 256",
                if full { 300 } else { 150 }
            )),
            fleet: Vec::new(),
            adapters: Vec::new(),
            connection: "new",
            qps: if full {
                vec![6.0, 12.0, 18.0]
            } else {
                vec![16.0]
            },
        },
    ];
    if full {
        list.push(Workload {
            name: "sharegpt",
            about: "unique prompts, ShareGPT-like lengths (median 256 in / 128 out), Poisson arrivals",
            generate: args("sharegpt --requests 240"),
            fleet: Vec::new(),
            adapters: Vec::new(),
            connection: "keep-alive",
            qps: vec![10.0, 20.0],
        });
        list.push(Workload {
            name: "multi-model",
            about: "a base model and three LoRA adapters (2 adapter slots per replica), ShareGPT-like lengths",
            generate: args("multi-model --requests 240 --adapters lora-a,lora-b,lora-c"),
            fleet: args("--lora-modules lora-a,lora-b,lora-c --max-loras 2"),
            adapters: args("lora-a lora-b lora-c"),
            connection: "keep-alive",
            qps: vec![10.0, 20.0],
        });
    }
    list
}
