//! HTTP(S) to registries: HTTPS with rustls for every registry except those listed as
//! insecure, which are spoken to over plain HTTP only. There is no fallback between the two,
//! and redirects may not downgrade either.

use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode, Uri, header};
use http_body_util::Empty;
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;

use crate::error::Failure;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long to wait for response headers, and at most between two body chunks.
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
const MAX_REDIRECTS: usize = 5;

/// A shared HTTP client that knows which registries may use plain HTTP.
pub(crate) struct Transport {
    client: Client<HttpsConnector<HttpConnector>, Empty<Bytes>>,
    insecure: Vec<String>,
}

impl Transport {
    /// `ca_file` adds PEM CA certificates to the webpki roots (for registries with a private CA).
    pub(crate) fn new(insecure: Vec<String>, ca_file: Option<&Path>) -> io::Result<Self> {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        if let Some(path) = ca_file {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{}: {e}", path.display())))?;
            if certs.is_empty() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: no PEM certificates", path.display()),
                ));
            }
            for cert in certs {
                roots
                    .add(cert)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{}: {e}", path.display())))?;
            }
        }
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(io::Error::other)?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(CONNECT_TIMEOUT));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new()).build(https);
        Ok(Self { client, insecure })
    }

    pub(crate) fn is_insecure(&self, authority: &str) -> bool {
        self.insecure.iter().any(|h| h.eq_ignore_ascii_case(authority))
    }

    /// The API base for a registry as written in a reference.
    pub(crate) fn base_url(&self, registry: &str) -> String {
        // Docker Hub's API lives on a different host than its reference name.
        let host = if registry == crate::reference::DOCKER_HUB { "registry-1.docker.io" } else { registry };
        let scheme = if self.is_insecure(registry) { "http" } else { "https" };
        format!("{scheme}://{host}")
    }

    /// Checks that `uri` may be used: HTTPS, or HTTP to an insecure registry.
    pub(crate) fn check_scheme(&self, uri: &Uri) -> Result<(), Failure> {
        let authority = uri.authority().map(|a| a.as_str()).unwrap_or("");
        match uri.scheme_str() {
            Some("https") => Ok(()),
            Some("http") if self.is_insecure(authority) => Ok(()),
            Some("http") => {
                Err(Failure::Network(format!("refusing plain HTTP to {authority}: not listed in insecure_registries")))
            }
            _ => Err(Failure::Network(format!("unsupported URL {uri}"))),
        }
    }

    /// GETs `url`, following redirects. `authorization` is only sent to the original host:
    /// blob redirects go to storage backends with their own signed URLs.
    pub(crate) async fn get(
        &self,
        url: &str,
        accept: Option<&str>,
        authorization: Option<&str>,
    ) -> Result<Response<Incoming>, Failure> {
        let mut uri: Uri = url.parse().map_err(|e| Failure::Invalid(format!("bad URL {url}: {e}")))?;
        let origin = uri.authority().cloned();
        for _ in 0..=MAX_REDIRECTS {
            self.check_scheme(&uri)?;
            let mut req = Request::get(uri.clone());
            let headers = req.headers_mut().expect("builder has no error yet");
            insert(headers, header::USER_AGENT, "canopy-oci/0.1");
            if let Some(accept) = accept {
                insert(headers, header::ACCEPT, accept);
            }
            if let Some(auth) = authorization
                && uri.authority() == origin.as_ref()
            {
                insert(headers, header::AUTHORIZATION, auth);
            }
            let req = req.body(Empty::new()).map_err(|e| Failure::Invalid(format!("bad request: {e}")))?;
            let response = tokio::time::timeout(IDLE_TIMEOUT, self.client.request(req))
                .await
                .map_err(|_| Failure::Network(format!("timed out waiting for {}", redact(&uri))))?
                .map_err(|e| self.network_error(&uri, &e))?;
            if !is_redirect(response.status()) {
                return Ok(response);
            }
            let location = response
                .headers()
                .get(header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .ok_or_else(|| Failure::Network(format!("redirect without Location from {}", redact(&uri))))?;
            uri = resolve_location(&uri, location)?;
        }
        Err(Failure::Network(format!("too many redirects fetching {url}")))
    }

    fn network_error(&self, uri: &Uri, e: &dyn std::error::Error) -> Failure {
        // hyper's top-level message is generic; the cause chain says what actually failed.
        let mut msg = format!("requesting {}: {e}", redact(uri));
        let mut source = e.source();
        while let Some(s) = source {
            msg.push_str(&format!(": {s}"));
            source = s.source();
        }
        if uri.scheme_str() == Some("https") {
            msg.push_str(" (HTTPS is required: the registry is not in insecure_registries)");
        }
        Failure::Network(msg)
    }
}

fn insert(headers: &mut HeaderMap, name: header::HeaderName, value: &str) {
    if let Ok(v) = header::HeaderValue::from_str(value) {
        headers.insert(name, v);
    }
}

fn is_redirect(status: StatusCode) -> bool {
    matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308)
}

/// Drops the query: storage redirects carry signatures there that must not reach logs.
fn redact(uri: &Uri) -> String {
    format!("{}://{}{}", uri.scheme_str().unwrap_or(""), uri.authority().map(|a| a.as_str()).unwrap_or(""), uri.path())
}

fn resolve_location(base: &Uri, location: &str) -> Result<Uri, Failure> {
    let bad = |e: &dyn std::fmt::Display| Failure::Network(format!("bad redirect Location {location:?}: {e}"));
    if location.starts_with('/') && !location.starts_with("//") {
        let mut parts = base.clone().into_parts();
        parts.path_and_query = Some(location.parse().map_err(|e| bad(&e))?);
        return Uri::from_parts(parts).map_err(|e| bad(&e));
    }
    let uri: Uri = location.parse().map_err(|e| bad(&e))?;
    if uri.scheme().is_none() || uri.authority().is_none() {
        return Err(bad(&"not an absolute URL"));
    }
    Ok(uri)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_and_redirects() {
        let t = Transport::new(vec!["127.0.0.1:5000".into()], None).expect("transport");
        assert_eq!(t.base_url("127.0.0.1:5000"), "http://127.0.0.1:5000");
        assert_eq!(t.base_url("127.0.0.1:5001"), "https://127.0.0.1:5001");
        assert_eq!(t.base_url("docker.io"), "https://registry-1.docker.io");
        let ok = |s: &str| t.check_scheme(&s.parse().expect("uri")).is_ok();
        assert!(ok("https://r.example/v2/"));
        assert!(ok("http://127.0.0.1:5000/v2/"));
        assert!(!ok("http://127.0.0.1:5001/v2/"), "no downgrade for secure registries");
        let base: Uri = "https://r.example/v2/x/blobs/sha256:a".parse().expect("uri");
        let to = |l: &str| resolve_location(&base, l).map(|u| u.to_string()).ok();
        assert_eq!(to("/b?sig=1").as_deref(), Some("https://r.example/b?sig=1"));
        assert_eq!(to("https://s3.example/o").as_deref(), Some("https://s3.example/o"));
        assert_eq!(to("relative"), None);
    }
}
