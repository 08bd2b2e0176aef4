//! A host's name, as a plan line or `--hosts` gives it: checked before it
//! reaches ssh's command line, and split into name and port.

/// A host as a plan line or `--hosts` gives it is checked before it
/// reaches ssh's command line: one that starts with `-` would be an ssh
/// option, and anything beyond the characters of `[user@]host[:port]`,
/// an IPv6 address or an ssh config alias is refused, because ssh hands
/// the name on to shells (`ProxyCommand ... %h`, `Match exec`,
/// `LocalCommand`): `$ ( ) ; | & ' "` or a backquote there would run.
pub fn check_host(host: &str) -> Result<(), String> {
    if host.starts_with('-') {
        return Err(format!(
            "host `{host}` starts with `-`: that is no host name (ssh would take it as an option)"
        ));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || "._-@:[]%+".contains(c);
    if let Some(bad) = host.chars().find(|&c| !allowed(c)) {
        let shown = if bad.is_control() || bad.is_whitespace() {
            format!("{bad:?}")
        } else {
            format!("`{bad}`")
        };
        return Err(format!(
            "host {host:?} is no host name ({shown} is not allowed; ssh would hand it on to a shell): \
             give `[user@]host[:port]` or an ssh config alias of letters, digits and `._-@:[]%+`"
        ));
    }
    if host.is_empty() {
        return Err("an empty host is no host name: give `[user@]host[:port]`".into());
    }
    Ok(())
}

/// `user@host:port` → (`user@host`, Some(port)); an alias stays as it is.
pub fn host_and_port(host: &str) -> (&str, Option<&str>) {
    match host.rsplit_once(':') {
        Some((name, port))
            if !name.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) && !port.is_empty() =>
        {
            (name, Some(port))
        }
        _ => (host, None),
    }
}
