//! systemd unit names, taken the way `systemctl` takes them: a bare name
//! means `.service`; templates (`app@.service`) and instances
//! (`app@8081.service`) are kept apart, because systemd reads drop-ins for
//! an instance from `app@8081.service.d/` and for all instances from
//! `app@.service.d/`.
//!
//! Services and sockets can be enabled: a service gets the shim through
//! `Environment=` in `[Service]`, a socket `SocketProtocol=mptcp` in
//! `[Socket]` (systemd 257 and later).

use std::fmt;

/// systemd's limit (UNIT_NAME_MAX is 256 with the terminating NUL).
const MAX_LEN: usize = 255;

/// A validated service or socket unit name, such as `web.service`,
/// `app@8081.service` or `web.socket`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnitName {
    name: String,
    kind: UnitKind,
}

/// The unit types `enable` can act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnitKind {
    Service,
    Socket,
}

impl UnitKind {
    /// The type suffix, `.service` or `.socket`.
    pub fn suffix(self) -> &'static str {
        match self {
            UnitKind::Service => ".service",
            UnitKind::Socket => ".socket",
        }
    }

    /// The top-level drop-in directory systemd applies to every unit of
    /// this type (`service.d`, `socket.d`).
    pub fn top_level_dropin_dir(self) -> &'static str {
        match self {
            UnitKind::Service => "service.d",
            UnitKind::Socket => "socket.d",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UnitNameError {
    Empty,
    Path(String),
    BadCharacter(String, char),
    NotAService(String),
    Malformed(String, &'static str),
    TooLong(String),
}

impl fmt::Display for UnitNameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UnitNameError::Empty => write!(f, "the unit name is empty"),
            UnitNameError::Path(name) => write!(
                f,
                "{name:?} is a path, not a unit name; give the name as systemctl \
                 takes it, for example web.service"
            ),
            UnitNameError::BadCharacter(name, c) => write!(
                f,
                "{name:?} is not a valid unit name: {c:?} is not allowed \
                 (letters, digits and : - _ . \\ @ are)"
            ),
            UnitNameError::NotAService(name) => write!(
                f,
                "{name} is neither a service nor a socket unit; only services run \
                 programs and only sockets create listeners, so only NAME.service (or a \
                 bare NAME) and NAME.socket can be enabled"
            ),
            UnitNameError::Malformed(name, why) => {
                write!(f, "{name:?} is not a valid unit name: {why}")
            }
            UnitNameError::TooLong(name) => {
                write!(f, "{name:?} is longer than systemd's {MAX_LEN} characters")
            }
        }
    }
}

impl std::error::Error for UnitNameError {}

/// Unit types other than services, recognised to give a precise error.
const OTHER_TYPES: &[&str] = &[
    "device",
    "mount",
    "automount",
    "swap",
    "target",
    "path",
    "timer",
    "slice",
    "scope",
];

impl UnitName {
    /// Validates `input`; a name without a unit type gets `.service`.
    pub fn parse(input: &str) -> Result<UnitName, UnitNameError> {
        if input.is_empty() {
            return Err(UnitNameError::Empty);
        }
        if input.contains('/') || input == "." || input.contains("..") {
            return Err(UnitNameError::Path(input.to_string()));
        }
        if let Some(c) = input.chars().find(|&c| !is_valid_char(c)) {
            return Err(UnitNameError::BadCharacter(input.to_string(), c));
        }
        let (name, kind) = match input.rsplit_once('.') {
            Some((_, "service")) => (input.to_string(), UnitKind::Service),
            Some((_, "socket")) => (input.to_string(), UnitKind::Socket),
            Some((_, kind)) if OTHER_TYPES.contains(&kind) => {
                return Err(UnitNameError::NotAService(input.to_string()));
            }
            _ => (format!("{input}.service"), UnitKind::Service),
        };
        // `web.` would become `web..service`: refused like `..` in the input.
        if name.contains("..") {
            return Err(UnitNameError::Path(input.to_string()));
        }
        if name.len() > MAX_LEN {
            return Err(UnitNameError::TooLong(input.to_string()));
        }
        let stem = &name[..name.len() - kind.suffix().len()];
        let malformed = |why| Err(UnitNameError::Malformed(input.to_string(), why));
        if stem.is_empty() || stem.starts_with('@') {
            return malformed("the name before the type or @ is empty");
        }
        if stem.matches('@').count() > 1 {
            return malformed("it has more than one @");
        }
        Ok(UnitName { name, kind })
    }

    /// The full name, `web.service`.
    pub fn as_str(&self) -> &str {
        &self.name
    }

    /// A service or a socket.
    pub fn kind(&self) -> UnitKind {
        self.kind
    }

    /// The name without its type: `web` for `web.service`, `app@8081`
    /// for `app@8081.service`.
    pub fn stem(&self) -> &str {
        &self.name[..self.name.len() - self.kind.suffix().len()]
    }

    /// The template an instance is made from (`app@.service` for
    /// `app@8081.service`); `None` for plain units and templates.
    pub fn template(&self) -> Option<String> {
        let (prefix, instance) = self.stem().split_once('@')?;
        let suffix = self.kind.suffix();
        (!instance.is_empty()).then(|| format!("{prefix}@{suffix}"))
    }

    /// The drop-in directory systemd reads for exactly this unit.
    pub fn dropin_dir_name(&self) -> String {
        format!("{}.d", self.name)
    }

    /// The names whose `NAME.d/` drop-in directories systemd reads for this
    /// unit, most specific first: the unit, its template, then each prefix
    /// up to a dash (`foo-bar-baz.service` also reads `foo-bar-.service.d/`
    /// and `foo-.service.d/`; an instance `foo-bar@1.service` reads
    /// `foo-@1.service.d/` and `foo-@.service.d/`). The top-level
    /// `service.d/` comes after all of these, in every unit directory.
    pub fn dropin_names(&self) -> Vec<String> {
        let mut names = Vec::new();
        add_dropin_names(&self.name, self.kind.suffix(), &mut names);
        let mut seen = std::collections::HashSet::new();
        names.retain(|name| seen.insert(name.clone()));
        names
    }
}

/// systemd's `unit_file_find_dirs` order for `name` (a name ending in
/// `suffix`, `.service` or `.socket`): the name, its template's names,
/// then its dash prefix's names.
fn add_dropin_names(name: &str, suffix: &str, out: &mut Vec<String>) {
    out.push(name.to_string());
    let stem = name.strip_suffix(suffix).unwrap_or(name);
    let (prefix, instance) = match stem.split_once('@') {
        Some((prefix, "")) => (prefix, None),
        Some((prefix, instance)) => {
            add_dropin_names(&format!("{prefix}@{suffix}"), suffix, out);
            (prefix, Some(instance))
        }
        None => (stem, None),
    };
    let Some(parent) = dash_parent(prefix) else {
        return;
    };
    match instance {
        Some(instance) => add_dropin_names(&format!("{parent}@{instance}{suffix}"), suffix, out),
        None => add_dropin_names(&format!("{parent}{suffix}"), suffix, out),
    }
}

/// `foo-bar-baz` → `foo-bar-`, `foo-bar-` → `foo-`, `foo` → none: the
/// prefix up to and including the last dash that is not the last
/// character (a trailing dash is dropped once first). A leading dash ends
/// the chain.
fn dash_parent(prefix: &str) -> Option<String> {
    let mut prefix = prefix.to_string();
    let mut chopped = false;
    loop {
        let dash = prefix.rfind('-')?;
        if dash == 0 {
            return None;
        }
        if dash + 1 < prefix.len() || chopped {
            prefix.truncate(dash + 1);
            return Some(prefix);
        }
        prefix.truncate(dash);
        chopped = true;
    }
}

impl fmt::Display for UnitName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// systemd's VALID_CHARS plus the instance separator.
fn is_valid_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, ':' | '-' | '_' | '.' | '\\' | '@')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(input: &str) -> String {
        UnitName::parse(input).unwrap().as_str().to_string()
    }

    #[test]
    fn bare_names_mean_service() {
        assert_eq!(name("web"), "web.service");
        assert_eq!(name("web.service"), "web.service");
        assert_eq!(name("systemd-resolved"), "systemd-resolved.service");
        assert_eq!(name("dev-sda1\\x2dx"), "dev-sda1\\x2dx.service");
        // A dot inside a bare name is not a unit type.
        assert_eq!(name("org.example.app"), "org.example.app.service");
    }

    #[test]
    fn sockets() {
        let socket = UnitName::parse("web.socket").unwrap();
        assert_eq!(socket.kind(), UnitKind::Socket);
        assert_eq!(socket.stem(), "web");
        assert_eq!(socket.dropin_dir_name(), "web.socket.d");
        assert_eq!(socket.template(), None);
        let instance = UnitName::parse("app@1.socket").unwrap();
        assert_eq!(instance.template().as_deref(), Some("app@.socket"));
        assert_eq!(
            UnitName::parse("foo-bar.socket").unwrap().dropin_names(),
            ["foo-bar.socket", "foo-.socket"]
        );
        assert_eq!(UnitName::parse("web").unwrap().kind(), UnitKind::Service);
    }

    #[test]
    fn templates_and_instances() {
        let instance = UnitName::parse("app@8081").unwrap();
        assert_eq!(instance.as_str(), "app@8081.service");
        assert_eq!(instance.template().as_deref(), Some("app@.service"));
        assert_eq!(instance.dropin_dir_name(), "app@8081.service.d");
        let template = UnitName::parse("app@.service").unwrap();
        assert_eq!(template.template(), None);
        assert_eq!(template.dropin_dir_name(), "app@.service.d");
        assert_eq!(UnitName::parse("web").unwrap().template(), None);
    }

    #[test]
    fn dropin_names_follow_dashes_like_systemd() {
        let names = |input: &str| UnitName::parse(input).unwrap().dropin_names();
        assert_eq!(names("web"), ["web.service"]);
        assert_eq!(
            names("foo-bar-baz"),
            ["foo-bar-baz.service", "foo-bar-.service", "foo-.service"]
        );
        assert_eq!(names("app@8081"), ["app@8081.service", "app@.service"]);
        assert_eq!(
            names("foo-bar@1"),
            [
                "foo-bar@1.service",
                "foo-bar@.service",
                "foo-.service",
                "foo-@1.service",
                "foo-@.service"
            ]
        );
        assert_eq!(names("foo-bar@"), ["foo-bar@.service", "foo-.service"]);
        // A trailing dash is dropped once; a leading one ends the chain.
        assert_eq!(names("foo-"), ["foo-.service"]);
        assert_eq!(names("a-b-"), ["a-b-.service", "a-.service"]);
        assert_eq!(names("-web"), ["-web.service"]);
        assert_eq!(
            names("systemd-resolved"),
            ["systemd-resolved.service", "systemd-.service"]
        );
    }

    #[test]
    fn rejected_names() {
        use UnitNameError::*;
        let err = |input: &str| UnitName::parse(input).unwrap_err();
        assert_eq!(err(""), Empty);
        for path in [
            "/etc/systemd/system/web.service",
            "a/b",
            "..",
            "web..service",
            ".",
            "web.",
        ] {
            assert!(matches!(err(path), Path(_)), "{path}");
        }
        assert!(matches!(err("web service"), BadCharacter(_, ' ')));
        assert!(matches!(err("web;rm"), BadCharacter(_, ';')));
        assert!(matches!(err("wéb"), BadCharacter(_, 'é')));
        assert!(matches!(err("web.timer"), NotAService(_)));
        assert!(matches!(err(".socket"), Malformed(..)));
        assert!(matches!(err("web..socket"), Path(_)));
        assert!(matches!(err("multi-user.target"), NotAService(_)));
        assert!(matches!(err(".service"), Malformed(..)));
        assert!(matches!(err("@x.service"), Malformed(..)));
        assert!(matches!(err("a@b@c"), Malformed(..)));
        assert!(matches!(err(&"x".repeat(250)), TooLong(_)));
        assert!(err("a/b").to_string().contains("not a unit name"));
    }

    /// Arbitrary input (mostly from the characters that matter): parsing
    /// never panics, and what it accepts is a service name whose drop-in
    /// directories are plain names that cannot leave the unit directory.
    #[test]
    fn property_any_input_gives_a_safe_name_or_an_error() {
        let (mut rng, cases) = crate::test_support::Rng::from_env();
        let seed = rng.seed();
        let alphabet: Vec<char> = "ab-_.@\\:/ \n\0%é.service.socket".chars().collect();
        for case in 0..cases {
            let len = rng.below(12);
            let input: String = (0..len)
                .map(|_| match rng.below(10) {
                    0 => char::from_u32(rng.below(0x300) as u32).unwrap_or('x'),
                    _ => *rng.pick(&alphabet),
                })
                .collect();
            let Ok(name) = UnitName::parse(&input) else {
                continue;
            };
            let context = format!("seed {seed} case {case}: {input:?} -> {name}");
            let text = name.as_str();
            assert!(
                (text.ends_with(".service") || text.ends_with(".socket")) && text.len() <= MAX_LEN,
                "{context}"
            );
            assert!(text.chars().all(is_valid_char), "{context}");
            for dir in name.dropin_names() {
                let dir = format!("{dir}.d");
                assert!(!dir.contains('/') && dir != "." && dir != "..", "{context}");
                assert!(
                    UnitName::parse(&dir[..dir.len() - 2]).is_ok(),
                    "{context}: {dir}"
                );
            }
            assert_eq!(UnitName::parse(text).as_ref(), Ok(&name), "{context}");
        }
    }
}
