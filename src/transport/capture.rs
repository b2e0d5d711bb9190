//! The parts of a response kept for checks, extraction, the cookie jar and redirects: named
//! header values, every `Set-Cookie`, a 3xx's `Location`, and the body up to a limit.
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
    want_cookies: bool,
    /// Every `Set-Cookie` value of the response, each followed by `\n`.
    pub set_cookie: Vec<u8>,
    want_location: bool,
    /// `Location` of a 3xx response (empty when absent).
    pub location: Vec<u8>,
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
            ..Capture::default()
        }
    }

    /// Also keeps `Set-Cookie` values (for a cookie jar).
    pub fn with_cookies(mut self) -> Capture {
        self.want_cookies = true;
        self
    }

    /// Also keeps a 3xx response's `Location` (to follow redirects).
    pub fn with_location(mut self) -> Capture {
        self.want_location = true;
        self
    }

    /// Forgets the previous response, keeping the buffers.
    pub fn reset(&mut self) {
        self.body.clear();
        self.present.fill(false);
        self.set_cookie.clear();
        self.location.clear();
    }

    /// Whether a response with `status` has headers to keep; a plain 200 with only
    /// redirects to follow does not, so its head is not parsed twice.
    pub fn wants_headers(&self, status: u16) -> bool {
        !self.names.is_empty()
            || self.want_cookies
            || (self.want_location && (300..400).contains(&status))
    }

    /// Offers one response header; kept if a check names it (the first occurrence wins).
    pub fn header(&mut self, name: &[u8], value: &[u8]) {
        if self.want_cookies && name.eq_ignore_ascii_case(b"set-cookie") {
            self.set_cookie.extend_from_slice(value);
            self.set_cookie.push(b'\n');
        }
        if self.want_location && name.eq_ignore_ascii_case(b"location") {
            self.location.clear();
            self.location.extend_from_slice(value);
        }
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
