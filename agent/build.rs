//! Builds the eBPF object (`ebpf/kvlb-ebpf`) with the nightly toolchain and
//! bpf-linker, so a plain `cargo build` produces an agent that embeds it.
//! `cargo xtask setup` installs both.

fn main() -> anyhow::Result<()> {
    // aya-build watches the program crate; the layouts it shares live here.
    println!("cargo:rerun-if-changed=../ebpf/kvlb-common/src");
    aya_build::build_ebpf(
        [aya_build::Package { name: "kvlb-ebpf", root_dir: "../ebpf/kvlb-ebpf", ..Default::default() }],
        aya_build::Toolchain::default(),
    )
}
