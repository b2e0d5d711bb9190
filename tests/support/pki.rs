//! A private PKI made at test time: a CA, a server certificate it signed for 127.0.0.1 and
//! localhost, a client certificate, an expired server certificate, one for another name, a
//! stray key and a file that is not PEM.

use std::path::PathBuf;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    date_time_ymd,
};

pub struct Pki {
    pub dir: tempfile::TempDir,
}

impl Pki {
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// The CA and everything it signed, as PEM files.
pub fn make_pki() -> Pki {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: String| std::fs::write(dir.path().join(name), text).unwrap();
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.distinguished_name
        .push(DnType::CommonName, "kaioken test CA");
    write("ca.pem", ca.self_signed(&ca_key).unwrap().pem());
    write("ca.key", ca_key.serialize_pem());
    let issuer = Issuer::new(ca, ca_key);
    let leaf = |names: &[&str], cn: &str, expired: bool, file: &str| {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .unwrap();
        p.distinguished_name.push(DnType::CommonName, cn);
        if expired {
            p.not_before = date_time_ymd(2019, 1, 1);
            p.not_after = date_time_ymd(2020, 1, 1);
        }
        write(
            &format!("{file}.pem"),
            p.signed_by(&key, &issuer).unwrap().pem(),
        );
        write(&format!("{file}.key"), key.serialize_pem());
    };
    leaf(&["127.0.0.1", "localhost"], "server", false, "server");
    leaf(&["127.0.0.1", "localhost"], "expired", true, "expired");
    leaf(&["other.example"], "other", false, "other");
    leaf(&["client"], "kaioken test client", false, "client");
    // A key that belongs to no certificate here.
    write("stray.key", KeyPair::generate().unwrap().serialize_pem());
    write("not-pem.pem", "this is not a certificate\n".into());
    Pki { dir }
}
