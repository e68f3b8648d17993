//! The pure decisions of `testnet`: which names are allowed, what the rate
//! and delay lists mean for N paths, the address plan, and which path a
//! socket's address belongs to. No system calls here.

use std::net::{IpAddr, Ipv4Addr};

/// Most paths a testnet can have: the in-kernel path manager accepts at
/// most 8 addresses (`MPTCP_PM_ADDR_MAX`), and each path is one.
pub const MAX_PATHS: u8 = 8;
/// Longest name: `mpz-NAME-client` stays short and readable.
pub const MAX_NAME_LEN: usize = 12;
/// Prefix of every namespace a testnet makes, what `down --all` looks for.
pub const PREFIX: &str = "mpz-";
pub const CLIENT_SUFFIX: &str = "-client";
pub const SERVER_SUFFIX: &str = "-server";

/// A testnet name: `[a-z0-9-]`, 1 to 12 characters. Namespaces are files
/// under /run/netns, so no slash or dot may sneak in.
pub fn validate_name(name: &str) -> Result<String, String> {
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(format!(
            "testnet name {name:?} must be 1 to {MAX_NAME_LEN} characters"
        ));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(format!(
            "testnet name {name:?} may only use a-z, 0-9 and '-'"
        ));
    }
    Ok(name.to_string())
}

/// The client's and the server's namespace names.
pub fn namespaces(name: &str) -> (String, String) {
    (
        format!("{PREFIX}{name}{CLIENT_SUFFIX}"),
        format!("{PREFIX}{name}{SERVER_SUFFIX}"),
    )
}

/// The testnet a namespace name belongs to (`mpz-NAME-client` or
/// `mpz-NAME-server` → NAME), for `down --all`.
pub fn testnet_of_namespace(namespace: &str) -> Option<&str> {
    let rest = namespace.strip_prefix(PREFIX)?;
    let name = rest
        .strip_suffix(CLIENT_SUFFIX)
        .or_else(|| rest.strip_suffix(SERVER_SUFFIX))?;
    validate_name(name).ok().map(|_| name)
}

/// A comma-separated list of whole numbers in `min..=max` (`50` or
/// `50,20,10`), as `--rate` and `--delay` take them.
pub fn parse_list(text: &str, unit: &str, min: u32, max: u32) -> Result<Vec<u32>, String> {
    text.split(',')
        .map(|item| {
            let item = item.trim();
            match item.parse::<u32>() {
                Ok(value) if (min..=max).contains(&value) => Ok(value),
                _ => Err(format!(
                    "{item:?} is not a number of {unit} from {min} to {max}"
                )),
            }
        })
        .collect()
}

/// One value for every path, or exactly one per path.
pub fn per_path(values: &[u32], paths: u8, what: &str) -> Result<Vec<u32>, String> {
    match values {
        [one] => Ok(vec![*one; usize::from(paths)]),
        many if many.len() == usize::from(paths) => Ok(many.to_vec()),
        many => Err(format!(
            "{what} lists {} values for {paths} paths: give one for all, or one per path",
            many.len()
        )),
    }
}

/// One path of the plan: `pathK` at both ends, on 198.18.K.0/24.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathPlan {
    /// 1-based, as the user names it.
    pub index: u8,
    pub interface: String,
    pub client: Ipv4Addr,
    pub server: Ipv4Addr,
    pub rate_mbit: u32,
    /// One-way delay added at each end (netem), when asked for.
    pub delay_ms: Option<u32>,
}

/// The addresses and shaping of `rates.len()` paths. 198.18.0.0/15 is
/// RFC 2544's benchmarking range: it routes nowhere real.
pub fn address_plan(rates: &[u32], delays: Option<&[u32]>) -> Vec<PathPlan> {
    rates
        .iter()
        .enumerate()
        .map(|(i, &rate_mbit)| {
            let index = i as u8 + 1;
            PathPlan {
                index,
                interface: interface(index),
                client: Ipv4Addr::new(198, 18, index, 1),
                server: Ipv4Addr::new(198, 18, index, 2),
                rate_mbit,
                delay_ms: delays.map(|d| d[i]),
            }
        })
        .collect()
}

/// The interface of path K at both ends.
pub fn interface(index: u8) -> String {
    format!("path{index}")
}

/// The path (1-based) an address of a socket belongs to, if it is on one
/// of the `paths` subnets.
pub fn path_of(address: IpAddr, paths: u8) -> Option<u8> {
    let IpAddr::V4(v4) = address else {
        return None;
    };
    match v4.octets() {
        [198, 18, k, 1 | 2] if (1..=paths).contains(&k) => Some(k),
        _ => None,
    }
}

/// `ip mptcp limits` for N paths: one extra subflow per extra path, and
/// every address the server announces accepted. The kernel caps both at 8.
pub fn mptcp_limits(paths: u8) -> [String; 6] {
    let extra = paths.saturating_sub(1).to_string();
    [
        "limits".into(),
        "set".into(),
        "subflow".into(),
        extra.clone(),
        "add_addr_accepted".into(),
        extra,
    ]
}

/// `tbf`'s rate from `tc -j`'s answer (bytes per second) in Mbit/s.
pub fn mbit_of_bytes_per_second(bytes_per_second: u64) -> u32 {
    ((bytes_per_second * 8 + 500_000) / 1_000_000) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(validate_name("mptcp"), Ok("mptcp".into()));
        assert!(validate_name("ci-job-1").is_ok());
        assert!(validate_name("abcdefghijkl").is_ok());
        for bad in ["", "abcdefghijklm", "Up", "a/b", "a.b", "a b", "é"] {
            assert!(validate_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn namespace_names_round_trip() {
        let (client, server) = namespaces("ci");
        assert_eq!(client, "mpz-ci-client");
        assert_eq!(server, "mpz-ci-server");
        assert_eq!(testnet_of_namespace(&client), Some("ci"));
        assert_eq!(testnet_of_namespace("mpz-a-b-server"), Some("a-b"));
        for other in ["mpz-ci", "mptcp-cli-1-0", "mpz--client", "mpz-A-client"] {
            assert_eq!(testnet_of_namespace(other), None, "{other}");
        }
    }

    #[test]
    fn rate_lists() {
        assert_eq!(parse_list("100", "Mbit/s", 1, 10_000), Ok(vec![100]));
        assert_eq!(
            parse_list("50, 20,10", "Mbit/s", 1, 10_000),
            Ok(vec![50, 20, 10])
        );
        for bad in ["", "0", "fast", "10,", "1.5", "10001", "-1"] {
            assert!(parse_list(bad, "Mbit/s", 1, 10_000).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn one_value_or_one_per_path() {
        assert_eq!(per_path(&[50], 3, "--rate"), Ok(vec![50, 50, 50]));
        assert_eq!(per_path(&[1, 2], 2, "--rate"), Ok(vec![1, 2]));
        let error = per_path(&[1, 2], 3, "--rate").unwrap_err();
        assert!(error.contains("2 values for 3 paths"), "{error}");
    }

    #[test]
    fn addresses() {
        let plan = address_plan(&[100, 20], Some(&[5, 40]));
        assert_eq!(plan.len(), 2);
        assert_eq!(plan[1].interface, "path2");
        assert_eq!(plan[1].client, Ipv4Addr::new(198, 18, 2, 1));
        assert_eq!(plan[1].server, Ipv4Addr::new(198, 18, 2, 2));
        assert_eq!((plan[1].rate_mbit, plan[1].delay_ms), (20, Some(40)));
        assert_eq!(address_plan(&[10], None)[0].delay_ms, None);
    }

    #[test]
    fn subflows_map_to_paths() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(path_of(ip("198.18.1.1"), 2), Some(1));
        assert_eq!(path_of(ip("198.18.2.2"), 2), Some(2));
        assert_eq!(path_of(ip("198.18.3.1"), 2), None);
        assert_eq!(path_of(ip("198.18.1.3"), 2), None);
        assert_eq!(path_of(ip("127.0.0.1"), 2), None);
        assert_eq!(path_of(ip("::1"), 2), None);
    }

    #[test]
    fn limits_and_rates() {
        assert_eq!(mptcp_limits(4)[3], "3");
        assert_eq!(mptcp_limits(4)[5], "3");
        assert_eq!(mptcp_limits(1)[3], "0");
        assert_eq!(mbit_of_bytes_per_second(6_250_000), 50);
        assert_eq!(mbit_of_bytes_per_second(12_500_000), 100);
    }
}
