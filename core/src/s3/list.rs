//! One page of ListObjects / ListObjectsV2: keys in byte order, filtered by prefix, grouped at
//! the first delimiter after the prefix into common prefixes, resumed after a marker (a
//! `start-after`, a v1 `marker` or a continuation token: the last key or prefix of the previous
//! page), cut at `max-keys`. Pure: the caller feeds keys in order from wherever it keeps them
//! (a range scan starting at [`ListRequest::start`]), so a page costs memory for its own items
//! only, whatever the bucket's size.

/// Most keys in one page, as S3 caps `max-keys`.
pub const MAX_KEYS: usize = 1000;

/// What one list call asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListRequest<'a> {
    /// Only keys starting with this.
    pub prefix: &'a str,
    /// Group keys at the first occurrence of this after the prefix (usually `/`).
    pub delimiter: Option<&'a str>,
    /// Only keys (and prefixes) sorting after this.
    pub after: Option<&'a str>,
    /// Most items (keys and common prefixes together); capped at [`MAX_KEYS`].
    pub max_keys: usize,
}

/// One item of a page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item<T> {
    /// An object, with what the caller attached to its key.
    Object {
        /// The key.
        key: String,
        /// The caller's value (size, ETag...).
        value: T,
    },
    /// Keys grouped under a common prefix (ending with the delimiter).
    Prefix(String),
}

/// One page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page<T> {
    /// Objects and common prefixes in key order.
    pub items: Vec<Item<T>>,
    /// Whether more items follow.
    pub truncated: bool,
    /// Where the next page starts (after this), when truncated: the last item's key or prefix.
    pub next: Option<String>,
}

impl<'a> ListRequest<'a> {
    /// The smallest key the page can hold: a range scan may start here.
    pub fn start(&self) -> &'a str {
        match self.after {
            Some(after) if after > self.prefix => after,
            _ => self.prefix,
        }
    }
}

/// Cuts one page out of `keys` (in strictly increasing order, starting at or before
/// [`ListRequest::start`]).
pub fn page<T>(keys: impl IntoIterator<Item = (String, T)>, request: &ListRequest<'_>) -> Page<T> {
    let max = request.max_keys.min(MAX_KEYS);
    let delimiter = request.delimiter.filter(|d| !d.is_empty());
    let mut items: Vec<Item<T>> = Vec::new();
    let mut truncated = false;
    for (key, value) in keys {
        let Some(rest) = key.strip_prefix(request.prefix) else {
            if key.as_str() > request.prefix {
                break; // Past every key with the prefix.
            }
            continue;
        };
        if request.after.is_some_and(|after| key.as_str() <= after) {
            continue;
        }
        let item = match delimiter.and_then(|d| rest.find(d).map(|at| at + d.len())) {
            Some(end) => {
                let common = &key[..request.prefix.len() + end];
                let seen = matches!(items.last(), Some(Item::Prefix(last)) if last == common);
                if seen || request.after.is_some_and(|after| common <= after) {
                    continue;
                }
                Item::Prefix(common.to_owned())
            }
            None => Item::Object { key, value },
        };
        if items.len() == max {
            truncated = true;
            break;
        }
        items.push(item);
    }
    let next = truncated.then(|| match items.last() {
        Some(Item::Object { key, .. }) => key.clone(),
        Some(Item::Prefix(prefix)) => prefix.clone(),
        None => String::new(),
    });
    Page { items, truncated, next }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(list: &[&str]) -> Vec<(String, ())> {
        list.iter().map(|k| ((*k).to_owned(), ())).collect()
    }

    fn names(page: &Page<()>) -> Vec<String> {
        page.items
            .iter()
            .map(|item| match item {
                Item::Object { key, .. } => key.clone(),
                Item::Prefix(p) => format!("P:{p}"),
            })
            .collect()
    }

    const ALL: &[&str] = &["a", "a-b", "a/1", "a/2", "a/x/3", "b/1", "b0", "c"];

    fn request<'a>(prefix: &'a str, delimiter: Option<&'a str>) -> ListRequest<'a> {
        ListRequest { prefix, delimiter, after: None, max_keys: 1000 }
    }

    #[test]
    fn a_prefix_filters_and_a_delimiter_groups() {
        let flat = page(keys(ALL), &request("a", None));
        assert_eq!(names(&flat), ["a", "a-b", "a/1", "a/2", "a/x/3"]);
        let grouped = page(keys(ALL), &request("", Some("/")));
        assert_eq!(names(&grouped), ["a", "a-b", "P:a/", "P:b/", "b0", "c"]);
        let inside = page(keys(ALL), &request("a/", Some("/")));
        assert_eq!(names(&inside), ["a/1", "a/2", "P:a/x/"]);
        assert!(!inside.truncated && inside.next.is_none());
    }

    #[test]
    fn pages_resume_after_their_marker_without_repeats_or_gaps() {
        for delimiter in [None, Some("/")] {
            let whole = names(&page(keys(ALL), &request("", delimiter)));
            for max_keys in 1..=4 {
                let (mut seen, mut after) = (Vec::new(), None::<String>);
                loop {
                    let req =
                        ListRequest { after: after.as_deref(), max_keys, ..request("", delimiter) };
                    let got = page(keys(ALL), &req);
                    assert!(got.items.len() <= max_keys);
                    seen.extend(names(&got));
                    if !got.truncated {
                        break;
                    }
                    after = got.next;
                }
                assert_eq!(seen, whole, "max_keys {max_keys}, delimiter {delimiter:?}");
            }
        }
    }

    #[test]
    fn start_after_skips_keys_and_the_start_is_the_larger_bound() {
        let req = ListRequest { after: Some("a/2"), ..request("a", None) };
        assert_eq!(names(&page(keys(ALL), &req)), ["a/x/3"]);
        assert_eq!(req.start(), "a/2");
        assert_eq!(ListRequest { after: Some("0"), ..request("b", None) }.start(), "b");
        let capped = ListRequest { max_keys: 5000, ..request("", None) };
        let many: Vec<(String, ())> = (0..1500).map(|i| (format!("k{i:05}"), ())).collect();
        let got = page(many, &capped);
        assert_eq!(got.items.len(), MAX_KEYS);
        assert_eq!(got.next.as_deref(), Some("k00999"));
    }
}
