//! Flags of `docker build` and `docker buildx build` that ask kiln for
//! nothing it does not already do, accepted so that scripts written for
//! them run unchanged: kiln keeps no intermediate containers (`--rm`,
//! `--force-rm`), sends no context anywhere (`--compress`), always puts
//! the image in its store (`--load`), and checks no signatures
//! (`--disable-content-trust`, true by default in Docker too). The
//! attestation flags are refused only when they ask for attestations,
//! which kiln does not make.

use anyhow::bail;

#[derive(clap::Args, Debug)]
#[command(next_help_heading = "Accepted for Docker (they change nothing)")]
pub struct Compat {
    /// Remove intermediate containers (there are none)
    #[arg(long)]
    rm: bool,
    /// Always remove intermediate containers (there are none)
    #[arg(long = "force-rm")]
    force_rm: bool,
    /// Load the image into the store (it always is)
    #[arg(long)]
    load: bool,
    /// Compress the context (it is read in place)
    #[arg(long)]
    compress: bool,
    /// Skip image verification (kiln verifies digests, not signatures)
    #[arg(long = "disable-content-trust")]
    disable_content_trust: bool,
    /// Container isolation: only `default` on Linux
    #[arg(long, value_name = "default")]
    isolation: Option<String>,
    /// Provenance attestation: only `false` (kiln makes none)
    #[arg(long, value_name = "false")]
    provenance: Option<String>,
    /// SBOM attestation: only `false` (kiln makes none)
    #[arg(long, value_name = "false")]
    sbom: Option<String>,
}

impl Compat {
    /// Refuses what would ask for something kiln does not do. The switches
    /// are Docker's defaults or ask for what kiln always does, either way.
    pub fn check(&self) -> anyhow::Result<()> {
        let _always_so = (
            self.rm,
            self.force_rm,
            self.load,
            self.compress,
            self.disable_content_trust,
        );
        if let Some(i) = self.isolation.as_deref().filter(|i| *i != "default") {
            bail!("--isolation {i:?}: only \"default\" is supported on Linux");
        }
        for (flag, value) in [("--provenance", &self.provenance), ("--sbom", &self.sbom)] {
            if let Some(v) = value.as_deref().filter(|v| !matches!(*v, "false" | "0")) {
                bail!("{flag}={v}: kiln makes no attestations; leave the flag out or give {flag}=false");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        compat: Compat,
    }

    fn check(args: &[&str]) -> anyhow::Result<()> {
        let cli = Cli::try_parse_from([&["build"], args].concat())?;
        cli.compat.check()
    }

    #[test]
    fn what_asks_for_nothing_is_taken_and_attestations_are_refused() {
        check(&[
            "--rm",
            "--force-rm",
            "--load",
            "--compress",
            "--isolation",
            "default",
        ])
        .unwrap();
        check(&["--provenance", "false", "--sbom", "false"]).unwrap();
        assert!(check(&["--isolation", "hyperv"]).is_err());
        let err = check(&["--provenance", "mode=max"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("no attestations"), "{err}");
        assert!(check(&["--sbom", "true"]).is_err());
    }
}
