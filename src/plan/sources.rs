//! Where a single request's path and body come from besides the URL and `--body`:
//! multipart forms (`-F`), line files (`--urls-from-file`, `-Z`) and `--rand-regex-url`.
//! All are read and compiled when the plan is built.

use std::path::Path;
use std::sync::Arc;

use super::template::Template;
use super::{PlanError, problem};

/// A multipart/form-data body from curl-style `-F` specs: its bytes and Content-Type.
pub fn multipart(field: &str, specs: &[String]) -> Result<(Vec<u8>, String), PlanError> {
    // Fixed per run: a boundary that cannot occur in a text field and is checked against
    // every part's bytes below.
    let boundary = format!("kaioken-{:016x}", rand::random::<u64>());
    let mut body = Vec::new();
    for spec in specs {
        let (name, value) = spec.split_once('=').ok_or_else(|| {
            problem(
                field,
                spec,
                "write name=value, or name=@path[;filename=x][;type=y] for a file",
            )
        })?;
        if name.is_empty() || name.contains(['"', '\r', '\n']) {
            return Err(problem(
                field,
                spec,
                "the field name must be non-empty, without quotes or newlines",
            ));
        }
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        if let Some(file) = value.strip_prefix('@') {
            let mut parts = file.split(';');
            let path = parts.next().unwrap_or_default();
            let mut filename = Path::new(path)
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default();
            let mut ctype = "application/octet-stream".to_string();
            for p in parts {
                match p.split_once('=') {
                    Some(("filename", v)) => filename = v.trim_matches('"').to_string(),
                    Some(("type", v)) => ctype = v.to_string(),
                    _ => {
                        return Err(problem(
                            field,
                            spec,
                            format!(
                                "unknown option `{p}`; a file takes ;filename=NAME and ;type=MIME"
                            ),
                        ));
                    }
                }
            }
            let bytes = std::fs::read(path).map_err(|e| {
                problem(
                    field,
                    spec,
                    format!("cannot read {path} ({e}); check the path after @"),
                )
            })?;
            body.extend_from_slice(
                format!(
                    "content-disposition: form-data; name=\"{name}\"; filename=\"{}\"\r\ncontent-type: {ctype}\r\n\r\n",
                    filename.replace('"', "%22")
                )
                .as_bytes(),
            );
            body.extend_from_slice(&bytes);
        } else {
            body.extend_from_slice(
                format!("content-disposition: form-data; name=\"{name}\"\r\n\r\n{value}")
                    .as_bytes(),
            );
        }
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    if memchr::memmem::find_iter(&body, boundary.as_bytes()).count() != specs.len() + 1 {
        return Err(problem(
            field,
            "(file contents)",
            "a file contains the multipart boundary; run again (a new one is drawn)",
        ));
    }
    Ok((body, format!("multipart/form-data; boundary={boundary}")))
}

/// The non-empty lines of a file (CRLF or LF).
pub fn lines(field: &str, path: &Path) -> Result<Arc<[Box<[u8]>]>, PlanError> {
    let bytes = std::fs::read(path).map_err(|e| {
        problem(
            field,
            path.display(),
            format!("cannot read it ({e}); check the path"),
        )
    })?;
    let lines: Vec<Box<[u8]>> = bytes
        .split(|b| *b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .filter(|l| !l.is_empty())
        .map(Box::from)
        .collect();
    if lines.is_empty() {
        return Err(problem(
            field,
            path.display(),
            "the file has no lines; give one entry per line",
        ));
    }
    Ok(lines.into())
}

/// `--rand-regex-url`: a path regex, or a full-URL regex whose origin part is literal
/// (`\.` is read as `.`). Returns the origin written, if any, and the path template.
pub fn rand_regex(field: &str, pattern: &str) -> Result<(Option<String>, Template), PlanError> {
    let (origin, path_re) = match pattern.split_once("://") {
        Some((scheme, rest)) => {
            let i = rest.find('/').ok_or_else(|| {
                problem(
                    field,
                    pattern,
                    "the URL needs a path after the host, e.g. http://127.0.0.1:8080/item/[0-9]+",
                )
            })?;
            let origin = format!("{scheme}://{}", rest[..i].replace("\\.", "."));
            (Some(origin), &rest[i..])
        }
        None => (None, pattern),
    };
    if !path_re.starts_with('/') {
        return Err(problem(
            field,
            pattern,
            "the pattern must start with / (a path) or http(s)://host/",
        ));
    }
    let hir = regex_syntax::ParserBuilder::new()
        .unicode(false)
        .utf8(true)
        .build()
        .parse(path_re)
        .map_err(|e| {
            let reason = e
                .to_string()
                .lines()
                .last()
                .unwrap_or("invalid")
                .trim()
                .to_string();
            problem(
                field,
                pattern,
                format!("the regex does not parse ({reason})"),
            )
        })?;
    let sampler = rand_regex::Regex::with_hir(hir, 100).map_err(|e| {
        problem(
            field,
            pattern,
            format!("cannot sample from this regex ({e}); avoid anchors and look-around"),
        )
    })?;
    let label = format!("<{path_re}>");
    Ok((origin, Template::random(label, Arc::new(sampler))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::template::Vars;

    #[test]
    fn multipart_has_each_part_and_the_file_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("up.bin");
        std::fs::write(&f, [0u8, 1, 2, 255, b'\r', b'\n']).unwrap();
        let specs = vec![
            "title=hello".to_string(),
            format!(
                "file=@{};filename=x.bin;type=application/x-test",
                f.display()
            ),
        ];
        let (body, ct) = multipart("--form", &specs).unwrap();
        let b = ct.strip_prefix("multipart/form-data; boundary=").unwrap();
        let text = String::from_utf8_lossy(&body);
        assert!(text.starts_with(&format!(
            "--{b}\r\ncontent-disposition: form-data; name=\"title\"\r\n\r\nhello\r\n"
        )));
        assert!(text.contains(
            "name=\"file\"; filename=\"x.bin\"\r\ncontent-type: application/x-test\r\n\r\n"
        ));
        assert!(body.windows(6).any(|w| w == [0u8, 1, 2, 255, b'\r', b'\n']));
        assert!(text.ends_with(&format!("--{b}--\r\n")));
        let e = multipart("--form", &["f=@/surely/missing".into()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("cannot read /surely/missing"), "{e}");
        assert!(multipart("--form", &["novalue".into()]).is_err());
    }

    #[test]
    fn rand_regex_samples_match_and_repeat_per_id() {
        let (origin, t) = rand_regex(
            "--rand-regex-url",
            r"http://127\.0\.0\.1:8080/item/[0-9]{2}",
        )
        .unwrap();
        assert_eq!(origin.as_deref(), Some("http://127.0.0.1:8080"));
        let re = regex::Regex::new(r"^/item/[0-9]{2}$").unwrap();
        let render = |id| {
            let mut out = Vec::new();
            t.render(
                &Vars {
                    request_id: id,
                    ..Vars::default()
                },
                &mut out,
            );
            String::from_utf8(out).unwrap()
        };
        let samples: std::collections::BTreeSet<String> = (0..200).map(render).collect();
        assert!(samples.iter().all(|s| re.is_match(s)), "{samples:?}");
        assert!(samples.len() > 30, "varied: {}", samples.len());
        assert_eq!(render(7), render(7));
        assert!(rand_regex("r", "/a(").is_err());
        assert!(rand_regex("r", "item").is_err());
    }
}
