//! TLS client configuration (rustls with the ring provider), built once per run: trust
//! store, `--cacert`, the mTLS client certificate, ALPN.
//!
//! `--insecure` installs a verifier that accepts any certificate but still checks the
//! handshake signatures, so the TLS cost measured is the real one.

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::plan::TlsFiles;

/// Why the TLS settings cannot be used; each names the flag, the file and the fix.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("{flag} = {path}: cannot read it ({why}); give a readable PEM file")]
    Read {
        flag: &'static str,
        path: String,
        why: String,
    },
    #[error("{flag} = {path}: {what}")]
    Content {
        flag: &'static str,
        path: String,
        what: String,
    },
}

/// Builds the client config: the platform's trust store (`SSL_CERT_FILE` and
/// `SSL_CERT_DIR` honoured; Mozilla's roots when the platform has none) plus `--cacert`,
/// and the client certificate for mTLS. `alpn` lists the protocols offered, most preferred
/// first.
pub fn client_config(
    insecure: bool,
    files: &TlsFiles,
    alpn: &[&[u8]],
) -> Result<Arc<ClientConfig>, TlsSetupError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions");
    let builder = if insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAny(provider)))
    } else {
        builder.with_root_certificates(roots(files.cacert.as_deref())?)
    };
    let mut config = match &files.client {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let chain = certificates("cert", cert)?;
            let key_der =
                PrivateKeyDer::from_pem_file(key).map_err(|e| pem_error("key", key, e))?;
            builder
                .with_client_auth_cert(chain, key_der)
                .map_err(|e| match e {
                    rustls::Error::InvalidCertificate(_) => TlsSetupError::Content {
                        flag: "cert",
                        path: cert.display().to_string(),
                        what: "this certificate cannot be used for client authentication (an \
                               X.509 v3 certificate is needed); give one with extensions"
                            .to_string(),
                    },
                    e => TlsSetupError::Content {
                        flag: "key",
                        path: key.display().to_string(),
                        what: match e {
                            rustls::Error::InconsistentKeys(_) => format!(
                                "this key does not belong to the certificate in {}; give the \
                             certificate's own key",
                                cert.display()
                            ),
                            other => format!("not a usable private key ({other})"),
                        },
                    },
                })?
        }
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

/// The trust store: the platform's certificates, else Mozilla's, plus the `--cacert` file.
fn roots(cacert: Option<&Path>) -> Result<RootCertStore, TlsSetupError> {
    let mut roots = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    let (added, _unparsable) = roots.add_parsable_certificates(native.certs);
    if added == 0 {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    if let Some(path) = cacert {
        for c in certificates("cacert", path)? {
            roots.add(c).map_err(|e| TlsSetupError::Content {
                flag: "cacert",
                path: path.display().to_string(),
                what: format!("a certificate in it is not a usable CA ({e})"),
            })?;
        }
    }
    Ok(roots)
}

/// Every certificate in a PEM file; at least one.
fn certificates(
    flag: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, TlsSetupError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| pem_error(flag, path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(flag, path, e))?;
    if certs.is_empty() {
        return Err(TlsSetupError::Content {
            flag,
            path: path.display().to_string(),
            what: "no certificate in it; give a PEM file with -----BEGIN CERTIFICATE-----".into(),
        });
    }
    Ok(certs)
}

fn pem_error(flag: &'static str, path: &Path, e: rustls::pki_types::pem::Error) -> TlsSetupError {
    use rustls::pki_types::pem::Error as E;
    match e {
        E::Io(io) => TlsSetupError::Read {
            flag,
            path: path.display().to_string(),
            why: io.kind().to_string(),
        },
        E::NoItemsFound => TlsSetupError::Content {
            flag,
            path: path.display().to_string(),
            what: if flag == "key" {
                "no private key in it; give a PEM key (BEGIN PRIVATE KEY, RSA PRIVATE KEY or EC \
                 PRIVATE KEY)"
                    .into()
            } else {
                "no certificate in it; give a PEM file with -----BEGIN CERTIFICATE-----".into()
            },
        },
        _ => TlsSetupError::Content {
            flag,
            path: path.display().to_string(),
            what: "not valid PEM; give a PEM file (base64 between BEGIN and END lines)".into(),
        },
    }
}

#[derive(Debug)]
struct AcceptAny(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
