//! Which connections stay plain TCP: the rules of `run --loopback`,
//! `--exclude`, `--exclude-port`, `--include`, `--include-port` and
//! `--no-listen`, in their one canonical text form.
//!
//! Pure `core` code with no allocation and no FFI: the shim parses
//! `MPTCPIZE_RS_RULES` with it once at load, and the launcher uses the
//! same parser to build and validate that text, so there is one grammar,
//! not two.
//!
//! The canonical form: `KEY=VALUE` pairs separated by `;`, in any order,
//! lists separated by `,`, no spaces:
//!
//! ```text
//! loopback=0;listen=1;exclude=198.18.1.0/24,10.0.0.1;exclude-port=80,443;include=::/0;include-port=5201
//! ```
//!
//! - `loopback=0|1`: 1 lets loopback destinations (127.0.0.0/8, ::1,
//!   ::ffff:127.0.0.0/104) use MPTCP; default 0 (plain TCP).
//! - `listen=0|1`: 0 makes listeners plain TCP; default 1.
//! - `exclude=NET,...` / `exclude-port=PORT,...`: destinations that stay TCP;
//!   `exclude-port` also keeps a listener on that port TCP.
//! - `include=NET,...` / `include-port=PORT,...`: when given, only
//!   destinations matching them (both, when both are given) get MPTCP.
//!
//! NET is an IPv4 or IPv6 address with an optional `/PREFIX`. IPv4 networks
//! also match IPv4-mapped IPv6 destinations. Every list holds at most
//! [`MAX_ITEMS`] entries. An unset or empty variable means the defaults.

use core::net::{Ipv4Addr, Ipv6Addr};

/// Most entries one list (`exclude`, `include`, ...) may hold.
pub const MAX_ITEMS: usize = 16;

/// A network, every address kept as IPv6 (IPv4 as `::ffff:a.b.c.d`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Net {
    addr: [u8; 16],
    prefix: u8,
}

impl Net {
    const ZERO: Net = Net {
        addr: [0; 16],
        prefix: 128,
    };

    /// Whether the IPv6 (or IPv4-mapped) address `ip` lies in this network.
    pub fn contains(&self, ip: &[u8; 16]) -> bool {
        let full = usize::from(self.prefix / 8);
        let rest = self.prefix % 8;
        if self.addr[..full] != ip[..full] {
            return false;
        }
        if rest == 0 {
            return true;
        }
        let mask = 0xffu8 << (8 - rest);
        self.addr[full] & mask == ip[full] & mask
    }
}

/// An IPv4 address as the IPv4-mapped IPv6 address the rules compare.
pub fn mapped_v4(octets: [u8; 4]) -> [u8; 16] {
    Ipv4Addr::from(octets).to_ipv6_mapped().octets()
}

/// A fixed-capacity list (no allocation).
#[derive(Clone, Copy, Debug)]
pub struct List<T: Copy> {
    items: [T; MAX_ITEMS],
    len: usize,
}

impl<T: Copy> List<T> {
    pub fn as_slice(&self) -> &[T] {
        &self.items[..self.len]
    }

    fn push(&mut self, item: T) -> Result<(), ErrorKind> {
        let slot = self.items.get_mut(self.len).ok_or(ErrorKind::TooMany)?;
        *slot = item;
        self.len += 1;
        Ok(())
    }
}

/// Why a socket stays (or becomes) plain TCP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Why {
    Loopback,
    Excluded,
    ExcludedPort,
    NotIncluded,
    NotIncludedPort,
    NoListen,
}

impl Why {
    /// The words the debug log uses.
    pub fn describe(self) -> &'static str {
        match self {
            Why::Loopback => "loopback destination",
            Why::Excluded => "destination matches --exclude",
            Why::ExcludedPort => "port matches --exclude-port",
            Why::NotIncluded => "destination outside --include",
            Why::NotIncludedPort => "port outside --include-port",
            Why::NoListen => "--no-listen",
        }
    }
}

/// What a rule says for one connection or listener.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Mptcp,
    Tcp(Why),
}

/// What is wrong with a rules text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// Not `KEY=VALUE`, or an unknown key.
    UnknownKey,
    /// `loopback`/`listen` not 0 or 1.
    BadSwitch,
    /// Not an address, or a prefix too long for it.
    BadNet,
    /// Not a port number from 1 to 65535.
    BadPort,
    /// More than [`MAX_ITEMS`] entries in one list.
    TooMany,
}

impl ErrorKind {
    pub fn describe(self) -> &'static str {
        match self {
            ErrorKind::UnknownKey => "not KEY=VALUE with a known key",
            ErrorKind::BadSwitch => "must be 0 or 1",
            ErrorKind::BadNet => "not an IPv4 or IPv6 address with an optional /PREFIX",
            ErrorKind::BadPort => "not a port number from 1 to 65535",
            ErrorKind::TooMany => "too many entries (at most 16 per list)",
        }
    }
}

/// An error and the text (a `KEY=VALUE` pair or one list entry) it is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RuleError<'a> {
    pub kind: ErrorKind,
    pub text: &'a [u8],
}

/// The rules in force.
#[derive(Clone, Copy, Debug)]
pub struct Rules {
    pub loopback: bool,
    pub listen: bool,
    pub exclude: List<Net>,
    pub include: List<Net>,
    pub exclude_ports: List<u16>,
    pub include_ports: List<u16>,
}

const LOOPBACK_V4: Net = Net {
    addr: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 0],
    prefix: 104,
};
const LOOPBACK_V6: Net = Net {
    addr: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
    prefix: 128,
};

impl Rules {
    /// Loopback plain TCP, listeners MPTCP, no address or port rule.
    pub const DEFAULT: Rules = Rules {
        loopback: false,
        listen: true,
        exclude: List {
            items: [Net::ZERO; MAX_ITEMS],
            len: 0,
        },
        include: List {
            items: [Net::ZERO; MAX_ITEMS],
            len: 0,
        },
        exclude_ports: List {
            items: [0; MAX_ITEMS],
            len: 0,
        },
        include_ports: List {
            items: [0; MAX_ITEMS],
            len: 0,
        },
    };

    /// Parses the canonical text (see the module documentation).
    pub fn parse(text: &[u8]) -> Result<Rules, RuleError<'_>> {
        let mut rules = Rules::DEFAULT;
        for pair in text.split(|&b| b == b';').filter(|p| !p.is_empty()) {
            let error = |kind| RuleError { kind, text: pair };
            let eq = pair
                .iter()
                .position(|&b| b == b'=')
                .ok_or(error(ErrorKind::UnknownKey))?;
            let (key, value) = (&pair[..eq], &pair[eq + 1..]);
            match key {
                b"loopback" => {
                    rules.loopback = parse_switch(value).ok_or(error(ErrorKind::BadSwitch))?
                }
                b"listen" => {
                    rules.listen = parse_switch(value).ok_or(error(ErrorKind::BadSwitch))?
                }
                b"exclude" => parse_list(value, &mut rules.exclude, parse_net, ErrorKind::BadNet)?,
                b"include" => parse_list(value, &mut rules.include, parse_net, ErrorKind::BadNet)?,
                b"exclude-port" => parse_list(
                    value,
                    &mut rules.exclude_ports,
                    parse_port,
                    ErrorKind::BadPort,
                )?,
                b"include-port" => parse_list(
                    value,
                    &mut rules.include_ports,
                    parse_port,
                    ErrorKind::BadPort,
                )?,
                _ => return Err(error(ErrorKind::UnknownKey)),
            }
        }
        Ok(rules)
    }

    /// The verdict for `connect()` to `ip` (IPv6 or IPv4-mapped) and `port`.
    pub fn for_connect(&self, ip: &[u8; 16], port: u16) -> Verdict {
        if !self.loopback && (LOOPBACK_V4.contains(ip) || LOOPBACK_V6.contains(ip)) {
            return Verdict::Tcp(Why::Loopback);
        }
        if self.exclude.as_slice().iter().any(|net| net.contains(ip)) {
            return Verdict::Tcp(Why::Excluded);
        }
        if self.exclude_ports.as_slice().contains(&port) {
            return Verdict::Tcp(Why::ExcludedPort);
        }
        let include = self.include.as_slice();
        if !include.is_empty() && !include.iter().any(|net| net.contains(ip)) {
            return Verdict::Tcp(Why::NotIncluded);
        }
        let include_ports = self.include_ports.as_slice();
        if !include_ports.is_empty() && !include_ports.contains(&port) {
            return Verdict::Tcp(Why::NotIncludedPort);
        }
        Verdict::Mptcp
    }

    /// The verdict for `listen()` on a socket bound to `port` (0: not bound).
    pub fn for_listen(&self, port: u16) -> Verdict {
        if !self.listen {
            Verdict::Tcp(Why::NoListen)
        } else if port != 0 && self.exclude_ports.as_slice().contains(&port) {
            Verdict::Tcp(Why::ExcludedPort)
        } else {
            Verdict::Mptcp
        }
    }
}

fn parse_switch(value: &[u8]) -> Option<bool> {
    match value {
        b"0" => Some(false),
        b"1" => Some(true),
        _ => None,
    }
}

fn parse_list<'a, T: Copy>(
    value: &'a [u8],
    list: &mut List<T>,
    parse: fn(&[u8]) -> Option<T>,
    bad: ErrorKind,
) -> Result<(), RuleError<'a>> {
    for item in value.split(|&b| b == b',').filter(|i| !i.is_empty()) {
        let parsed = parse(item).ok_or(RuleError {
            kind: bad,
            text: item,
        })?;
        list.push(parsed)
            .map_err(|kind| RuleError { kind, text: item })?;
    }
    Ok(())
}

/// `ADDRESS` or `ADDRESS/PREFIX`, IPv4 or IPv6.
pub fn parse_net(text: &[u8]) -> Option<Net> {
    let text = core::str::from_utf8(text).ok()?;
    let (addr, prefix) = match text.split_once('/') {
        Some((addr, prefix)) => (addr, Some(prefix)),
        None => (text, None),
    };
    let prefix = match prefix {
        Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && p.len() <= 3 => {
            Some(p.parse::<u8>().ok()?)
        }
        Some(_) => return None,
        None => None,
    };
    let (addr, prefix) = if let Ok(v4) = addr.parse::<Ipv4Addr>() {
        let prefix = prefix.unwrap_or(32);
        if prefix > 32 {
            return None;
        }
        (v4.to_ipv6_mapped().octets(), prefix + 96)
    } else {
        let v6 = addr.parse::<Ipv6Addr>().ok()?;
        let prefix = prefix.unwrap_or(128);
        if prefix > 128 {
            return None;
        }
        (v6.octets(), prefix)
    };
    Some(Net { addr, prefix })
}

/// A port number from 1 to 65535, decimal digits only.
pub fn parse_port(text: &[u8]) -> Option<u16> {
    if text.is_empty() || text.len() > 5 || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let port = core::str::from_utf8(text).ok()?.parse::<u16>().ok()?;
    (port != 0).then_some(port)
}

/// The destination of `connect()` from the bytes of its `sockaddr`: the
/// address as IPv6 (IPv4 mapped) and the port; `None` for other families
/// or short addresses (the kernel then judges the call, nothing is decided).
pub fn destination(addr: &[u8]) -> Option<([u8; 16], u16)> {
    let family = libc::c_int::from(u16::from_ne_bytes([*addr.first()?, *addr.get(1)?]));
    let port = u16::from_be_bytes([*addr.get(2)?, *addr.get(3)?]);
    match family {
        libc::AF_INET if addr.len() >= core::mem::size_of::<libc::sockaddr_in>() => {
            Some((mapped_v4([addr[4], addr[5], addr[6], addr[7]]), port))
        }
        libc::AF_INET6 if addr.len() >= core::mem::size_of::<libc::sockaddr_in6>() => {
            Some((addr[8..24].try_into().ok()?, port))
        }
        _ => None,
    }
}

/// Whether a `getsockname()` result shows a bound socket: a port, or an
/// address (bound with IP_BIND_ADDRESS_NO_PORT, port still 0).
pub fn is_bound(addr: &[u8]) -> bool {
    match destination(addr) {
        Some((ip, port)) => port != 0 || (ip != [0; 16] && ip != mapped_v4([0; 4])),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sockaddr_in(ip: [u8; 4], port: u16) -> Vec<u8> {
        let mut bytes = vec![0u8; size_of::<libc::sockaddr_in>()];
        bytes[..2].copy_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
        bytes[2..4].copy_from_slice(&port.to_be_bytes());
        bytes[4..8].copy_from_slice(&ip);
        bytes
    }

    fn sockaddr_in6(ip: [u8; 16], port: u16) -> Vec<u8> {
        let mut bytes = vec![0u8; size_of::<libc::sockaddr_in6>()];
        bytes[..2].copy_from_slice(&(libc::AF_INET6 as u16).to_ne_bytes());
        bytes[2..4].copy_from_slice(&port.to_be_bytes());
        bytes[8..24].copy_from_slice(&ip);
        bytes
    }

    #[test]
    fn destinations() {
        let v4 = mapped_v4([127, 0, 0, 1]);
        assert_eq!(
            destination(&sockaddr_in([127, 0, 0, 1], 80)),
            Some((v4, 80))
        );
        let mut ip6 = [0u8; 16];
        ip6[15] = 1;
        assert_eq!(destination(&sockaddr_in6(ip6, 443)), Some((ip6, 443)));
        assert_eq!(destination(&sockaddr_in([1, 2, 3, 4], 80)[..15]), None);
        assert_eq!(destination(&sockaddr_in6(ip6, 1)[..27]), None);
        assert_eq!(destination(&[]), None);
        let mut unix = sockaddr_in([1, 2, 3, 4], 80);
        unix[..2].copy_from_slice(&(libc::AF_UNIX as u16).to_ne_bytes());
        assert_eq!(destination(&unix), None);
    }

    #[test]
    fn bound_addresses() {
        assert!(!is_bound(&sockaddr_in([0; 4], 0)));
        assert!(!is_bound(&sockaddr_in6([0; 16], 0)));
        assert!(is_bound(&sockaddr_in([0; 4], 8080)));
        assert!(is_bound(&sockaddr_in([10, 0, 0, 1], 0)));
        assert!(is_bound(&sockaddr_in6([0; 16], 1)));
        assert!(!is_bound(&[]));
    }

    fn v4(a: u8, b: u8, c: u8, d: u8) -> [u8; 16] {
        mapped_v4([a, b, c, d])
    }

    fn v6(text: &str) -> [u8; 16] {
        text.parse::<Ipv6Addr>().unwrap().octets()
    }

    fn rules(text: &str) -> Rules {
        Rules::parse(text.as_bytes()).unwrap()
    }

    #[test]
    fn defaults_keep_loopback_tcp_and_the_rest_mptcp() {
        let r = Rules::DEFAULT;
        for ip in [
            v4(127, 0, 0, 1),
            v4(127, 9, 8, 7),
            v6("::1"),
            v6("::ffff:127.0.0.1"),
        ] {
            assert_eq!(r.for_connect(&ip, 80), Verdict::Tcp(Why::Loopback));
        }
        for ip in [
            v4(198, 18, 1, 2),
            v4(128, 0, 0, 1),
            v6("::2"),
            v6("2001:db8::1"),
        ] {
            assert_eq!(r.for_connect(&ip, 80), Verdict::Mptcp);
        }
        assert_eq!(r.for_listen(80), Verdict::Mptcp);
        assert_eq!(r.for_listen(0), Verdict::Mptcp);
        let empty = rules("");
        assert!(!empty.loopback && empty.listen);
    }

    #[test]
    fn loopback_opt_in() {
        let r = rules("loopback=1");
        assert_eq!(r.for_connect(&v4(127, 0, 0, 1), 80), Verdict::Mptcp);
        assert_eq!(r.for_connect(&v6("::1"), 80), Verdict::Mptcp);
    }

    #[test]
    fn exclude_and_include() {
        let r = rules("exclude=198.18.1.0/24,2001:db8::/32;exclude-port=22,443");
        assert_eq!(
            r.for_connect(&v4(198, 18, 1, 2), 80),
            Verdict::Tcp(Why::Excluded)
        );
        assert_eq!(
            r.for_connect(&v6("::ffff:198.18.1.9"), 80),
            Verdict::Tcp(Why::Excluded)
        );
        assert_eq!(r.for_connect(&v4(198, 18, 2, 2), 80), Verdict::Mptcp);
        assert_eq!(
            r.for_connect(&v6("2001:db8:1::5"), 80),
            Verdict::Tcp(Why::Excluded)
        );
        assert_eq!(
            r.for_connect(&v4(198, 18, 2, 2), 443),
            Verdict::Tcp(Why::ExcludedPort)
        );
        assert_eq!(r.for_listen(443), Verdict::Tcp(Why::ExcludedPort));
        assert_eq!(r.for_listen(80), Verdict::Mptcp);

        let r = rules("include=198.18.2.2;include-port=5201");
        assert_eq!(r.for_connect(&v4(198, 18, 2, 2), 5201), Verdict::Mptcp);
        assert_eq!(
            r.for_connect(&v4(198, 18, 2, 3), 5201),
            Verdict::Tcp(Why::NotIncluded)
        );
        assert_eq!(
            r.for_connect(&v4(198, 18, 2, 2), 80),
            Verdict::Tcp(Why::NotIncludedPort)
        );
        // Include does not override the loopback default.
        let r = rules("include=127.0.0.0/8");
        assert_eq!(
            r.for_connect(&v4(127, 0, 0, 1), 1),
            Verdict::Tcp(Why::Loopback)
        );
    }

    #[test]
    fn no_listen() {
        let r = rules("listen=0");
        assert_eq!(r.for_listen(80), Verdict::Tcp(Why::NoListen));
        assert_eq!(r.for_listen(0), Verdict::Tcp(Why::NoListen));
    }

    #[test]
    fn prefixes() {
        let net = parse_net(b"10.1.2.3/9").unwrap();
        assert!(net.contains(&v4(10, 127, 0, 0)));
        assert!(!net.contains(&v4(10, 128, 0, 0)));
        assert!(parse_net(b"0.0.0.0/0").unwrap().contains(&v4(1, 2, 3, 4)));
        assert!(
            !parse_net(b"0.0.0.0/0")
                .unwrap()
                .contains(&v6("2001:db8::1"))
        );
        assert!(parse_net(b"::/0").unwrap().contains(&v4(1, 2, 3, 4)));
        assert!(parse_net(b"fe80::/10").unwrap().contains(&v6("febf::1")));
        assert!(!parse_net(b"fe80::/10").unwrap().contains(&v6("fec0::1")));
    }

    #[test]
    fn malformed_text_is_rejected_with_the_culprit() {
        let cases: &[(&str, ErrorKind, &str)] = &[
            ("loopback=2", ErrorKind::BadSwitch, "loopback=2"),
            ("listen=yes", ErrorKind::BadSwitch, "listen=yes"),
            ("bogus=1", ErrorKind::UnknownKey, "bogus=1"),
            ("exclude", ErrorKind::UnknownKey, "exclude"),
            ("exclude=10.0.0.0/33", ErrorKind::BadNet, "10.0.0.0/33"),
            ("exclude=::/129", ErrorKind::BadNet, "::/129"),
            ("include=10.0.0.1/", ErrorKind::BadNet, "10.0.0.1/"),
            ("include=10.0.0.1/+8", ErrorKind::BadNet, "10.0.0.1/+8"),
            ("include=host.example", ErrorKind::BadNet, "host.example"),
            ("exclude-port=0", ErrorKind::BadPort, "0"),
            ("exclude-port=65536", ErrorKind::BadPort, "65536"),
            ("include-port=+80", ErrorKind::BadPort, "+80"),
            ("include-port=80 ", ErrorKind::BadPort, "80 "),
        ];
        for &(text, kind, culprit) in cases {
            let error = Rules::parse(text.as_bytes()).unwrap_err();
            assert_eq!(
                (error.kind, error.text),
                (kind, culprit.as_bytes()),
                "{text}"
            );
        }
        let many = (1..=17)
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join(",");
        let text = format!("exclude-port={many}");
        let error = Rules::parse(text.as_bytes()).unwrap_err();
        assert_eq!((error.kind, error.text), (ErrorKind::TooMany, &b"17"[..]));
    }

    #[test]
    fn lists_accumulate() {
        let r = rules("exclude=10.0.0.1;exclude=10.0.0.2,;loopback=1;;");
        assert_eq!(r.exclude.as_slice().len(), 2);
        assert!(r.loopback);
    }

    /// A small deterministic generator (xorshift64*), so the property tests
    /// below need no dependency and replay the same cases every run.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    /// Untrusted text (the variable is the environment's): never a panic,
    /// never more than `MAX_ITEMS` per list, and every verdict computable.
    #[test]
    fn any_text_parses_or_is_refused_without_panic() {
        const PIECES: &[&[u8]] = &[
            b"loopback",
            b"listen",
            b"exclude",
            b"include",
            b"exclude-port",
            b"include-port",
            b"=",
            b";",
            b",",
            b"/",
            b":",
            b".",
            b"0",
            b"1",
            b"9",
            b"255",
            b"65535",
            b"65536",
            b"::",
            b"ffff",
            b"128",
            b"129",
            b"10.0.0.1",
            b"::1",
            b"\xff",
            b"\0",
            b" ",
            b"-",
        ];
        let mut rng = Rng(0x5eed_1234_abcd_0001);
        for _ in 0..20_000 {
            let mut text = Vec::new();
            for _ in 0..rng.below(24) {
                if rng.below(8) == 0 {
                    text.push(rng.next() as u8);
                } else {
                    text.extend_from_slice(PIECES[rng.below(PIECES.len() as u64) as usize]);
                }
            }
            if let Ok(rules) = Rules::parse(&text) {
                assert!(rules.exclude.as_slice().len() <= MAX_ITEMS);
                assert!(rules.include_ports.as_slice().len() <= MAX_ITEMS);
                let mut ip = [0u8; 16];
                ip.iter_mut().for_each(|b| *b = rng.next() as u8);
                let _ = rules.for_connect(&ip, rng.next() as u16);
                let _ = rules.for_listen(rng.next() as u16);
            }
        }
    }

    /// What the launcher writes reads back as written, and a network
    /// contains exactly the addresses whose first PREFIX bits match.
    #[test]
    fn written_rules_read_back_and_match_by_prefix() {
        let mut rng = Rng(0x0dd_ba11_cafe_f00d);
        for _ in 0..5_000 {
            let count = rng.below(MAX_ITEMS as u64 + 1) as usize;
            let nets: Vec<([u8; 4], u8)> = (0..count)
                .map(|_| ((rng.next() as u32).to_be_bytes(), rng.below(33) as u8))
                .collect();
            let ports: Vec<u16> = (0..count).map(|_| 1 + rng.below(65535) as u16).collect();
            let text = format!(
                "loopback={};listen={};exclude={};exclude-port={}",
                rng.below(2),
                rng.below(2),
                nets.iter()
                    .map(|(a, p)| format!("{}.{}.{}.{}/{p}", a[0], a[1], a[2], a[3]))
                    .collect::<Vec<_>>()
                    .join(","),
                ports
                    .iter()
                    .map(u16::to_string)
                    .collect::<Vec<_>>()
                    .join(","),
            );
            let rules = Rules::parse(text.as_bytes()).unwrap_or_else(|e| panic!("{text}: {e:?}"));
            assert_eq!(rules.exclude_ports.as_slice(), &ports[..], "{text}");
            assert_eq!(rules.exclude.as_slice().len(), count, "{text}");
            for (net, &(addr, prefix)) in rules.exclude.as_slice().iter().zip(&nets) {
                let probe = (rng.next() as u32).to_be_bytes();
                let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
                let same = u32::from_be_bytes(probe) & mask == u32::from_be_bytes(addr) & mask;
                assert_eq!(net.contains(&mapped_v4(probe)), same, "{text}: {probe:?}");
                assert!(net.contains(&mapped_v4(addr)), "{text}");
            }
        }
    }
}
