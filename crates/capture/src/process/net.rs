//! `--sandbox-net`: what network a sandboxed worker may reach. None by
//! default (its network namespace is empty); `host` shares the machine's
//! whole network; otherwise a list of hosts, reached through sc's own proxy
//! (see [`super::proxy`]), which checks each name asked for against it.

use std::fmt;

/// A sandboxed worker's network.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Net {
    /// Nothing: not even the machine's loopback.
    #[default]
    None,
    /// The machine's whole network (`--sandbox-net host`).
    Host,
    /// Only these hosts, through the proxy.
    Allow(Vec<Rule>),
}

/// One entry of the allow-list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    name: Name,
    /// None: any port.
    port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Name {
    /// This host exactly (lower case, no trailing dot; an address as written).
    Exact(String),
    /// `*.domain`: any name under it, not the domain itself.
    Under(String),
}

impl Net {
    /// Parse the words of `--sandbox-net` (each comma separated) and join
    /// them to `self`. Err names the entry and what a good one looks like.
    pub fn add(&mut self, list: &str) -> Result<(), String> {
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            if entry.eq_ignore_ascii_case("host") {
                *self = Net::Host;
                continue;
            }
            let rule = Rule::parse(entry)?;
            match self {
                Net::Host => {}
                Net::None => *self = Net::Allow(vec![rule]),
                Net::Allow(rules) => {
                    if !rules.contains(&rule) {
                        rules.push(rule);
                    }
                }
            }
        }
        Ok(())
    }

    /// `self` with `other`'s hosts too (the run's and a task's own).
    pub fn join(&mut self, other: &Net) {
        match (&mut *self, other) {
            (_, Net::None) | (Net::Host, _) => {}
            (_, Net::Host) => *self = Net::Host,
            (Net::None, Net::Allow(_)) => *self = other.clone(),
            (Net::Allow(mine), Net::Allow(theirs)) => {
                for rule in theirs {
                    if !mine.contains(rule) {
                        mine.push(rule.clone());
                    }
                }
            }
        }
    }

    /// Whether a connection to `host:port` is allowed.
    pub fn allows(&self, host: &str, port: u16) -> bool {
        match self {
            Net::None => false,
            Net::Host => true,
            Net::Allow(rules) => {
                let host = normalize(host);
                rules.iter().any(|rule| rule.matches(&host, port))
            }
        }
    }

    /// The words that give this back to [`Net::add`] (for a placed task's
    /// line, and for messages).
    pub fn words(&self) -> Vec<String> {
        match self {
            Net::None => Vec::new(),
            Net::Host => vec!["host".to_owned()],
            Net::Allow(rules) => rules.iter().map(Rule::to_string).collect(),
        }
    }
}

impl Rule {
    fn parse(entry: &str) -> Result<Rule, String> {
        let bad = |why: &str| {
            format!(
                "--sandbox-net: `{entry}` {why}: give HOST, HOST:PORT, *.DOMAIN, [IPv6]:PORT or \
                 `host` (the whole network), comma separated"
            )
        };
        let (name, port) = split_port(entry).map_err(|why| bad(&why))?;
        let name = normalize(name);
        let name = match name.strip_prefix("*.") {
            Some(domain) => {
                check_name(domain).map_err(|why| bad(&why))?;
                Name::Under(domain.to_owned())
            }
            None => {
                check_name(&name).map_err(|why| bad(&why))?;
                Name::Exact(name)
            }
        };
        Ok(Rule { name, port })
    }

    fn matches(&self, host: &str, port: u16) -> bool {
        if self.port.is_some_and(|p| p != port) {
            return false;
        }
        match &self.name {
            Name::Exact(name) => name == host,
            Name::Under(domain) => host
                .strip_suffix(domain.as_str())
                .is_some_and(|head| head.len() > 1 && head.ends_with('.')),
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match &self.name {
            Name::Exact(name) if name.contains(':') => format!("[{name}]"),
            Name::Exact(name) => name.clone(),
            Name::Under(domain) => format!("*.{domain}"),
        };
        match self.port {
            Some(port) => write!(f, "{name}:{port}"),
            None => f.write_str(&name),
        }
    }
}

/// `host`, `host:port`, `[v6]`, `[v6]:port`.
fn split_port(entry: &str) -> Result<(&str, Option<u16>), String> {
    let port = |p: &str| {
        p.parse::<u16>()
            .ok()
            .filter(|&p| p > 0)
            .map(Some)
            .ok_or_else(|| format!("has no port 1-65535 after its colon (`{p}`)"))
    };
    if let Some(rest) = entry.strip_prefix('[') {
        let (addr, after) = rest
            .split_once(']')
            .ok_or("opens a `[` it does not close")?;
        return match after {
            "" => Ok((addr, None)),
            _ => match after.strip_prefix(':') {
                Some(p) => Ok((addr, port(p)?)),
                None => Err("has something after its `]` that is no `:PORT`".to_owned()),
            },
        };
    }
    match entry.split_once(':') {
        Some((_, rest)) if rest.contains(':') => {
            Err("looks like an IPv6 address: write it in brackets, [ADDR]:PORT".to_owned())
        }
        Some((name, p)) => Ok((name, port(p)?)),
        None => Ok((entry, None)),
    }
}

/// Lower case, no trailing dot, no brackets: how names are compared.
fn normalize(host: &str) -> String {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.trim_end_matches('.').to_ascii_lowercase()
}

fn check_name(name: &str) -> Result<(), String> {
    if name.parse::<std::net::IpAddr>().is_ok() {
        return Ok(());
    }
    let fine = |label: &str| {
        !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if name.is_empty() || name.len() > 253 || !name.split('.').all(fine) {
        return Err("is no host name or address".to_owned());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(list: &str) -> Net {
        let mut net = Net::None;
        net.add(list).unwrap();
        net
    }

    #[test]
    fn names_ports_and_domains_are_matched_as_written() {
        let net = net("Example.com, api.test:8443,*.npmjs.org,127.0.0.1:9,[::1]:80");
        assert!(net.allows("example.com", 443));
        assert!(
            net.allows("EXAMPLE.com.", 80),
            "any port, any case, a trailing dot"
        );
        assert!(
            !net.allows("www.example.com", 443),
            "a name is that name only"
        );
        assert!(net.allows("api.test", 8443));
        assert!(!net.allows("api.test", 443), "that port only");
        assert!(net.allows("registry.npmjs.org", 443));
        assert!(
            !net.allows("npmjs.org", 443),
            "*.domain is what is under it"
        );
        assert!(!net.allows("evilnpmjs.org", 443));
        assert!(net.allows("127.0.0.1", 9));
        assert!(!net.allows("127.0.0.1", 10));
        assert!(net.allows("[::1]", 80) && net.allows("::1", 80));
        assert_eq!(
            net.words(),
            [
                "example.com",
                "api.test:8443",
                "*.npmjs.org",
                "127.0.0.1:9",
                "[::1]:80"
            ]
        );
    }

    #[test]
    fn nothing_by_default_and_everything_with_host() {
        assert!(!Net::None.allows("example.com", 443));
        assert_eq!(net("example.com,host"), Net::Host);
        let mut joined = net("a.test");
        joined.join(&net("b.test:1"));
        assert!(joined.allows("a.test", 5) && joined.allows("b.test", 1));
        joined.join(&Net::Host);
        assert_eq!(joined, Net::Host);
    }

    #[test]
    fn a_bad_entry_is_named_with_what_to_give() {
        for bad in [
            "exa mple.com",
            "a.test:0",
            "a.test:http",
            "::1",
            "[::1",
            "*.",
            "a..b",
            "/x",
        ] {
            let e = Net::None.add(bad).unwrap_err();
            assert!(
                e.contains(&format!("`{bad}`")) && e.contains("HOST:PORT"),
                "{e}"
            );
        }
    }
}
