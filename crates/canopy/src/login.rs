//! `canopy login` / `canopy logout`: a session token from `POST /wcp/login` (Basic auth, the
//! endpoint `kubectl vsphere login` uses) written into a kubeconfig with one context per
//! namespace the user may use; logout revokes it on the server and removes it locally.

use std::path::PathBuf;

use anyhow::{Context, bail};
use serde_json::Value;

#[derive(clap::Args)]
pub struct LoginArgs {
    /// The server, e.g. https://127.0.0.1:6443.
    #[arg(long)]
    server: String,
    #[arg(long)]
    username: String,
    #[arg(long, required = true)]
    password_stdin: bool,
    /// The kubeconfig to write or merge into (default: KUBECONFIG, else ~/.kube/config).
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// The CA to verify the server with (PEM).
    #[arg(long, conflicts_with = "insecure_skip_tls_verify")]
    certificate_authority: Option<PathBuf>,
    /// Trust the server without verifying it and record the CA it presents (first use only).
    #[arg(long)]
    insecure_skip_tls_verify: bool,
}

#[derive(clap::Args)]
pub struct LogoutArgs {
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
}

fn default_kubeconfig(given: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(p) = given {
        return Ok(p);
    }
    if let Some(p) = std::env::var_os("KUBECONFIG").and_then(|v| std::env::split_paths(&v).next()) {
        return Ok(p);
    }
    let home = std::env::var_os("HOME").context("HOME is not set; pass --kubeconfig")?;
    Ok(PathBuf::from(home).join(".kube").join("config"))
}

fn write_private(path: &std::path::Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    f.write_all(text.as_bytes())?;
    Ok(())
}

pub async fn login(args: LoginArgs) -> anyhow::Result<()> {
    let password = crate::directory::read_password()?;
    let url: http::Uri = args.server.parse().with_context(|| format!("invalid --server {:?}", args.server))?;
    let mut config = kube::Config::new(url);
    let pinned_ca = match &args.certificate_authority {
        Some(path) => {
            let pem = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            let ders = rustls_pemfile::certs(&mut pem.as_bytes())
                .map(|c| c.map(|c| c.to_vec()))
                .collect::<Result<Vec<_>, _>>()
                .context("parsing --certificate-authority")?;
            config.root_cert = Some(ders);
            Some(pem)
        }
        None if args.insecure_skip_tls_verify => {
            config.accept_invalid_certs = true;
            None
        }
        None => bail!(
            "pass --certificate-authority FILE, or --insecure-skip-tls-verify to trust the server's CA on first use"
        ),
    };
    // A 429 (too many failed logins) is the answer to show, not one to retry behind the user's back.
    config.default_retry = false;
    config.auth_info.username = Some(args.username.clone());
    config.auth_info.password = Some(password.into());
    let client = kube::Client::try_from(config)?;
    let req = http::Request::post("/wcp/login").header("content-type", "application/json").body(b"{}".to_vec())?;
    let text = client.request_text(req).await.map_err(|e| match e {
        kube::Error::Api(s) if s.code == 401 => anyhow::anyhow!("login failed: wrong user name or password"),
        kube::Error::Api(s) if s.code == 429 => anyhow::anyhow!("login refused: {}", s.message),
        other => anyhow::anyhow!("login failed: {other}"),
    })?;
    let answer: Value = serde_json::from_str(&text).context("the server's login answer is not JSON")?;
    let token = answer["session_id"].as_str().context("no session_id in the login answer")?;
    let user = answer["user"].as_str().unwrap_or(&args.username).to_string();
    let namespaces: Vec<String> = answer["namespaces"]
        .as_array()
        .map(|a| a.iter().filter_map(|n| n.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    let ca = match pinned_ca {
        Some(pem) => pem,
        None => {
            eprintln!("canopy: warning: the server was not verified; trusting the CA it presented");
            answer["server_ca"].as_str().context("no server_ca in the login answer")?.to_string()
        }
    };
    let path = default_kubeconfig(args.kubeconfig)?;
    let existing = std::fs::read_to_string(&path).ok();
    let current = namespaces.first().map(String::as_str);
    let merged = canopy_identity::kubeconfig::login_kubeconfig(
        existing.as_deref(),
        &args.server,
        &ca,
        &user,
        token,
        &namespaces,
        current,
    )?;
    write_private(&path, &merged).with_context(|| format!("writing {}", path.display()))?;
    println!("Logged in as {user}. You have access to the following contexts (written to {}):", path.display());
    let entries = canopy_identity::kubeconfig::LoginEntries::new(&args.server, &user, &namespaces)?;
    println!("   {}", entries.server_context);
    for ns in &namespaces {
        println!("   {ns}");
    }
    if namespaces.is_empty() {
        println!("You have no namespace yet: ask an administrator for access.");
    }
    Ok(())
}

pub async fn logout(args: LogoutArgs) -> anyhow::Result<()> {
    let path = default_kubeconfig(args.kubeconfig)?;
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let kc = kube::config::Kubeconfig::from_yaml(&text).context("parsing the kubeconfig")?;
    let context = kc.current_context.clone().context("the kubeconfig has no current context")?;
    let user_entry = kc
        .contexts
        .iter()
        .find(|c| c.name == context)
        .and_then(|c| c.context.as_ref())
        .and_then(|c| c.user.clone())
        .context("the current context names no user")?;
    if let Some(token) = canopy_identity::kubeconfig::user_token(&text, &user_entry)? {
        let config = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?;
        let client = kube::Client::try_from(config)?;
        let req = http::Request::post("/wcp/logout")
            .header("authorization", format!("Bearer {token}"))
            .body(b"{}".to_vec())?;
        if let Err(e) = client.request_text(req).await {
            eprintln!("canopy: warning: the server did not confirm the logout ({e}); removing the token locally");
        }
    }
    let cleaned = canopy_identity::kubeconfig::logout_kubeconfig(&text, &user_entry)?;
    write_private(&path, &cleaned)?;
    println!("Logged out {user_entry}.");
    Ok(())
}
