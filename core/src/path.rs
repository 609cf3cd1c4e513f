//! Validated namespace paths (DESIGN §3: "paths with `..` or NUL" are rejected with a clear error
//! and change nothing). A [`Path`] is absolute, `/`-separated, and every segment is a plain name.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

/// Longest accepted path, in bytes.
pub const PATH_BYTES_MAX: usize = 4096;
/// Longest accepted single name (segment), in bytes.
pub const NAME_BYTES_MAX: usize = 255;
/// Deepest accepted path, in segments.
pub const PATH_DEPTH_MAX: usize = 64;

/// Why a path was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum PathError {
    /// The path does not start with `/`.
    #[error("must start with '/'")]
    NotAbsolute,
    /// Two slashes in a row, or a trailing slash.
    #[error("has an empty segment ('//' or a trailing '/')")]
    EmptySegment,
    /// A `.` or `..` segment.
    #[error("has a '.' or '..' segment")]
    DotSegment,
    /// A NUL byte anywhere.
    #[error("contains a NUL byte")]
    NulByte,
    /// A control character other than NUL: C0 (U+0001–U+001F, U+007F), C1 (U+0080–U+009F) or a
    /// bidirectional control (U+061C, U+200E, U+200F, U+202A–U+202E, U+2066–U+2069). Such
    /// names would rewrite a terminal or a log line, or display as another name.
    #[error("contains a control character")]
    ControlChar,
    /// A segment longer than [`NAME_BYTES_MAX`].
    #[error("has a name longer than {NAME_BYTES_MAX} bytes")]
    NameTooLong,
    /// Longer than [`PATH_BYTES_MAX`].
    #[error("is longer than {PATH_BYTES_MAX} bytes")]
    TooLong,
    /// More than [`PATH_DEPTH_MAX`] segments.
    #[error("is deeper than {PATH_DEPTH_MAX} folders")]
    TooDeep,
}

/// Whether `c` is a control character a path may not hold (see [`PathError::ControlChar`]).
pub fn is_refused_control(c: char) -> bool {
    matches!(
        c,
        '\u{0}'..='\u{1F}'
            | '\u{7F}'..='\u{9F}'
            | '\u{061C}'
            | '\u{200E}'
            | '\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2066}'..='\u{2069}'
    )
}

/// `raw` (a name or path from a client, the cluster or a user) safe to print on a terminal or in
/// a log line: every character [`is_refused_control`] refuses is shown as `\u{..}`, and `\` as
/// `\\`; everything else (`café`, `日本`) is kept as is.
pub fn escape_for_display(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        if c == '\\' {
            out.push_str("\\\\");
        } else if is_refused_control(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// An absolute, normalized namespace path: `/` or `/a/b`. Construct with [`Path::parse`].
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Path(String);

impl Path {
    /// The root folder, `/`.
    pub fn root() -> Self {
        Self("/".to_owned())
    }

    /// Validates `raw` as a path; see [`PathError`] for what is refused.
    pub fn parse(raw: &str) -> Result<Self, PathError> {
        if raw.len() > PATH_BYTES_MAX {
            return Err(PathError::TooLong);
        }
        if raw.as_bytes().contains(&0) {
            return Err(PathError::NulByte);
        }
        if raw.chars().any(is_refused_control) {
            return Err(PathError::ControlChar);
        }
        let Some(rest) = raw.strip_prefix('/') else {
            return Err(PathError::NotAbsolute);
        };
        if rest.is_empty() {
            return Ok(Self::root());
        }
        let mut depth = 0;
        for segment in rest.split('/') {
            depth += 1;
            if depth > PATH_DEPTH_MAX {
                return Err(PathError::TooDeep);
            }
            match segment {
                "" => return Err(PathError::EmptySegment),
                "." | ".." => return Err(PathError::DotSegment),
                s if s.len() > NAME_BYTES_MAX => return Err(PathError::NameTooLong),
                _ => {}
            }
        }
        Ok(Self(raw.to_owned()))
    }

    /// A range bound that need not be a valid path (a listing starting at `/bucket/pre`
    /// where `pre` ends with `/`): only ever compared, never stored or returned.
    pub(crate) fn bound(raw: String) -> Self {
        Self(raw)
    }

    /// The path as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is `/`.
    pub fn is_root(&self) -> bool {
        self.0 == "/"
    }

    /// The folder holding this path; `None` for the root.
    pub fn parent(&self) -> Option<Path> {
        if self.is_root() {
            return None;
        }
        let cut = self.0.rfind('/').unwrap_or(0);
        Some(if cut == 0 { Self::root() } else { Self(self.0[..cut].to_owned()) })
    }

    /// The last segment; empty for the root.
    pub fn name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or("")
    }

    /// The path of `name` inside this folder, validated.
    pub fn join(&self, name: &str) -> Result<Path, PathError> {
        if self.is_root() {
            Self::parse(&format!("/{name}"))
        } else {
            Self::parse(&format!("{}/{name}", self.0))
        }
    }

    /// Every ancestor from the root down to the parent (the root first).
    pub fn ancestors(&self) -> Vec<Path> {
        let mut out = Vec::new();
        let mut cursor = self.parent();
        while let Some(p) = cursor {
            cursor = p.parent();
            out.push(p);
        }
        out.reverse();
        out
    }

    /// Whether `self` is `other` or lies inside it.
    pub fn starts_with(&self, other: &Path) -> bool {
        other.is_root()
            || self.0 == other.0
            || (self.0.starts_with(&other.0) && self.0.as_bytes().get(other.0.len()) == Some(&b'/'))
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl<'de> Deserialize<'de> for Path {
    /// Re-validates on decode: a peer or a snapshot cannot smuggle in a bad path.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Path::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for Path {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        // Mostly short valid paths over a tiny alphabet, so fuzzed commands collide on paths.
        let depth = u.int_in_range(0..=3)?;
        let mut raw = String::new();
        for _ in 0..depth {
            raw.push('/');
            raw.push(*u.choose(&['a', 'b', 'c', 'd'])?);
        }
        if raw.is_empty() {
            raw.push('/');
        }
        Path::parse(&raw).map_err(|_| arbitrary::Error::IncorrectFormat)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_normal_paths() {
        assert_eq!(Path::parse("/").map(|p| p.is_root()), Ok(true));
        let p = Path::parse("/a/b.txt").expect("valid");
        assert_eq!(p.name(), "b.txt");
        assert_eq!(p.parent(), Path::parse("/a").ok());
        assert_eq!(p.ancestors(), vec![Path::root(), Path::parse("/a").expect("valid")]);
        assert!(p.starts_with(&Path::parse("/a").expect("valid")));
        assert!(!Path::parse("/ab")
            .expect("valid")
            .starts_with(&Path::parse("/a").expect("valid")));
    }

    #[test]
    fn refuses_each_bad_shape() {
        assert_eq!(Path::parse(""), Err(PathError::NotAbsolute));
        assert_eq!(Path::parse("a/b"), Err(PathError::NotAbsolute));
        assert_eq!(Path::parse("/a//b"), Err(PathError::EmptySegment));
        assert_eq!(Path::parse("/a/"), Err(PathError::EmptySegment));
        assert_eq!(Path::parse("/a/../b"), Err(PathError::DotSegment));
        assert_eq!(Path::parse("/./b"), Err(PathError::DotSegment));
        assert_eq!(Path::parse("/a\0b"), Err(PathError::NulByte));
        assert_eq!(Path::parse(&format!("/{}", "x".repeat(256))), Err(PathError::NameTooLong));
        assert_eq!(Path::parse(&"/x".repeat(65)), Err(PathError::TooDeep));
        assert_eq!(Path::parse(&format!("/{}", "x/".repeat(2100))), Err(PathError::TooLong));
    }

    #[test]
    fn refuses_control_characters_of_each_class() {
        for c in
            ['\u{1}', '\n', '\r', '\t', '\u{1b}', '\u{1f}', '\u{7f}', '\u{80}', '\u{9b}', '\u{9f}']
        {
            assert_eq!(Path::parse(&format!("/a{c}b")), Err(PathError::ControlChar), "{c:?}");
        }
        for c in
            ['\u{202A}', '\u{202E}', '\u{2066}', '\u{2069}', '\u{200E}', '\u{200F}', '\u{061C}']
        {
            assert_eq!(Path::parse(&format!("/dir/x{c}y")), Err(PathError::ControlChar), "{c:?}");
        }
        assert_eq!(Path::parse("/a\0b"), Err(PathError::NulByte));
        assert!(Path::parse("/a").expect("valid").join("b\u{1b}[2J").is_err());
    }

    #[test]
    fn accepts_other_unicode() {
        for raw in ["/café", "/日本/ファイル.txt", "/a b", "/\u{a0}", "/\u{2028}x", "/emoji-😀"]
        {
            assert_eq!(Path::parse(raw).map(|p| p.as_str().to_owned()), Ok(raw.to_owned()));
        }
    }

    #[test]
    fn escape_for_display_shows_controls_and_keeps_the_rest() {
        assert_eq!(escape_for_display("café/日本"), "café/日本");
        assert_eq!(escape_for_display("a\nb\u{1b}[2J"), "a\\u{a}b\\u{1b}[2J");
        assert_eq!(escape_for_display("evil\u{202E}txt.exe"), "evil\\u{202e}txt.exe");
        assert_eq!(escape_for_display("a\\u{a}"), "a\\\\u{a}");
        assert!(!escape_for_display("\u{9b}\u{7f}\0").chars().any(is_refused_control));
    }

    #[test]
    fn decoding_revalidates() {
        let bytes = postcard::to_allocvec(&"/a/../b".to_owned()).expect("encodes");
        assert!(postcard::from_bytes::<Path>(&bytes).is_err());
    }

    #[test]
    fn the_fuzz_body_holds_on_edge_cases_and_seeded_input() {
        use rand::{Rng, SeedableRng};
        let edges = [
            "/".to_owned(),
            "/a".to_owned(),
            "/a/b".to_owned(),
            "/./a".to_owned(),
            "//".to_owned(),
            "/a/".to_owned(),
            "/x".repeat(64),
            "/x".repeat(65),
            format!("/{}", "n".repeat(255)),
            format!("/{}", "é".repeat(130)),
        ];
        for raw in &edges {
            crate::testing::fuzz::path_parse(raw.as_bytes());
        }
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        let alphabet = b"/.a\0\n\x1b";
        for _ in 0..20_000 {
            let len = rng.gen_range(0..24);
            let bytes: Vec<u8> =
                (0..len).map(|_| alphabet[rng.gen_range(0..alphabet.len())]).collect();
            crate::testing::fuzz::path_parse(&bytes);
        }
    }
}
