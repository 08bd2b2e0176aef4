//! `--hosts`: the places tasks that name no host may run (GNU parallel's
//! `--sshlogin` syntax).

/// `--hosts`: a place tasks that name no host may run, and how many at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostSlots {
    /// None: this machine (`:`).
    pub host: Option<String>,
    pub slots: usize,
}

/// GNU parallel's `--sshlogin` syntax: `N/[user@]host[:port]` entries,
/// comma-separated (or one per line), `:` for this machine; N defaults to 1.
pub fn parse_hosts(list: &str) -> Result<Vec<HostSlots>, String> {
    let mut hosts = Vec::new();
    for entry in list
        .split([',', '\n'])
        .map(str::trim)
        .filter(|e| !e.is_empty() && !e.starts_with('#'))
    {
        let (slots, host) = match entry.split_once('/') {
            Some((n, host)) if n.bytes().all(|b| b.is_ascii_digit()) && !n.is_empty() => {
                let slots: usize = n
                    .parse()
                    .map_err(|_| format!("`{entry}`: `{n}` is not a number of slots"))?;
                (slots, host.trim())
            }
            _ => (1, entry),
        };
        if slots == 0 {
            return Err(format!("`{entry}`: a host needs at least 1 slot"));
        }
        if host.is_empty() {
            return Err(format!("`{entry}`: no host"));
        }
        if host != ":" {
            crate::placement::host::check_host(host)?;
        }
        hosts.push(HostSlots {
            host: (host != ":").then(|| host.to_owned()),
            slots,
        });
    }
    if hosts.is_empty() {
        return Err("the host list is empty (give `N/host,...`, or `:` for this machine)".into());
    }
    Ok(hosts)
}

#[cfg(test)]
mod host_tests {
    use super::*;

    #[test]
    fn host_lists_as_parallel_writes_them() {
        let hosts = parse_hosts("2/lab, me@box:2222\n:\n# a comment").unwrap();
        assert_eq!(
            hosts,
            [
                HostSlots {
                    host: Some("lab".into()),
                    slots: 2
                },
                HostSlots {
                    host: Some("me@box:2222".into()),
                    slots: 1
                },
                HostSlots {
                    host: None,
                    slots: 1
                },
            ]
        );
        assert!(parse_hosts("0/lab").unwrap_err().contains("at least 1"));
        assert!(parse_hosts(" , ").unwrap_err().contains("empty"));
        assert!(parse_hosts("2/a;b").unwrap_err().contains("no host name"));
    }
}
