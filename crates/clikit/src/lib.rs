//! What the sc command lines share: value parsers with messages that say
//! what to write instead, and the man page and shell completions generated
//! from a command's own flag definitions (`--generate man|bash|zsh|fish`),
//! so the docs cannot drift.

use std::io::{self, Write};

use clap::{CommandFactory, ValueEnum};

/// What `--generate` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Generate {
    /// The man page, as roff
    Man,
    /// Completions for bash
    Bash,
    /// Completions for zsh
    Zsh,
    /// Completions for fish
    Fish,
}

/// Write what `what` asks for about `C` to stdout; the exit status.
/// clap_mangen writes a flag's long help, and a flag kept out of `-h`
/// (`hide_short_help`) with one paragraph of doc has none: it would stand
/// in the man page with no words. Its short help is its long help.
fn for_man(command: clap::Command) -> clap::Command {
    command.mut_args(|arg| match (arg.get_long_help(), arg.get_help().cloned()) {
        (None, Some(help)) if arg.is_hide_short_help_set() => arg.long_help(help),
        _ => arg,
    })
}

pub fn generate<C: CommandFactory>(program: &str, what: Generate) -> i32 {
    let mut text = Vec::new();
    let shell = match what {
        Generate::Man => {
            if let Err(e) = clap_mangen::Man::new(for_man(C::command())).render(&mut text) {
                eprintln!("{program}: rendering the man page: {e}");
                return 2;
            }
            None
        }
        Generate::Bash => Some(clap_complete::Shell::Bash),
        Generate::Zsh => Some(clap_complete::Shell::Zsh),
        Generate::Fish => Some(clap_complete::Shell::Fish),
    };
    if let Some(shell) = shell {
        clap_complete::generate(
            shell,
            &mut for_completion(C::command(), shell),
            program,
            &mut text,
        );
    }
    match io::stdout().write_all(&text) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("{program}: writing what --generate asked for: {e}");
            2
        }
    }
}

/// The command as a shell should complete it: without the internal flags
/// (hidden from --help: one sc-spawn gives another), and, for bash and
/// fish, whose generators offer a value as the next word, with a flag whose
/// value must be attached (`--pty=stdout`) offered bare: the next word is
/// the worker's command, not its value. (zsh's generator writes `--pty=`
/// rightly.)
fn for_completion(mut command: clap::Command, shell: clap_complete::Shell) -> clap::Command {
    command.build();
    let mut shown = clap::Command::new(command.get_name().to_owned())
        .disable_help_flag(true)
        .disable_version_flag(true);
    if let Some(about) = command.get_about() {
        shown = shown.about(about.clone());
    }
    if let Some(version) = command.get_version() {
        shown = shown.version(version.to_owned());
    }
    for arg in command.get_arguments().filter(|a| !a.is_hide_set()) {
        let bare = arg.is_require_equals_set() && shell != clap_complete::Shell::Zsh;
        shown = shown.arg(match (bare, arg.get_long()) {
            (true, Some(long)) => {
                let bare = clap::Arg::new(arg.get_id().clone())
                    .long(long.to_owned())
                    .action(clap::ArgAction::SetTrue);
                match arg.get_help() {
                    Some(help) => bare.help(help.clone()),
                    None => bare,
                }
            }
            _ => arg.clone(),
        });
    }
    shown
}

/// Seconds: a number from 0 (fractions welcome), with `timeout(1)`'s
/// units if wanted: `90`, `1.5`, `5s`, `10m`, `2h`, `1d`.
pub fn parse_secs(text: &str) -> Result<f64, String> {
    let (number, unit) = match text.char_indices().last() {
        Some((at, 's')) => (&text[..at], 1.0),
        Some((at, 'm')) => (&text[..at], 60.0),
        Some((at, 'h')) => (&text[..at], 3600.0),
        Some((at, 'd')) => (&text[..at], 86_400.0),
        _ => (text, 1.0),
    };
    match number.parse::<f64>().map(|n| n * unit) {
        Ok(secs) if (0.0..1e9).contains(&secs) => Ok(secs),
        _ => Err(format!(
            "`{text}` is not a duration (seconds, such as 5 or 0.5, or with a unit as timeout(1) \
             takes them: 5s, 10m, 2h, 1d)"
        )),
    }
}

/// An amount of US dollars: a number above 0.
pub fn parse_usd(text: &str) -> Result<f64, String> {
    match text.trim_start_matches('$').parse::<f64>() {
        Ok(usd) if usd > 0.0 && usd.is_finite() => Ok(usd),
        _ => Err(format!(
            "`{text}` is not an amount of dollars (a number above 0, such as 5 or 0.25)"
        )),
    }
}

/// A speed factor: a number above 0.
pub fn parse_speed(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(x) if x > 0.0 && x.is_finite() => Ok(x),
        _ => Err(format!(
            "`{text}` is not a speed (a number above 0, such as 2 or 0.5)"
        )),
    }
}

/// The worker kinds (`--kind`): `shell`, `sc`, and the agent kinds of the
/// one table (`sc_events::AGENT_KINDS`), aliases accepted but not listed.
pub fn worker_kinds(with_shell: bool) -> clap::builder::PossibleValuesParser {
    use clap::builder::PossibleValue;
    let plain = ["shell", "sc"]
        .into_iter()
        .filter(|_| with_shell)
        .map(PossibleValue::new);
    let agents = sc_events::AGENT_KINDS.iter().map(|k| {
        PossibleValue::new(k.name)
            .aliases(k.aliases.iter().copied())
            .help(k.reads)
    });
    clap::builder::PossibleValuesParser::new(plain.chain(agents))
}

/// The agent kinds that can plan (`sc-plan --planner`).
pub fn planner_kinds() -> clap::builder::PossibleValuesParser {
    clap::builder::PossibleValuesParser::new(
        sc_events::AGENT_KINDS
            .iter()
            .filter(|k| k.plans)
            .map(|k| clap::builder::PossibleValue::new(k.name)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsers_say_what_is_wrong() {
        assert_eq!(parse_secs("0.5"), Ok(0.5));
        assert!(parse_secs("-1").unwrap_err().contains("not a duration"));
        assert!(parse_secs("soon").is_err());
        assert_eq!(parse_secs("5s"), Ok(5.0));
        assert_eq!(parse_secs("1.5m"), Ok(90.0));
        assert_eq!(parse_secs("2h"), Ok(7200.0));
        assert_eq!(parse_secs("1d"), Ok(86_400.0));
        assert!(parse_secs("5x").is_err());
        assert!(parse_secs("s").is_err());
        assert_eq!(parse_speed("4"), Ok(4.0));
        assert!(parse_speed("0").unwrap_err().contains("above 0"));
    }
}
