//! `canopy user ...` and `canopy group ...`: the admin verbs of the built-in directory, as API
//! calls with the admin kubeconfig (`--kubeconfig` or `KUBECONFIG`).

use std::io::Read;
use std::path::PathBuf;

use anyhow::{Context, bail};
use canopy_identity::directory::{canonical_user_name, object_name};
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use serde_json::json;

#[derive(clap::Subcommand)]
pub enum UserCommand {
    /// Create a user; the password is read from standard input.
    Add {
        name: String,
        /// Groups the user belongs to (repeatable).
        #[arg(long = "group")]
        groups: Vec<String>,
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Delete a user; its tokens stop working at once.
    Del { name: String },
    /// Set a user's password (read from standard input).
    Passwd {
        name: String,
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Disable or enable a user.
    Disable {
        name: String,
        #[arg(long)]
        undo: bool,
    },
}

#[derive(clap::Subcommand)]
pub enum GroupCommand {
    /// Create a group (or replace its members).
    Add {
        name: String,
        #[arg(long = "member")]
        members: Vec<String>,
    },
    /// Delete a group.
    Del { name: String },
}

pub async fn admin_client(kubeconfig: Option<PathBuf>) -> anyhow::Result<kube::Client> {
    Ok(kube::Client::try_from(admin_config(kubeconfig).await?)?)
}

/// The client configuration of `kubeconfig` (else KUBECONFIG or ~/.kube/config).
pub async fn admin_config(kubeconfig: Option<PathBuf>) -> anyhow::Result<kube::Config> {
    let config = match kubeconfig {
        Some(path) => {
            let kc =
                kube::config::Kubeconfig::read_from(&path).with_context(|| format!("reading {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?
        }
        None => kube::Config::infer().await.context("no --kubeconfig given and none found in KUBECONFIG or ~/.kube")?,
    };
    Ok(config)
}

fn api(client: kube::Client, kind: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("iam.canopy.io", "v1alpha1", kind);
    let plural = format!("{}s", kind.to_lowercase());
    Api::all_with(client, &ApiResource::from_gvk_with_plural(&gvk, &plural))
}

/// Reads a password from standard input (one line; a trailing newline is not part of it).
pub fn read_password() -> anyhow::Result<String> {
    let mut text = String::new();
    std::io::stdin().read_to_string(&mut text).context("reading the password from standard input")?;
    let password = text.strip_suffix('\n').map(|p| p.strip_suffix('\r').unwrap_or(p)).unwrap_or(&text).to_string();
    if password.is_empty() {
        bail!("no password on standard input");
    }
    Ok(password)
}

fn qualified_groups(groups: &[String]) -> anyhow::Result<Vec<String>> {
    groups.iter().map(|g| canonical_user_name(g).map_err(anyhow::Error::from)).collect()
}

pub async fn user(cmd: UserCommand, kubeconfig: Option<PathBuf>) -> anyhow::Result<()> {
    let users = api(admin_client(kubeconfig).await?, "User");
    match cmd {
        UserCommand::Add { name, groups, .. } => {
            let name = canonical_user_name(&name)?;
            let hash = canopy_identity::PasswordPolicy::default().hash(&read_password()?)?;
            let obj: DynamicObject = serde_json::from_value(json!({
                "apiVersion": "iam.canopy.io/v1alpha1",
                "kind": "User",
                "metadata": {"name": object_name(&name)},
                "spec": {"name": name, "groups": qualified_groups(&groups)?, "passwordHash": hash},
            }))?;
            users.create(&PostParams::default(), &obj).await.with_context(|| format!("creating user {name}"))?;
            println!("user {name} created");
        }
        UserCommand::Del { name } => {
            let name = canonical_user_name(&name)?;
            users
                .delete(&object_name(&name), &Default::default())
                .await
                .with_context(|| format!("deleting user {name}"))?;
            println!("user {name} deleted");
        }
        UserCommand::Passwd { name, .. } => {
            let name = canonical_user_name(&name)?;
            let hash = canopy_identity::PasswordPolicy::default().hash(&read_password()?)?;
            let patch = json!({"spec": {"passwordHash": hash}});
            users
                .patch(&object_name(&name), &PatchParams::default(), &Patch::Merge(patch))
                .await
                .with_context(|| format!("setting the password of {name}"))?;
            println!("password of {name} changed");
        }
        UserCommand::Disable { name, undo } => {
            let name = canonical_user_name(&name)?;
            let patch = json!({"spec": {"disabled": !undo}});
            users.patch(&object_name(&name), &PatchParams::default(), &Patch::Merge(patch)).await?;
            println!("user {name} {}", if undo { "enabled" } else { "disabled" });
        }
    }
    Ok(())
}

pub async fn group(cmd: GroupCommand, kubeconfig: Option<PathBuf>) -> anyhow::Result<()> {
    let groups = api(admin_client(kubeconfig).await?, "Group");
    match cmd {
        GroupCommand::Add { name, members } => {
            let name = canonical_user_name(&name)?;
            let obj = json!({
                "apiVersion": "iam.canopy.io/v1alpha1",
                "kind": "Group",
                "metadata": {"name": object_name(&name)},
                "spec": {"name": name, "members": qualified_groups(&members)?},
            });
            let params = PatchParams::apply("canopy-cli").force();
            groups.patch(&object_name(&name), &params, &Patch::Apply(obj)).await?;
            println!("group {name} saved");
        }
        GroupCommand::Del { name } => {
            let name = canonical_user_name(&name)?;
            groups.delete(&object_name(&name), &Default::default()).await?;
            println!("group {name} deleted");
        }
    }
    Ok(())
}
