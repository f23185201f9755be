//! TLS: the internal CA, the server certificate, and the rustls
//! configuration (TLS 1.2 and 1.3 only).
//!
//! On first start the data directory gets `tls/ca.pem` (RSA-2048 CA, 10
//! years), `tls/ca-key.pem` (0600), and a server certificate
//! `tls/server.pem` / `tls/server-key.pem` (RSA-2048, 1 year) for
//! `localhost`, `127.0.0.1`, `::1` and every `--hostname`. The server
//! certificate is re-issued at start when its names change or it has less
//! than 30 days left. Keys are generated and used through aws-lc-rs (never
//! the `rsa` crate). An operator certificate (`--tls-cert/--tls-key`)
//! replaces the generated server certificate.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PKCS_RSA_SHA256, RsaKeySize, SanType,
};
use rustls::ServerConfig as RustlsConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::ServerError;

const DAY_S: i64 = 86_400;

/// Paths of the generated TLS material inside a data directory.
#[derive(Debug, Clone)]
pub struct TlsPaths {
    /// `tls/ca.pem`: give this to clients.
    pub ca_cert: PathBuf,
    /// `tls/ca-key.pem` (0600).
    pub ca_key: PathBuf,
    /// `tls/server.pem`.
    pub server_cert: PathBuf,
    /// `tls/server-key.pem` (0600).
    pub server_key: PathBuf,
}

impl TlsPaths {
    /// The paths under `data_dir/tls`.
    pub fn new(data_dir: &Path) -> Self {
        let d = data_dir.join("tls");
        TlsPaths {
            ca_cert: d.join("ca.pem"),
            ca_key: d.join("ca-key.pem"),
            server_cert: d.join("server.pem"),
            server_key: d.join("server-key.pem"),
        }
    }
}

fn tls_err(what: &str, e: impl std::fmt::Display) -> ServerError {
    ServerError::Tls(format!("{what}: {e}"))
}

fn at(unix_s: i64) -> Result<time::OffsetDateTime, ServerError> {
    time::OffsetDateTime::from_unix_timestamp(unix_s).map_err(|e| tls_err("time", e))
}

fn rsa_key() -> Result<KeyPair, ServerError> {
    KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, RsaKeySize::_2048)
        .map_err(|e| tls_err("RSA-2048 key generation", e))
}

fn write_public(path: &Path, text: &str) -> Result<(), ServerError> {
    std::fs::write(path, text).map_err(|e| tls_err(&format!("writing {}", path.display()), e))
}

fn write_private(path: &Path, text: &str) -> Result<(), ServerError> {
    palisade_crypto::keyring::write_private_file(path, text.as_bytes())
        .map_err(|e| tls_err(&format!("writing {}", path.display()), e))
}

fn ca_params(now_s: i64) -> Result<CertificateParams, ServerError> {
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "Palisade");
    dn.push(DnType::CommonName, "Palisade internal CA");
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    p.not_before = at(now_s - DAY_S)?;
    p.not_after = at(now_s + 3650 * DAY_S)?;
    Ok(p)
}

/// The names a generated server certificate covers.
pub fn server_names(hostnames: &[String]) -> BTreeSet<String> {
    let mut names: BTreeSet<String> = ["localhost", "127.0.0.1", "::1"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    names.extend(hostnames.iter().map(|h| h.to_ascii_lowercase()));
    names
}

/// Creates the CA when missing and (re-)issues the server certificate when
/// missing, expiring within 30 days, or covering other names.
pub fn ensure_internal_pki(
    data_dir: &Path,
    hostnames: &[String],
    now_s: i64,
) -> Result<TlsPaths, ServerError> {
    let paths = TlsPaths::new(data_dir);
    let dir = data_dir.join("tls");
    std::fs::create_dir_all(&dir).map_err(|e| tls_err("creating tls directory", e))?;
    set_mode(&dir, 0o700)?;
    let ca_exists = paths.ca_cert.exists() && paths.ca_key.exists();
    if !ca_exists {
        let key = rsa_key()?;
        let cert = ca_params(now_s)?
            .self_signed(&key)
            .map_err(|e| tls_err("self-signing the CA", e))?;
        write_private(&paths.ca_key, &key.serialize_pem())?;
        write_public(&paths.ca_cert, &cert.pem())?;
    } else {
        palisade_crypto::keyring::check_private(&paths.ca_key).map_err(|e| tls_err("CA key", e))?;
    }
    let wanted = server_names(hostnames);
    let reissue = !ca_exists
        || match std::fs::read(&paths.server_cert) {
            Ok(pem) => !server_cert_ok(&pem, &wanted, now_s),
            Err(_) => true,
        };
    if reissue {
        let names: Vec<&str> = wanted.iter().map(String::as_str).collect();
        let (chain, key) = issue_leaf(&paths, &names, "Palisade server", now_s)?;
        write_private(&paths.server_key, &key)?;
        // Chain: leaf then CA, so clients that pin the CA verify cleanly.
        write_public(&paths.server_cert, &chain)?;
    }
    Ok(paths)
}

/// Issues a server certificate for `host` (a DNS name or an IP address)
/// from the internal CA in `data_dir` (which must exist): for nats-server,
/// so that Palisade and agents verify it with the same CA. Writes the chain
/// (leaf then CA) to `cert_out` and the key to `key_out` (0600), each
/// atomically. Valid one year.
pub fn issue_server_cert_for(
    data_dir: &Path,
    host: &str,
    now_s: i64,
    cert_out: &Path,
    key_out: &Path,
) -> Result<(), ServerError> {
    let paths = TlsPaths::new(data_dir);
    palisade_crypto::keyring::check_private(&paths.ca_key).map_err(|e| tls_err("CA key", e))?;
    let (chain, key) = issue_leaf(&paths, &[host], "Palisade tenant bus", now_s)?;
    write_private(key_out, &key)?;
    palisade_crypto::keyring::write_private_file(cert_out, chain.as_bytes())
        .map_err(|e| tls_err(&format!("writing {}", cert_out.display()), e))
}

/// A TLS server leaf for `names` (DNS names or IP addresses), signed by
/// the internal CA, valid one year: the chain (leaf then CA) and the key,
/// both PEM (the key zeroized when dropped).
fn issue_leaf(
    paths: &TlsPaths,
    names: &[&str],
    common_name: &str,
    now_s: i64,
) -> Result<(String, zeroize::Zeroizing<String>), ServerError> {
    let ca_key_pem =
        std::fs::read_to_string(&paths.ca_key).map_err(|e| tls_err("reading the CA key", e))?;
    let ca_key = KeyPair::from_pem(&ca_key_pem).map_err(|e| tls_err("CA key", e))?;
    let ca_pem = std::fs::read_to_string(&paths.ca_cert)
        .map_err(|e| tls_err("reading the CA certificate", e))?;
    let issuer =
        Issuer::from_ca_cert_pem(&ca_pem, ca_key).map_err(|e| tls_err("CA certificate", e))?;
    let key = rsa_key()?;
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "Palisade");
    dn.push(DnType::CommonName, common_name);
    p.distinguished_name = dn;
    p.subject_alt_names = names
        .iter()
        .map(|n| match n.parse::<IpAddr>() {
            Ok(ip) => Ok(SanType::IpAddress(ip)),
            Err(_) => (*n)
                .to_owned()
                .try_into()
                .map(SanType::DnsName)
                .map_err(|e| tls_err(&format!("name {n}"), e)),
        })
        .collect::<Result<_, _>>()?;
    p.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    p.not_before = at(now_s - DAY_S)?;
    p.not_after = at(now_s + 365 * DAY_S)?;
    let cert = p
        .signed_by(&key, &issuer)
        .map_err(|e| tls_err(&format!("signing the certificate for {common_name}"), e))?;
    Ok((
        format!("{}{}", cert.pem(), ca_pem),
        zeroize::Zeroizing::new(key.serialize_pem()),
    ))
}

/// True when the PEM's leaf covers exactly `wanted` and has 30+ days left.
fn server_cert_ok(pem: &[u8], wanted: &BTreeSet<String>, now_s: i64) -> bool {
    let Some(Ok(der)) = CertificateDer::pem_slice_iter(pem).next() else {
        return false;
    };
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(&der) else {
        return false;
    };
    if cert.validity().not_after.timestamp() < now_s + 30 * DAY_S {
        return false;
    }
    let Ok(Some(san)) = cert.subject_alternative_name() else {
        return false;
    };
    let have: BTreeSet<String> = san
        .value
        .general_names
        .iter()
        .filter_map(|g| match g {
            x509_parser::extensions::GeneralName::DNSName(d) => Some(d.to_ascii_lowercase()),
            x509_parser::extensions::GeneralName::IPAddress(b) => match b.len() {
                4 => <[u8; 4]>::try_from(*b)
                    .ok()
                    .map(|a| IpAddr::from(a).to_string()),
                16 => <[u8; 16]>::try_from(*b)
                    .ok()
                    .map(|a| IpAddr::from(a).to_string()),
                _ => None,
            },
            _ => None,
        })
        .collect();
    let wanted_norm: BTreeSet<String> = wanted
        .iter()
        .map(|n| {
            n.parse::<IpAddr>()
                .map(|ip| ip.to_string())
                .unwrap_or_else(|_| n.clone())
        })
        .collect();
    have == wanted_norm
}

fn set_mode(path: &Path, mode: u32) -> Result<(), ServerError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| tls_err(&format!("chmod {}", path.display()), e))
}

/// Builds the rustls server configuration from a PEM chain and key:
/// TLS 1.3 and 1.2 only, ALPN h2 and http/1.1.
pub fn rustls_config(cert: &Path, key: &Path) -> Result<Arc<RustlsConfig>, ServerError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| tls_err(&format!("reading {}", cert.display()), e))?
        .collect::<Result<_, _>>()
        .map_err(|e| tls_err(&format!("parsing {}", cert.display()), e))?;
    if chain.is_empty() {
        return Err(ServerError::Tls(format!(
            "{} holds no PEM certificate",
            cert.display()
        )));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| tls_err(&format!("reading private key {}", key.display()), e))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut cfg = RustlsConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| tls_err("protocol versions", e))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| tls_err("certificate and key do not form a usable pair", e))?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}
