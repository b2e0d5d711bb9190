//! gRPC server reflection (`--reflect`): the method's message types asked of the server
//! before the run, over the same connector (TLS, proxies, `--connect-to`) and our own
//! HTTP/2 client, with the run's metadata (`-H`). `grpc.reflection.v1` is asked first and
//! `v1alpha` (what older servers offer) when the server does not implement it.

use std::collections::BTreeSet;

use prost::Message;
use prost_reflect::DescriptorPool;

use super::Status;
use super::capture::Capture;
use super::connect::Connector;
use super::h2::{self, H2Request};
use super::messages::{Gaps, Split};
use crate::plan::Plan;
use crate::plan::template::{RenderOpts, Template, Vars};

#[derive(Clone, PartialEq, prost::Message)]
struct ReflectionRequest {
    #[prost(string, tag = "1")]
    host: String,
    #[prost(oneof = "Ask", tags = "3, 4")]
    ask: Option<Ask>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
enum Ask {
    #[prost(string, tag = "3")]
    FileByFilename(String),
    #[prost(string, tag = "4")]
    FileContainingSymbol(String),
}

#[derive(Clone, PartialEq, prost::Message)]
struct ReflectionResponse {
    #[prost(oneof = "Answer", tags = "4, 7")]
    answer: Option<Answer>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
enum Answer {
    #[prost(message, tag = "4")]
    Files(FileDescriptorResponse),
    #[prost(message, tag = "7")]
    Error(ErrorResponse),
}

#[derive(Clone, PartialEq, prost::Message)]
struct FileDescriptorResponse {
    #[prost(bytes = "vec", repeated, tag = "1")]
    file_descriptor_proto: Vec<Vec<u8>>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct ErrorResponse {
    #[prost(int32, tag = "1")]
    error_code: i32,
    #[prost(string, tag = "2")]
    error_message: String,
}

const SERVICES: [&str; 2] = [
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
];

/// Files asked for at most (a service's own file and its imports, transitively).
const MAX_FILES: usize = 256;

/// `--reflect`: asks the server for the types of every service the plan's calls go to and
/// frames their bodies with them; nothing to do for another schema. The error is one line
/// for the user.
pub async fn resolve(plan: &mut Plan, connector: &Connector) -> Result<(), String> {
    let Some(g) = plan.grpc.as_ref() else {
        return Ok(());
    };
    if g.schema != crate::plan::grpc::Schema::Reflect {
        return Ok(());
    }
    let mut pools = Vec::new();
    for service in crate::plan::grpc::services(plan) {
        let pool = reflect(plan, connector, &service)
            .await
            .map_err(|e| format!("reflect = true: {e}"))?;
        pools.push((service, pool));
    }
    crate::plan::grpc::reflected(plan, &pools).map_err(|e| e.to_string())
}

/// Asks the server for the file defining `service` and every file it imports; the error
/// is one line saying what the server answered.
pub async fn reflect(
    plan: &Plan,
    connector: &Connector,
    service: &str,
) -> Result<DescriptorPool, String> {
    let stream = connector.connect(0).await.map_err(|k| {
        let why = connector.reasons.by_kind().remove(k.name());
        format!(
            "cannot connect for reflection: {}{}",
            k.name(),
            why.map(|w| format!(" ({w})")).unwrap_or_default()
        )
    })?;
    let conn = h2::Conn::new(1, Gaps::default(), None);
    let driver = h2::drive(conn.clone(), stream, None);
    tokio::pin!(driver);
    let ask_all = async {
        let mut asker = Asker {
            plan,
            conn: &conn,
            version: 0,
        };
        let mut files = Vec::new();
        let mut have = BTreeSet::new();
        let mut wanted: Vec<Ask> = vec![Ask::FileContainingSymbol(service.to_string())];
        while let Some(ask) = wanted.pop() {
            for bytes in asker.ask(ask).await? {
                let file =
                    prost_types::FileDescriptorProto::decode(bytes.as_slice()).map_err(|e| {
                        format!("server reflection sent a file that does not decode: {e}")
                    })?;
                let name = file.name().to_string();
                if !have.insert(name) {
                    continue;
                }
                for dep in &file.dependency {
                    if !have.contains(dep) && have.len() + wanted.len() < MAX_FILES {
                        wanted.push(Ask::FileByFilename(dep.clone()));
                    }
                }
                files.push(file);
            }
            wanted.retain(|a| !matches!(a, Ask::FileByFilename(f) if have.contains(f)));
        }
        let mut pool = DescriptorPool::new();
        pool.add_file_descriptor_protos(files)
            .map_err(|e| format!("server reflection sent types that do not fit together: {e}"))?;
        Ok(pool)
    };
    tokio::select! {
        r = ask_all => r,
        () = &mut driver => Err("the server closed the connection during reflection".to_string()),
    }
}

struct Asker<'a> {
    plan: &'a Plan,
    conn: &'a h2::Conn,
    /// Index in [`SERVICES`] of the version the server answers.
    version: usize,
}

impl Asker<'_> {
    /// One reflection call: the files of the answer, or the server's refusal.
    async fn ask(&mut self, ask: Ask) -> Result<Vec<Vec<u8>>, String> {
        loop {
            let msg = ReflectionRequest {
                host: String::new(),
                ask: Some(ask.clone()),
            };
            let mut body = vec![0u8; 5];
            msg.encode(&mut body).expect("a Vec grows as needed");
            let len = (body.len() - 5) as u32;
            body[1..5].copy_from_slice(&len.to_be_bytes());
            let mut req = self.plan.request().clone();
            req.path = Template::literal(
                format!("/{}/ServerReflectionInfo", SERVICES[self.version]).into_bytes(),
            );
            req.body = Template::literal(body);
            let enc = H2Request::compile(&req);
            let (mut block, mut data, mut scratch) = (Vec::new(), Vec::new(), Vec::new());
            let (block, data) = enc.encoded(
                &req,
                &Vars::default(),
                RenderOpts::default(),
                &mut block,
                &mut data,
                &mut scratch,
            );
            let mut capture = Capture::new(Vec::new(), true, 64 << 20);
            let read = h2::StreamRead {
                split: Split::Grpc,
                ..h2::StreamRead::default()
            };
            let exchange = h2::exchange(self.conn, block, data, Some(&mut capture), read);
            let outcome = tokio::time::timeout(self.plan.timeout, exchange)
                .await
                .map_err(|_| {
                    format!(
                        "server reflection did not answer within {:?} (timeout)",
                        self.plan.timeout
                    )
                })?
                .map_err(|e| match e {
                    h2::StreamError::Failed(k) => format!("server reflection failed: {}", k.name()),
                    _ => "the server refused the reflection call".to_string(),
                })?;
            match outcome.status {
                Status::Grpc(0) => {}
                // UNIMPLEMENTED: an older server may offer v1alpha.
                Status::Grpc(12) if self.version + 1 < SERVICES.len() => {
                    self.version += 1;
                    continue;
                }
                Status::Grpc(12) => {
                    return Err("the server does not offer reflection (UNIMPLEMENTED); give the types with --proto or --protoset".to_string());
                }
                s => return Err(format!("server reflection answered {s}")),
            }
            let b = &capture.body;
            let len = b
                .get(1..5)
                .map_or(0, |l| u32::from_be_bytes([l[0], l[1], l[2], l[3]]) as usize);
            let reply = b
                .get(5..5 + len)
                .ok_or("server reflection sent no answer")?;
            let reply = ReflectionResponse::decode(reply).map_err(|e| {
                format!("server reflection sent an answer that does not decode: {e}")
            })?;
            return match reply.answer {
                Some(Answer::Files(f)) => Ok(f.file_descriptor_proto),
                Some(Answer::Error(e)) => Err(match ask {
                    Ask::FileContainingSymbol(s) => format!(
                        "the server knows no service {s} ({}); its name includes the package",
                        e.error_message
                    ),
                    Ask::FileByFilename(f) => {
                        format!("server reflection has no file {f} ({})", e.error_message)
                    }
                }),
                None => Err("server reflection sent an empty answer".to_string()),
            };
        }
    }
}
