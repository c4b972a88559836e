//! The distribution API for one repository: manifests and blobs, verified against their
//! digests and sizes, with Basic or Bearer-token auth negotiated from the registry's challenge.

use bytes::{Bytes, BytesMut};
use http::{Response, StatusCode, header};
use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use sha2::{Digest as _, Sha256};
use tokio::io::AsyncWriteExt as _;

use super::transport::{IDLE_TIMEOUT, Transport};
use crate::auth::{Challenge, Credentials, parse_challenge};
use crate::digest::Digest;
use crate::error::Failure;
use crate::manifest::{self, Descriptor};

/// Registries cap manifests at 4 MiB; anything larger is not a manifest.
const MAX_MANIFEST: usize = 4 << 20;
const MAX_TOKEN_RESPONSE: usize = 1 << 20;
const MAX_ERROR_BODY: usize = 64 << 10;

/// A fetched manifest or index.
pub(crate) struct FetchedManifest {
    pub digest: Digest,
    pub content_type: String,
    pub body: Bytes,
}

pub(crate) struct RegistryClient<'a> {
    transport: &'a Transport,
    base: String,
    repository: String,
    credentials: Option<&'a Credentials>,
    /// The `Authorization` value the last challenge produced, reused for later requests.
    authorization: Option<String>,
}

impl<'a> RegistryClient<'a> {
    pub(crate) fn new(
        transport: &'a Transport,
        registry: &str,
        repository: &str,
        credentials: Option<&'a Credentials>,
    ) -> Self {
        Self {
            transport,
            base: transport.base_url(registry),
            repository: repository.to_owned(),
            credentials,
            authorization: None,
        }
    }

    /// Fetches a manifest by tag or digest. With `expected` (a pinned digest or an index
    /// entry) the body must hash to it; otherwise it must match `Docker-Content-Digest` if the
    /// registry sent one.
    pub(crate) async fn manifest(
        &mut self,
        reference: &str,
        expected: Option<(&Digest, Option<u64>)>,
    ) -> Result<FetchedManifest, Failure> {
        let url = format!("{}/v2/{}/manifests/{reference}", self.base, self.repository);
        let response = self.send(&url, Some(manifest::ACCEPT)).await?;
        let what = format!("manifest {}:{reference}", self.repository);
        let response = check_status(response, &what).await?;
        let content_type = header_str(&response, header::CONTENT_TYPE).unwrap_or_default();
        let header_digest = header_str(&response, "docker-content-digest".parse().expect("valid name"));
        let body = read_limited(response, MAX_MANIFEST).await?;
        let digest = Digest::of(&body);
        if let Some((want, size)) = expected {
            if &digest != want {
                return Err(Failure::Invalid(format!("{what}: content digest {digest} does not match {want}")));
            }
            if let Some(size) = size
                && size != body.len() as u64
            {
                return Err(Failure::Invalid(format!("{what}: size {} does not match {size}", body.len())));
            }
        } else if let Some(h) = header_digest.as_deref().and_then(|h| Digest::parse(h).ok())
            && h != digest
        {
            return Err(Failure::Invalid(format!(
                "{what}: content digest {digest} does not match Docker-Content-Digest {h}"
            )));
        }
        Ok(FetchedManifest { digest, content_type, body })
    }

    /// Fetches a small blob (the image config) into memory, verified.
    pub(crate) async fn blob_bytes(&mut self, d: &Descriptor, limit: usize) -> Result<Bytes, Failure> {
        if d.size > limit as u64 {
            return Err(Failure::Invalid(format!("blob {} is {} bytes, over the {limit} limit", d.digest, d.size)));
        }
        let response = self.blob_response(d).await?;
        let body = read_limited(response, limit).await?;
        verify(d, body.len() as u64, Digest::of(&body))?;
        Ok(body)
    }

    /// Streams a blob into `file`, checking size as it goes and the digest at the end.
    pub(crate) async fn blob_to_file(&mut self, d: &Descriptor, file: &mut tokio::fs::File) -> Result<(), Failure> {
        let mut body = self.blob_response(d).await?.into_body();
        let mut hasher = Sha256::new();
        let mut len: u64 = 0;
        loop {
            let frame = tokio::time::timeout(IDLE_TIMEOUT, body.frame())
                .await
                .map_err(|_| Failure::Network(format!("timed out downloading blob {}", d.digest)))?;
            let Some(frame) = frame else { break };
            let frame = frame.map_err(|e| Failure::Network(format!("downloading blob {}: {e}", d.digest)))?;
            let Ok(data) = frame.into_data() else { continue };
            len += data.len() as u64;
            if len > d.size {
                return Err(Failure::Invalid(format!(
                    "blob {} is larger than its declared {} bytes",
                    d.digest, d.size
                )));
            }
            hasher.update(&data);
            file.write_all(&data).await.map_err(|e| Failure::storage("writing blob", e))?;
        }
        file.flush().await.map_err(|e| Failure::storage("writing blob", e))?;
        verify(d, len, Digest::from_hasher(hasher))
    }

    async fn blob_response(&mut self, d: &Descriptor) -> Result<Response<Incoming>, Failure> {
        let url = format!("{}/v2/{}/blobs/{}", self.base, self.repository, d.digest);
        let response = self.send(&url, None).await?;
        check_status(response, &format!("blob {}", d.digest)).await
    }

    /// Sends a GET, answering one authentication challenge if the registry asks.
    async fn send(&mut self, url: &str, accept: Option<&str>) -> Result<Response<Incoming>, Failure> {
        let response = self.transport.get(url, accept, self.authorization.as_deref()).await?;
        if response.status() != StatusCode::UNAUTHORIZED {
            return Ok(response);
        }
        let challenge = header_str(&response, header::WWW_AUTHENTICATE).unwrap_or_default();
        self.authorize(&challenge).await?;
        let response = self.transport.get(url, accept, self.authorization.as_deref()).await?;
        if response.status() == StatusCode::UNAUTHORIZED {
            return Err(self.unauthorized());
        }
        Ok(response)
    }

    fn unauthorized(&self) -> Failure {
        Failure::Unauthorized(match self.credentials {
            Some(c) => format!("registry rejected the credentials of user {:?}", c.username),
            None => "authentication required and no pull secret provided credentials".to_owned(),
        })
    }

    async fn authorize(&mut self, challenge: &str) -> Result<(), Failure> {
        match parse_challenge(challenge) {
            Some(Challenge::Basic) => {
                let creds = self.credentials.ok_or_else(|| self.unauthorized())?;
                self.authorization = Some(creds.basic_header());
                Ok(())
            }
            Some(Challenge::Bearer { realm, service, scope }) => {
                let token = self.fetch_token(&realm, service.as_deref(), scope.as_deref()).await?;
                self.authorization = Some(format!("Bearer {token}"));
                Ok(())
            }
            None => Err(Failure::Unauthorized(format!("unsupported authentication challenge {challenge:?}"))),
        }
    }

    /// The token flow of the distribution spec: GET realm?service=..&scope=.., with Basic
    /// credentials when we have them, anonymously otherwise.
    async fn fetch_token(&self, realm: &str, service: Option<&str>, scope: Option<&str>) -> Result<String, Failure> {
        let default_scope = format!("repository:{}:pull", self.repository);
        let mut url = realm.to_owned();
        let mut sep = if realm.contains('?') { '&' } else { '?' };
        for (k, v) in [("service", service), ("scope", Some(scope.unwrap_or(&default_scope)))] {
            if let Some(v) = v {
                url.push(sep);
                url.push_str(&format!("{k}={}", percent_encode(v)));
                sep = '&';
            }
        }
        let basic = self.credentials.map(Credentials::basic_header);
        let response = self.transport.get(&url, None, basic.as_deref()).await?;
        if matches!(response.status(), StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
            return Err(self.unauthorized());
        }
        let response = check_status(response, "token").await?;
        let body = read_limited(response, MAX_TOKEN_RESPONSE).await?;
        #[derive(serde::Deserialize)]
        struct Token {
            token: Option<String>,
            access_token: Option<String>,
        }
        let token: Token = serde_json::from_slice(&body)
            .map_err(|e| Failure::Unauthorized(format!("malformed token response: {e}")))?;
        token
            .token
            .or(token.access_token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| Failure::Unauthorized("token response without a token".to_owned()))
    }
}

fn verify(d: &Descriptor, len: u64, actual: Digest) -> Result<(), Failure> {
    if len != d.size {
        return Err(Failure::Invalid(format!("blob {} is {len} bytes, expected {}", d.digest, d.size)));
    }
    if actual != d.digest {
        return Err(Failure::Invalid(format!("blob content digest {actual} does not match {}", d.digest)));
    }
    Ok(())
}

fn header_str(response: &Response<Incoming>, name: header::HeaderName) -> Option<String> {
    response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

/// Maps an error status to the kubelet's categories, quoting the registry's error codes.
async fn check_status(response: Response<Incoming>, what: &str) -> Result<Response<Incoming>, Failure> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let detail = read_limited(response, MAX_ERROR_BODY).await.ok().and_then(|b| error_detail(&b));
    let detail = detail.map(|d| format!(" ({d})")).unwrap_or_default();
    Err(match status {
        // The variant already says "not found"; the registry's code says what was missing.
        StatusCode::NOT_FOUND => Failure::NotFound(format!("{what}{detail}")),
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
            Failure::Unauthorized(format!("{what}: access denied{detail}"))
        }
        s if s.is_server_error() || s == StatusCode::TOO_MANY_REQUESTS => {
            Failure::Network(format!("{what}: registry answered {s}{detail}"))
        }
        s => Failure::Invalid(format!("{what}: registry answered {s}{detail}")),
    })
}

/// `{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}` -> `MANIFEST_UNKNOWN: manifest unknown`.
fn error_detail(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Errors {
        errors: Vec<ErrorEntry>,
    }
    #[derive(serde::Deserialize)]
    struct ErrorEntry {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    let errors: Errors = serde_json::from_slice(body).ok()?;
    let parts: Vec<String> = errors.errors.iter().map(|e| format!("{}: {}", e.code, e.message)).collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}

async fn read_limited(response: Response<Incoming>, limit: usize) -> Result<Bytes, Failure> {
    let mut body = response.into_body();
    let mut out = BytesMut::new();
    loop {
        let frame = tokio::time::timeout(IDLE_TIMEOUT, body.frame())
            .await
            .map_err(|_| Failure::Network("timed out reading response".to_owned()))?;
        let Some(frame) = frame else { break };
        let frame = frame.map_err(|e| Failure::Network(format!("reading response: {e}")))?;
        if let Ok(data) = frame.into_data() {
            if out.len() + data.len() > limit {
                return Err(Failure::Invalid(format!("response larger than {limit} bytes")));
            }
            out.extend_from_slice(&data);
        }
    }
    Ok(out.freeze())
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_scopes_and_error_bodies() {
        assert_eq!(percent_encode("repository:a/b:pull"), "repository%3Aa%2Fb%3Apull");
        assert_eq!(
            error_detail(br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#).as_deref(),
            Some("MANIFEST_UNKNOWN: manifest unknown")
        );
        assert_eq!(error_detail(b"<html>"), None);
    }
}
