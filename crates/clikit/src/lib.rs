//! What the sc command lines share: value parsers with messages that say
//! what to write instead, and the man page generated from a command's own
//! flag definitions (`--generate man`), so the docs cannot drift.

use std::io::{self, Write};

use clap::{CommandFactory, ValueEnum};

/// What `--generate` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Generate {
    /// The man page, as roff
    Man,
}

/// Write what `what` asks for about `C` to stdout; the exit status.
pub fn generate<C: CommandFactory>(program: &str, what: Generate) -> i32 {
    match what {
        Generate::Man => {
            let mut page = Vec::new();
            if let Err(e) = clap_mangen::Man::new(C::command()).render(&mut page) {
                eprintln!("{program}: rendering the man page: {e}");
                return 2;
            }
            match io::stdout().write_all(&page) {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("{program}: writing the man page: {e}");
                    2
                }
            }
        }
    }
}

/// Seconds: a number from 0 (fractions welcome).
pub fn parse_secs(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(secs) if (0.0..1e9).contains(&secs) => Ok(secs),
        _ => Err(format!(
            "`{text}` is not a number of seconds (such as 5 or 0.5)"
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsers_say_what_is_wrong() {
        assert_eq!(parse_secs("0.5"), Ok(0.5));
        assert!(parse_secs("-1").unwrap_err().contains("number of seconds"));
        assert!(parse_secs("soon").is_err());
        assert_eq!(parse_speed("4"), Ok(4.0));
        assert!(parse_speed("0").unwrap_err().contains("above 0"));
    }
}
