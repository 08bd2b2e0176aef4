//! sc-spawn's sandbox options (`--sandbox` and its settings), flattened
//! into [`crate::cli::Cli`].

use std::path::PathBuf;

/// How every worker is confined.
#[derive(Debug, clap::Args)]
pub struct Confine {
    /// Confine every worker (KIND: bwrap, the default; landlock; podman:IMAGE)
    ///
    /// The user's root read-only, the worker's directory and a private
    /// /tmp writable (a worktree's repository too; its hooks and config
    /// stay read-only), secrets hidden (~/.ssh, ~/.aws, ~/.gnupg, ~/.config/gh,
    /// ~/.netrc, ~/.docker, ~/.kube, … and --sandbox-hide), no network but
    /// --sandbox-net's, its own PID, IPC and user namespaces, every
    /// capability dropped. An agent kind gets its CLI's state folders
    /// writable and its model's API reached by itself (Codex's own sandbox
    /// is turned off: sc's holds the line). Needs bubblewrap (`bwrap` on
    /// the PATH, or SC_BWRAP); without it the worker does not run (fail
    /// closed). A task placed on a host or as a Slurm step is confined
    /// there, by the sc-spawn there (bubblewrap needed there).
    ///
    /// --sandbox=landlock, where user namespaces are off (HPC nodes): the
    /// kernel's Landlock (ABI 4, Linux 6.7) confines writes the same way,
    /// makes the secrets unreadable and lets TCP go only to the
    /// allow-list's proxy; it cannot hide the secrets' names, keep a
    /// repository's hooks read-only, filter UDP or give a private /tmp (a
    /// `sandbox` event says so when the worker starts).
    ///
    /// --sandbox=podman:IMAGE, for a toolchain the host lacks: the worker
    /// runs in a container of IMAGE with the same rules (its directory and
    /// the other writable places bound at their own paths, the image's
    /// root read-only, nothing else of the host there, no network but
    /// --sandbox-net's, every capability dropped); sc-spawn's variables
    /// are passed by name. No container outlives its worker. Needs podman
    /// (on the PATH, or SC_PODMAN)
    #[arg(help_heading = "Sandbox", long, value_name = "KIND", num_args = 0..=1, require_equals = true, default_missing_value = "bwrap", value_parser = parse_kind)]
    pub sandbox: Option<String>,

    /// With --sandbox: PATH is writable too (repeatable)
    #[arg(
        help_heading = "Sandbox",
        hide_short_help = true,
        long,
        value_name = "PATH",
        requires = "sandbox"
    )]
    pub sandbox_write: Vec<PathBuf>,

    /// With --sandbox: PATH is hidden too (repeatable)
    #[arg(
        help_heading = "Sandbox",
        hide_short_help = true,
        long,
        value_name = "PATH",
        requires = "sandbox"
    )]
    pub sandbox_hide: Vec<PathBuf>,

    /// With --sandbox: the network it may reach (LIST: HOST, HOST:PORT,
    /// *.DOMAIN, comma separated; `host`: the whole network)
    ///
    /// None by default (not even the machine's loopback). The hosts are
    /// reached through a proxy of sc's own on this machine (the sandbox
    /// gets HTTP_PROXY and HTTPS_PROXY): HTTPS and anything else tunnelled
    /// with CONNECT, and plain HTTP; each name asked for is checked, and a
    /// refusal is a `sandbox` event in the stream. HOST alone is any port;
    /// *.example.com is every name under example.com (not example.com
    /// itself). Repeatable
    #[arg(
        help_heading = "Sandbox",
        hide_short_help = true,
        long,
        value_name = "LIST",
        requires = "sandbox",
        value_parser = parse_net
    )]
    pub sandbox_net: Vec<String>,
}

/// A `--sandbox` kind, checked here (a usage error says the kinds).
fn parse_kind(text: &str) -> Result<String, String> {
    sc_capture::process::sandbox::Kind::parse(text)?;
    Ok(text.to_owned())
}

/// A `--sandbox-net` list, checked whole here (a usage error names the entry).
fn parse_net(text: &str) -> Result<String, String> {
    sc_capture::process::net::Net::None.add(text)?;
    Ok(text.to_owned())
}
