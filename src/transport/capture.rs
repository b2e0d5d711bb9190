//! The parts of a response kept for checks: named header values and the body up to a limit.
//! Owned by one VU and reused, so after the first responses capturing allocates nothing.

use http::HeaderName;

#[derive(Debug, Default)]
pub struct Capture {
    /// Headers to keep, lowercase.
    names: Vec<HeaderName>,
    values: Vec<Vec<u8>>,
    present: Vec<bool>,
    want_body: bool,
    limit: usize,
    pub body: Vec<u8>,
}

impl Capture {
    pub fn new(names: Vec<HeaderName>, want_body: bool, limit: usize) -> Capture {
        let n = names.len();
        Capture {
            names,
            values: vec![Vec::new(); n],
            present: vec![false; n],
            want_body,
            limit,
            body: Vec::new(),
        }
    }

    /// Forgets the previous response, keeping the buffers.
    pub fn reset(&mut self) {
        self.body.clear();
        self.present.fill(false);
    }

    pub fn wants_headers(&self) -> bool {
        !self.names.is_empty()
    }

    /// Offers one response header; kept if a check names it (the first occurrence wins).
    pub fn header(&mut self, name: &[u8], value: &[u8]) {
        for (i, n) in self.names.iter().enumerate() {
            if !self.present[i] && n.as_str().as_bytes().eq_ignore_ascii_case(name) {
                self.values[i].clear();
                self.values[i].extend_from_slice(value);
                self.present[i] = true;
            }
        }
    }

    /// Offers body data; kept up to the limit.
    pub fn body_data(&mut self, data: &[u8]) {
        if self.want_body {
            let room = self.limit.saturating_sub(self.body.len());
            self.body.extend_from_slice(&data[..data.len().min(room)]);
        }
    }

    /// The kept value of header `i` (in the order of the names given to [`Capture::new`]).
    pub fn value(&self, i: usize) -> Option<&[u8]> {
        self.present[i].then(|| self.values[i].as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_named_headers_and_a_bounded_body() {
        let mut c = Capture::new(vec![HeaderName::from_static("x-token")], true, 4);
        c.header(b"Content-Type", b"text/plain");
        c.header(b"X-Token", b"abc");
        c.body_data(b"hel");
        c.body_data(b"lo world");
        assert_eq!(c.value(0), Some(&b"abc"[..]));
        assert_eq!(c.body, b"hell");
        c.reset();
        assert_eq!(c.value(0), None);
        assert!(c.body.is_empty());
    }
}
