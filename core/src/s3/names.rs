//! Bucket names and the key ↔ path mapping: a bucket is a top-level folder (`s3://photos/a/b`
//! is `/photos/a/b`). A name or key dfs cannot represent exactly is refused, never mapped to
//! another path: S3's bucket rules, and a key must be a valid relative path (no empty, `.` or
//! `..` segment, no control character, within the path limits).

use crate::path::{Path, PathError};

/// Why a bucket name is refused (S3's `InvalidBucketName`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BucketNameError {
    /// Shorter than 3 or longer than 63 characters.
    #[error("bucket names are 3 to 63 characters long")]
    Length,
    /// A character other than lowercase letters, digits, `.` and `-`.
    #[error("bucket names hold only lowercase letters, digits, '.' and '-'")]
    Character,
    /// Does not begin and end with a letter or digit.
    #[error("bucket names begin and end with a letter or digit")]
    Edge,
    /// Two periods in a row, or a period next to a hyphen.
    #[error("bucket names have no '..', '.-' or '-.'")]
    Dots,
    /// Formatted as an IPv4 address.
    #[error("bucket names are not IP addresses")]
    IpAddress,
    /// A prefix or suffix S3 reserves (`xn--`, `sthree-`, `-s3alias`, `--ol-s3`).
    #[error("bucket names may not use a prefix or suffix S3 reserves")]
    Reserved,
}

/// Why a key is refused: the path it would be cannot exist in dfs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The key is empty.
    #[error("the key is empty")]
    Empty,
    /// The key starts or ends with `/` (a folder marker; dfs folders need no objects).
    #[error("keys may not start or end with '/'")]
    Slash,
    /// The path it maps to is refused.
    #[error("the key is not a valid dfs path: it {0}")]
    Path(PathError),
}

/// Checks `name` against S3's bucket naming rules.
pub fn check_bucket(name: &str) -> Result<(), BucketNameError> {
    if !(3..=63).contains(&name.len()) {
        return Err(BucketNameError::Length);
    }
    if !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
    {
        return Err(BucketNameError::Character);
    }
    let alnum = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_alphanumeric());
    if !alnum(name.as_bytes().first()) || !alnum(name.as_bytes().last()) {
        return Err(BucketNameError::Edge);
    }
    if name.contains("..") || name.contains(".-") || name.contains("-.") {
        return Err(BucketNameError::Dots);
    }
    let parts: Vec<&str> = name.split('.').collect();
    let dotted_quad = parts.len() == 4
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()));
    if dotted_quad {
        return Err(BucketNameError::IpAddress);
    }
    let reserved = ["xn--", "sthree-", "amzn-s3-demo-"].iter().any(|p| name.starts_with(p))
        || ["-s3alias", "--ol-s3", "--x-s3"].iter().any(|s| name.ends_with(s));
    if reserved {
        return Err(BucketNameError::Reserved);
    }
    Ok(())
}

/// The folder a valid bucket name is: `/name`.
pub fn bucket_path(name: &str) -> Result<Path, BucketNameError> {
    check_bucket(name)?;
    // A valid bucket name is a valid single segment (no '/', no control, not '.' or '..').
    Path::parse(&format!("/{name}")).map_err(|_| BucketNameError::Character)
}

/// The bucket a top-level path is, if its name follows S3's rules.
pub fn bucket_of(path: &Path) -> Option<&str> {
    let name = path.as_str().strip_prefix('/')?;
    (!name.contains('/') && check_bucket(name).is_ok()).then_some(name)
}

/// The path of `key` in `bucket` (whose name was checked): `/bucket/key`.
pub fn object_path(bucket: &Path, key: &str) -> Result<Path, KeyError> {
    if key.is_empty() {
        return Err(KeyError::Empty);
    }
    if key.starts_with('/') || key.ends_with('/') {
        return Err(KeyError::Slash);
    }
    let path = Path::parse(&format!("{}/{key}", bucket.as_str())).map_err(KeyError::Path)?;
    // The parse kept the text as given, so the path is exactly the bucket, '/' and the key.
    debug_assert_eq!(key_of(bucket, &path), Some(key));
    Ok(path)
}

/// The key of `path` in `bucket`: the path below `/bucket/`; `None` for a path outside it.
pub fn key_of<'a>(bucket: &Path, path: &'a Path) -> Option<&'a str> {
    path.as_str().strip_prefix(bucket.as_str())?.strip_prefix('/').filter(|key| !key.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names_follow_the_s3_rules() {
        for good in ["abc", "photos", "my-bucket.2026", "a1b", &"a".repeat(63)] {
            assert_eq!(check_bucket(good), Ok(()), "{good}");
        }
        let bad = [
            ("ab", BucketNameError::Length),
            (&"a".repeat(64) as &str, BucketNameError::Length),
            ("Photos", BucketNameError::Character),
            ("a_b", BucketNameError::Character),
            ("a/b", BucketNameError::Character),
            (".ab", BucketNameError::Edge),
            ("ab-", BucketNameError::Edge),
            ("a..b", BucketNameError::Dots),
            ("a.-b", BucketNameError::Dots),
            ("192.168.1.1", BucketNameError::IpAddress),
            ("xn--abc", BucketNameError::Reserved),
            ("abc-s3alias", BucketNameError::Reserved),
        ];
        for (name, error) in bad {
            assert_eq!(check_bucket(name), Err(error), "{name}");
        }
    }

    #[test]
    fn keys_map_to_paths_inside_their_bucket_or_are_refused() {
        let bucket = bucket_path("photos").expect("valid");
        assert_eq!(bucket.as_str(), "/photos");
        let path = object_path(&bucket, "2026/cat.jpg").expect("valid");
        assert_eq!(path.as_str(), "/photos/2026/cat.jpg");
        assert_eq!(key_of(&bucket, &path), Some("2026/cat.jpg"));
        assert_eq!(
            object_path(&bucket, "café ü.txt").expect("valid").as_str(),
            "/photos/café ü.txt"
        );
        let refused = [
            ("", KeyError::Empty),
            ("/etc/passwd", KeyError::Slash),
            ("dir/", KeyError::Slash),
            ("a//b", KeyError::Path(PathError::EmptySegment)),
            ("../other/x", KeyError::Path(PathError::DotSegment)),
            ("a/../../x", KeyError::Path(PathError::DotSegment)),
            ("a/./b", KeyError::Path(PathError::DotSegment)),
            ("..", KeyError::Path(PathError::DotSegment)),
            ("a\0b", KeyError::Path(PathError::NulByte)),
            ("a\nb", KeyError::Path(PathError::ControlChar)),
            ("a\u{202E}b", KeyError::Path(PathError::ControlChar)),
        ];
        for (key, error) in refused {
            assert_eq!(object_path(&bucket, key), Err(error), "{key:?}");
        }
        let long = "k".repeat(300);
        assert_eq!(object_path(&bucket, &long), Err(KeyError::Path(PathError::NameTooLong)));
    }

    #[test]
    fn paths_outside_the_bucket_have_no_key() {
        let bucket = bucket_path("abc").expect("valid");
        for other in ["/abcd/x", "/abc", "/ab/c", "/"] {
            assert_eq!(key_of(&bucket, &Path::parse(other).expect("valid")), None, "{other}");
        }
        assert_eq!(bucket_of(&Path::parse("/abc").expect("valid")), Some("abc"));
        assert_eq!(bucket_of(&Path::parse("/Not_A_Bucket").expect("valid")), None);
        assert_eq!(bucket_of(&Path::parse("/abc/def").expect("valid")), None);
    }
}
