//! The header fields of a request or a response: a short list in the order they were
//! set, searched from the front.
//!
//! Why not `http::HeaderMap`: a response carries a handful of fields, set once by one
//! handler and read once when the head is written; a request's are set once by the parse
//! and looked up a few times. The map's hash index is built for many
//! lookups in many fields; for five fields it cost two allocations, a hash per insert and
//! a walk of two tables per drop (callgrind: about 1,500 instructions of a 1 KiB file's
//! 11,300). Here a field costs a comparison per field already set, which for a standard
//! name is one of two bytes, and the list one allocation.

use http::header::HeaderName;
use http::HeaderValue;

/// How many fields the first insert makes room for: a static file has five.
const FIRST_CAPACITY: usize = 8;

/// Header fields, in the order they were set; names may repeat (see [`Fields::append`]).
#[derive(Clone, Debug, Default)]
pub struct Fields {
    list: Vec<(HeaderName, HeaderValue)>,
}

/// A field name, owned or borrowed (as `HeaderMap`'s methods take them).
pub trait Name {
    fn as_name(&self) -> &HeaderName;
    fn into_name(self) -> HeaderName;
}

impl Name for HeaderName {
    fn as_name(&self) -> &HeaderName {
        self
    }
    fn into_name(self) -> HeaderName {
        self
    }
}

impl Name for &HeaderName {
    fn as_name(&self) -> &HeaderName {
        self
    }
    fn into_name(self) -> HeaderName {
        self.clone()
    }
}

impl Fields {
    pub const fn new() -> Fields {
        Fields { list: Vec::new() }
    }

    /// Room for `n` fields (a request head's, counted by its parse).
    pub fn with_capacity(n: usize) -> Fields {
        Fields {
            list: Vec::with_capacity(n),
        }
    }

    /// Sets `name` to `value` alone: the first field of that name takes the value (keeping
    /// its place), any further ones are removed. Returns the first value it had.
    #[inline]
    pub fn insert(&mut self, name: impl Name, value: HeaderValue) -> Option<HeaderValue> {
        let at = self.position(name.as_name());
        match at {
            Some(at) => {
                let old = std::mem::replace(&mut self.list[at].1, value);
                let name = self.list[at].0.clone();
                let mut seen = 0;
                self.list.retain(|(n, _)| {
                    let keep = *n != name || seen == at;
                    seen += 1;
                    keep
                });
                Some(old)
            }
            None => {
                self.push(name.into_name(), value);
                None
            }
        }
    }

    /// Adds a field of `name` after those it has.
    #[inline]
    pub fn append(&mut self, name: impl Name, value: HeaderValue) {
        self.push(name.into_name(), value);
    }

    /// The first value of `name`.
    pub fn get(&self, name: impl Name) -> Option<&HeaderValue> {
        let name = name.as_name();
        self.list.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// Every value of `name`, in order.
    pub fn get_all<'a>(&'a self, name: impl Name + 'a) -> impl Iterator<Item = &'a HeaderValue> {
        self.list
            .iter()
            .filter(move |(n, _)| n == name.as_name())
            .map(|(_, v)| v)
    }

    pub fn contains_key(&self, name: impl Name) -> bool {
        self.position(name.as_name()).is_some()
    }

    /// Removes every field of `name`; returns the first value.
    pub fn remove(&mut self, name: impl Name) -> Option<HeaderValue> {
        let name = name.as_name();
        let at = self.position(name)?;
        let first = self.list.remove(at).1;
        self.list.retain(|(n, _)| n != name);
        Some(first)
    }

    /// The names of the fields in order (a repeated name as often as it was set).
    pub fn keys(&self) -> impl Iterator<Item = &HeaderName> {
        self.list.iter().map(|(n, _)| n)
    }

    /// The fields in order.
    pub fn iter(&self) -> impl Iterator<Item = (&HeaderName, &HeaderValue)> {
        self.into_iter()
    }

    fn position(&self, name: &HeaderName) -> Option<usize> {
        self.list.iter().position(|(n, _)| n == name)
    }

    #[inline]
    fn push(&mut self, name: HeaderName, value: HeaderValue) {
        if self.list.capacity() == 0 {
            // A new vector rather than `reserve`, whose general path (`finish_grow`, ready
            // to move what is there) cost 80 instructions more for a list with nothing in it.
            self.list = Vec::with_capacity(FIRST_CAPACITY);
        }
        self.list.push((name, value));
    }
}

impl<'a> IntoIterator for &'a Fields {
    type Item = (&'a HeaderName, &'a HeaderValue);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (HeaderName, HeaderValue)>,
        fn(&'a (HeaderName, HeaderValue)) -> (&'a HeaderName, &'a HeaderValue),
    >;

    fn into_iter(self) -> Self::IntoIter {
        self.list.iter().map(|(n, v)| (n, v))
    }
}

/// The fields in order, taken (to hand a response's fields to hyper).
impl IntoIterator for Fields {
    type Item = (HeaderName, HeaderValue);
    type IntoIter = std::vec::IntoIter<(HeaderName, HeaderValue)>;

    fn into_iter(self) -> Self::IntoIter {
        self.list.into_iter()
    }
}

/// `fields[name]`: the first value of `name`. Panics if there is none, like `HeaderMap`'s
/// index (for tests and code that has just set it).
impl<N: Name> std::ops::Index<N> for Fields {
    type Output = HeaderValue;

    fn index(&self, name: N) -> &HeaderValue {
        match self.get(name) {
            Some(v) => v,
            None => panic!("no such header field"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header;

    fn v(s: &'static str) -> HeaderValue {
        HeaderValue::from_static(s)
    }

    /// `vary: a`, `etag: e`, `vary: b`.
    fn repeated_vary() -> Fields {
        let mut f = Fields::new();
        f.append(header::VARY, v("a"));
        f.append(header::ETAG, v("e"));
        f.append(header::VARY, v("b"));
        f
    }

    #[test]
    fn insert_replaces_every_field_of_the_name_in_the_first_ones_place() {
        let mut f = Fields::new();
        f.append(header::VARY, v("a"));
        f.insert(header::ETAG, v("\"1\""));
        f.append(header::VARY, v("b"));
        assert_eq!(f.insert(&header::VARY, v("c")), Some(v("a")));
        let all: Vec<_> = f.iter().map(|(n, v)| (n.as_str(), v.clone())).collect();
        assert_eq!(all, [("vary", v("c")), ("etag", v("\"1\""))]);
        assert_eq!(f.insert(header::SERVER, v("x")), None);
        assert_eq!(f.iter().count(), 3);
    }

    #[test]
    fn values_of_a_name_are_found_in_order() {
        let f = repeated_vary();
        assert_eq!(f.get(header::VARY), Some(&v("a")));
        assert_eq!(
            f.get_all(header::VARY).cloned().collect::<Vec<_>>(),
            [v("a"), v("b")]
        );
        assert!(f.contains_key(header::ETAG));
        assert!(!f.contains_key(header::EXPIRES));
        assert_eq!(f[header::ETAG], v("e"));
    }

    #[test]
    fn remove_takes_every_field_of_the_name() {
        let mut f = repeated_vary();
        assert_eq!(f.remove(header::VARY), Some(v("a")));
        assert_eq!(f.remove(header::VARY), None);
        assert_eq!(f.iter().count(), 1);
        let custom = HeaderName::from_static("x-custom");
        f.insert(&custom, v("1"));
        assert_eq!(f.get(HeaderName::from_static("x-custom")), Some(&v("1")));
    }
}
