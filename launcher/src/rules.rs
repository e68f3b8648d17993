//! `run --loopback`, `--exclude`, `--exclude-port`, `--include`,
//! `--include-port` and `--no-listen`: turned into the one canonical text
//! the shim reads from `MPTCPIZE_RS_RULES` (and the seccomp supervisor
//! parses), and validated with the shim's own parser (the contract
//! crate's), so the launcher refuses exactly what the shim would not
//! understand.

use mptcpize_contract::rules as grammar;

/// Read by the shim at load: the canonical rules text.
pub const RULES_VAR: &str = mptcpize_contract::env::RULES.name();

/// The rule options of `run`, as given on the command line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleOptions {
    pub loopback: bool,
    pub no_listen: bool,
    pub exclude: Vec<String>,
    pub exclude_ports: Vec<String>,
    pub include: Vec<String>,
    pub include_ports: Vec<String>,
}

impl RuleOptions {
    /// The canonical text for the shim, `None` for the defaults (nothing to
    /// pass), or a message naming the option at fault.
    pub fn canonical(&self) -> Result<Option<String>, String> {
        if *self == RuleOptions::default() {
            return Ok(None);
        }
        for (flag, values, parse) in self.lists() {
            for value in values {
                parse(value).map_err(|e| format!("{flag} {value:?}: {e}"))?;
            }
            if values.len() > grammar::MAX_ITEMS {
                return Err(format!(
                    "{flag} given {} times; at most {} are supported",
                    values.len(),
                    grammar::MAX_ITEMS
                ));
            }
        }
        let mut text = format!(
            "loopback={};listen={}",
            u8::from(self.loopback),
            u8::from(!self.no_listen)
        );
        for (key, values) in [
            ("exclude", &self.exclude),
            ("exclude-port", &self.exclude_ports),
            ("include", &self.include),
            ("include-port", &self.include_ports),
        ] {
            if !values.is_empty() {
                text.push_str(&format!(";{key}={}", values.join(",")));
            }
        }
        grammar::Rules::parse(text.as_bytes()).map_err(|e| {
            format!(
                "{:?}: {}",
                String::from_utf8_lossy(e.text),
                e.kind.describe()
            )
        })?;
        Ok(Some(text))
    }

    #[allow(clippy::type_complexity)]
    fn lists(
        &self,
    ) -> [(
        &'static str,
        &Vec<String>,
        fn(&str) -> Result<String, String>,
    ); 4] {
        [
            ("--exclude", &self.exclude, parse_net),
            ("--exclude-port", &self.exclude_ports, parse_port),
            ("--include", &self.include, parse_net),
            ("--include-port", &self.include_ports, parse_port),
        ]
    }
}

/// Checks one NET argument (clap value parser): an IPv4 or IPv6 address,
/// optionally `/PREFIX`.
pub fn parse_net(value: &str) -> Result<String, String> {
    match grammar::parse_net(value.as_bytes()) {
        Some(_) => Ok(value.to_owned()),
        None => Err(grammar::ErrorKind::BadNet.describe().to_owned()),
    }
}

/// Checks one PORT argument (clap value parser): 1 to 65535.
pub fn parse_port(value: &str) -> Result<String, String> {
    match grammar::parse_port(value.as_bytes()) {
        Some(_) => Ok(value.to_owned()),
        None => Err(grammar::ErrorKind::BadPort.describe().to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(values: &[&str]) -> Vec<String> {
        values.iter().map(|v| v.to_string()).collect()
    }

    #[test]
    fn defaults_pass_nothing() {
        assert_eq!(RuleOptions::default().canonical(), Ok(None));
    }

    #[test]
    fn flags_become_canonical_text() {
        let options = RuleOptions {
            loopback: true,
            no_listen: true,
            exclude: strings(&["198.18.1.0/24", "::1"]),
            exclude_ports: strings(&["80", "443"]),
            include: vec![],
            include_ports: strings(&["5201"]),
        };
        assert_eq!(
            options.canonical().unwrap().unwrap(),
            "loopback=1;listen=0;exclude=198.18.1.0/24,::1;exclude-port=80,443;include-port=5201"
        );
        let only_include = RuleOptions {
            include: strings(&["10.0.0.0/8"]),
            ..RuleOptions::default()
        };
        assert_eq!(
            only_include.canonical().unwrap().unwrap(),
            "loopback=0;listen=1;include=10.0.0.0/8"
        );
    }

    #[test]
    fn malformed_values_are_refused_by_name() {
        let bad_net = RuleOptions {
            exclude: strings(&["10.0.0.0/8;loopback=1"]),
            ..RuleOptions::default()
        };
        let error = bad_net.canonical().unwrap_err();
        assert!(
            error.starts_with("--exclude \"10.0.0.0/8;loopback=1\""),
            "{error}"
        );
        let bad_port = RuleOptions {
            include_ports: strings(&["0"]),
            ..RuleOptions::default()
        };
        assert!(
            bad_port
                .canonical()
                .unwrap_err()
                .starts_with("--include-port")
        );
        let too_many = RuleOptions {
            exclude_ports: (1..=17).map(|p| p.to_string()).collect(),
            ..RuleOptions::default()
        };
        assert!(too_many.canonical().unwrap_err().contains("at most 16"));
        assert!(parse_net("example.com").is_err());
        assert!(parse_net("10.0.0.1,10.0.0.2").is_err());
        assert!(parse_port("65536").is_err());
        assert_eq!(parse_port("22"), Ok("22".to_owned()));
    }
}
