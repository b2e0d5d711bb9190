//! gRPC: which method is called, where its message types come from, and how a body becomes
//! the length-prefixed messages on an HTTP/2 stream (and a reply becomes JSON for checks).
//!
//! A gRPC call is an HTTP/2 POST to `/{service}/{method}` whose body is a sequence of
//! messages, each a 5-byte prefix (compressed flag, big-endian length) and its protobuf bytes;
//! its result is the `grpc-status` trailer. The body is raw protobuf bytes (`-b`,
//! `--body-file`) when no schema is given, as in the seed; with `--proto`, `--protoset` or
//! `--reflect` it is JSON, encoded through the method's input type with `prost-reflect`.
//! A body without runtime variables is encoded once, here; one with variables is rendered
//! and encoded for each call by the transport through [`Grpc::frame`].

use std::path::{Path, PathBuf};

use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage, MethodDescriptor};

use super::{PlanError, problem};

/// Where the message types come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Schema {
    /// No schema: the body is protobuf bytes, sent as they are.
    Raw,
    /// `--proto` files (and `--import-path` directories), compiled at start.
    Proto {
        files: Vec<PathBuf>,
        imports: Vec<PathBuf>,
    },
    /// A compiled `FileDescriptorSet` (`--protoset`).
    Protoset(PathBuf),
    /// Asked of the server before the run (`--reflect`).
    Reflect,
}

/// The shapes of a gRPC method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Unary,
    ServerStreaming,
    ClientStreaming,
    Bidirectional,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Unary => "unary",
            Kind::ServerStreaming => "server streaming",
            Kind::ClientStreaming => "client streaming",
            Kind::Bidirectional => "bidirectional streaming",
        }
    }

    /// Whether a call sends a stream of messages.
    pub fn client_streams(self) -> bool {
        matches!(self, Kind::ClientStreaming | Kind::Bidirectional)
    }
}

/// The gRPC side of a plan (`--grpc-service`, `--grpc-method`, `[grpc]`).
#[derive(Debug, Clone)]
pub struct Grpc {
    pub service: String,
    pub method: String,
    pub schema: Schema,
    /// The method's descriptor once the schema is loaded (at plan time for `--proto` and
    /// `--protoset`, at the start of the run for `--reflect`); `None` for raw bytes.
    pub descriptor: Option<MethodDescriptor>,
    /// Messages sent on each call (client and bidirectional streaming; 1 otherwise).
    pub stream_messages: u32,
    /// `--stream-interval`: a call's messages go out this far apart (else all at once).
    pub stream_interval: Option<std::time::Duration>,
    /// HTTP/2 connections shared by the VUs across all threads (`None`: one per thread).
    pub connections: Option<u64>,
    /// The request body is already framed (it has no runtime variables and the schema is
    /// loaded); otherwise the transport frames each call's rendered body.
    pub prepared: bool,
    /// The types `--proto` or `--protoset` loaded, where each scenario finds its method.
    pub pool: Option<DescriptorPool>,
}

/// The canonical gRPC status names, by code (0 = `OK` .. 16 = `UNAUTHENTICATED`).
pub const STATUS_NAMES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

/// The code of a status written by name (`OK`, `unavailable`) or number (`14`).
pub fn status_code(text: &str) -> Option<u8> {
    let t = text.trim();
    if let Ok(n) = t.parse::<u8>() {
        return (usize::from(n) < STATUS_NAMES.len()).then_some(n);
    }
    STATUS_NAMES
        .iter()
        .position(|n| n.eq_ignore_ascii_case(t))
        .map(|i| i as u8)
}

impl Grpc {
    /// The request path: `/{service}/{method}`.
    pub fn path(&self) -> String {
        format!("/{}/{}", self.service, self.method)
    }

    /// The method's shape: from its descriptor, or unary for raw bytes (which say nothing).
    pub fn kind(&self) -> Kind {
        match &self.descriptor {
            Some(m) => match (m.is_client_streaming(), m.is_server_streaming()) {
                (false, false) => Kind::Unary,
                (false, true) => Kind::ServerStreaming,
                (true, false) => Kind::ClientStreaming,
                (true, true) => Kind::Bidirectional,
            },
            None => Kind::Unary,
        }
    }

    /// A method that takes one message per call sends one, whatever `--stream-messages`
    /// says for the streaming methods beside it.
    pub fn fit_stream_messages(&mut self) {
        if self.descriptor.is_some() && !self.kind().client_streams() {
            self.stream_messages = 1;
            self.stream_interval = None;
        }
    }

    /// Whether the body is JSON encoded through the method's input type.
    pub fn json(&self) -> bool {
        self.schema != Schema::Raw
    }

    /// Encodes one call's request from a rendered body into `out` (cleared first): the
    /// message, length-prefixed, `stream_messages` times. The error says why a JSON body
    /// does not fit the input type.
    pub fn frame(&self, body: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
        out.clear();
        out.extend_from_slice(&[0; 5]);
        match &self.descriptor {
            Some(m) if self.json() => {
                let msg = json_message(m, body)?;
                msg.encode(out).map_err(|e| e.to_string())?;
            }
            _ => out.extend_from_slice(body),
        }
        let one = out.len();
        out[1..5].copy_from_slice(&((one - 5) as u32).to_be_bytes());
        for _ in 1..self.stream_messages {
            out.extend_from_within(..one);
        }
        Ok(())
    }

    /// The reply's messages as JSON (one object for a single message, an array for a
    /// stream), for checks, extraction and `--debug`; `None` without a schema or when the
    /// bytes are not messages of the output type.
    pub fn reply_json(&self, framed: &[u8]) -> Option<Vec<u8>> {
        let m = self.descriptor.as_ref().filter(|_| self.json())?;
        let mut values = Vec::new();
        let mut rest = framed;
        while rest.len() >= 5 {
            let len = u32::from_be_bytes([rest[1], rest[2], rest[3], rest[4]]) as usize;
            let msg = rest.get(5..5 + len)?;
            if rest[0] != 0 {
                return None; // compressed: we offered no encoding, so the server broke the rules
            }
            let d = DynamicMessage::decode(m.output(), msg).ok()?;
            values.push(serde_json::to_value(&d).ok()?);
            rest = &rest[5 + len..];
        }
        let v = match values.len() {
            1 if !matches!(self.kind(), Kind::ServerStreaming | Kind::Bidirectional) => {
                values.pop()?
            }
            _ => serde_json::Value::Array(values),
        };
        serde_json::to_vec(&v).ok()
    }
}

/// A JSON body decoded as a message of the method's input type.
fn json_message(m: &MethodDescriptor, body: &[u8]) -> Result<DynamicMessage, String> {
    let text: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    let mut de = serde_json::Deserializer::from_slice(text);
    let msg = DynamicMessage::deserialize(m.input(), &mut de)
        .and_then(|msg| de.end().map(|()| msg))
        .map_err(|e| format!("does not fit {}: {e}", m.input().full_name()))?;
    Ok(msg)
}

/// Frames each call's request body once when it has no runtime variables (the transport
/// then sends it as it is), or leaves it to be framed per call. Called once the types are
/// known: at plan time, or after reflection. A JSON body that does not fit is an error
/// naming the type.
pub fn prepare(plan: &mut super::Plan) -> Result<(), PlanError> {
    let explicit = plan.scenarios.explicit;
    for (i, scenario) in plan.scenarios.list.iter_mut().enumerate() {
        let Some(g) = scenario.grpc.as_mut() else {
            continue;
        };
        if g.json() && g.descriptor.is_none() {
            continue; // reflection has not answered yet
        }
        let field = if explicit {
            format!("scenarios[{i}].body")
        } else {
            "body".to_string()
        };
        let req = &mut scenario.request;
        if !req.body.is_static() {
            if let Some(m) = &g.descriptor {
                // Variables are filled per call; the rest must still be a JSON object.
                let sample = req.body.sample();
                if serde_json::from_slice::<serde_json::Value>(&sample).is_ok() {
                    check_body(m, &sample).map_err(|e| problem(&field, req.body.to_string(), e))?;
                }
            }
            g.prepared = false;
            continue;
        }
        let mut out = Vec::new();
        let text = req.body.sample();
        g.frame(&text, &mut out).map_err(|e| {
            problem(
                &field,
                String::from_utf8_lossy(&text).into_owned(),
                format!("{e}; write the message as JSON with the type's field names"),
            )
        })?;
        req.body = super::template::Template::literal(out);
        g.prepared = true;
    }
    Ok(())
}

/// Takes each call's method from the types server reflection sent (`pools`: one per
/// service asked), and frames the bodies with them.
pub fn reflected(
    plan: &mut super::Plan,
    pools: &[(String, DescriptorPool)],
) -> Result<(), PlanError> {
    for scenario in &mut plan.scenarios.list {
        let Some(g) = scenario.grpc.as_mut() else {
            continue;
        };
        if let Some((_, pool)) = pools.iter().find(|(s, _)| *s == g.service) {
            g.descriptor = Some(find_method(pool, &g.service, &g.method, "the server")?);
            g.fit_stream_messages();
        }
    }
    prepare(plan)
}

/// The services the calls of a plan go to, each once, in order.
pub fn services(plan: &super::Plan) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for g in plan.scenarios.list.iter().filter_map(|s| s.grpc.as_ref()) {
        if !out.contains(&g.service) {
            out.push(g.service.clone());
        }
    }
    out
}

/// Loads the descriptor pool of `--proto` or `--protoset` (reflection is done by the run).
pub fn load_pool(schema: &Schema) -> Result<Option<DescriptorPool>, PlanError> {
    match schema {
        Schema::Raw | Schema::Reflect => Ok(None),
        Schema::Proto { files, imports } => {
            let mut includes: Vec<PathBuf> = imports.clone();
            for f in files {
                let dir = f.parent().filter(|d| !d.as_os_str().is_empty());
                includes.push(dir.map_or_else(|| PathBuf::from("."), Path::to_path_buf));
            }
            let names: Vec<PathBuf> = files
                .iter()
                .map(|f| f.file_name().map_or_else(|| f.clone(), PathBuf::from))
                .collect();
            let shown = files
                .iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>()
                .join(", ");
            for f in files {
                if !f.is_file() {
                    return Err(problem(
                        "proto",
                        f.display().to_string(),
                        "no such file; give the path of a .proto file",
                    ));
                }
            }
            let mut c = protox::Compiler::new(&includes)
                .map_err(|e| problem("import_path", shown.clone(), one_line(&e.to_string())))?;
            c.include_imports(true);
            c.open_files(&names).map_err(|e| {
                problem(
                    "proto",
                    shown.clone(),
                    format!(
                        "does not compile: {} (imports are searched in --import-path and the file's directory)",
                        one_line(&e.to_string())
                    ),
                )
            })?;
            Ok(Some(c.descriptor_pool()))
        }
        Schema::Protoset(path) => {
            let bytes = std::fs::read(path).map_err(|e| {
                problem(
                    "protoset",
                    path.display().to_string(),
                    format!("cannot be read ({e})"),
                )
            })?;
            DescriptorPool::decode(bytes.as_slice())
                .map(Some)
                .map_err(|e| {
                    problem(
                        "protoset",
                        path.display().to_string(),
                        format!(
                            "is not a descriptor set ({}); write one with protoc --include_imports --descriptor_set_out=FILE",
                            one_line(&e.to_string())
                        ),
                    )
                })
        }
    }
}

/// The method `service`/`method` in `pool`, or a line naming what the pool has instead.
pub fn find_method(
    pool: &DescriptorPool,
    service: &str,
    method: &str,
    source: &str,
) -> Result<MethodDescriptor, PlanError> {
    let Some(s) = pool.get_service_by_name(service) else {
        let known: Vec<String> = pool.services().map(|s| s.full_name().to_string()).collect();
        let fix = if known.is_empty() {
            format!("{source} defines no service")
        } else {
            format!(
                "{source} has {}; give the full name with its package",
                known.join(", ")
            )
        };
        return Err(problem("grpc_service", service, fix));
    };
    if let Some(m) = s.methods().find(|m| m.name() == method) {
        return Ok(m);
    }
    let known: Vec<String> = s.methods().map(|m| m.name().to_string()).collect();
    Err(problem(
        "grpc_method",
        method,
        format!("{service} has no such method; it has {}", known.join(", ")),
    ))
}

/// Checks a JSON body against the method's input type (a body without variables is
/// encoded at plan time, so a mistake is found before any traffic).
pub fn check_body(m: &MethodDescriptor, body: &[u8]) -> Result<(), String> {
    json_message(m, body).map(|_| ())
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool() -> DescriptorPool {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.proto");
        std::fs::write(
            &p,
            r#"syntax = "proto3"; package t;
               message Req { string name = 1; int32 n = 2; }
               message Rep { string text = 1; }
               service S { rpc U(Req) returns (Rep); rpc SS(Req) returns (stream Rep);
                           rpc B(stream Req) returns (stream Rep); }"#,
        )
        .unwrap();
        load_pool(&Schema::Proto {
            files: vec![p],
            imports: vec![],
        })
        .unwrap()
        .unwrap()
    }

    fn grpc(method: &str, n: u32) -> Grpc {
        Grpc {
            service: "t.S".into(),
            method: method.into(),
            schema: Schema::Protoset(PathBuf::new()),
            descriptor: Some(find_method(&pool(), "t.S", method, "t.proto").unwrap()),
            stream_messages: n,
            stream_interval: None,
            connections: None,
            prepared: false,
            pool: None,
        }
    }

    #[test]
    fn frames_json_as_length_prefixed_protobuf() {
        let g = grpc("U", 1);
        let mut out = Vec::new();
        g.frame(br#"{"name":"ab","n":3}"#, &mut out).unwrap();
        // field 1 (tag 0x0a) len 2 "ab", field 2 (tag 0x10) varint 3: 6 bytes.
        assert_eq!(out, [0, 0, 0, 0, 6, 0x0a, 2, b'a', b'b', 0x10, 3]);
        let g = grpc("B", 3);
        g.frame(br#"{"n":1}"#, &mut out).unwrap();
        assert_eq!(out, [0, 0, 0, 0, 2, 0x10, 1].repeat(3));
    }

    #[test]
    fn a_body_that_does_not_fit_says_which_type() {
        let g = grpc("U", 1);
        let err = g.frame(br#"{"nmae":"x"}"#, &mut Vec::new()).unwrap_err();
        assert!(err.contains("t.Req") && err.contains("nmae"), "{err}");
    }

    #[test]
    fn replies_decode_to_json() {
        let g = grpc("U", 1);
        let framed = [0, 0, 0, 0, 4, 0x0a, 2, b'h', b'i'];
        assert_eq!(g.reply_json(&framed).unwrap(), br#"{"text":"hi"}"#);
        let g = grpc("SS", 1);
        let two = [framed, framed].concat();
        assert_eq!(
            g.reply_json(&two).unwrap(),
            br#"[{"text":"hi"},{"text":"hi"}]"#
        );
        assert_eq!(g.kind(), Kind::ServerStreaming);
    }

    #[test]
    fn unknown_names_list_what_exists() {
        let e = find_method(&pool(), "S", "U", "t.proto").unwrap_err();
        assert!(e.to_string().contains("t.S"), "{e}");
        let e = find_method(&pool(), "t.S", "X", "t.proto").unwrap_err();
        assert!(e.to_string().contains("U, SS, B"), "{e}");
    }

    #[test]
    fn status_names_and_numbers() {
        assert_eq!(status_code("OK"), Some(0));
        assert_eq!(status_code("unavailable"), Some(14));
        assert_eq!(status_code("16"), Some(16));
        assert_eq!(status_code("17"), None);
        assert_eq!(status_code("NOPE"), None);
    }
}
