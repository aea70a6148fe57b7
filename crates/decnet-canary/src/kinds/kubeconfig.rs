//! `~/.kube/config` for a cluster whose API server is a k8s decky, with a
//! service-account bearer token that exists nowhere else.

use rand::RngCore;

use super::{cred, Artifact, Ctx, TokenKind};
use crate::error::CanaryResult;
use crate::secrets;
use crate::token::{Credential, Token};

/// `kubeconfig`.
pub struct Kubeconfig;

impl TokenKind for Kubeconfig {
    fn name(&self) -> &'static str {
        "kubeconfig"
    }
    fn describe(&self) -> &'static str {
        "kubeconfig with a service-account token for a k8s decky"
    }
    fn is_credential(&self) -> bool {
        true
    }
    fn mint(&self, rng: &mut dyn RngCore) -> CanaryResult<Vec<Credential>> {
        Ok(vec![secrets::k8s_token(rng)])
    }
    fn render(&self, token: &Token, ctx: &Ctx) -> CanaryResult<Vec<Artifact>> {
        let bearer = cred(token, |c| match c {
            Credential::Bearer { token } => Some(token),
            _ => None,
        })?;
        let api = Ctx::need("kubeconfig", "k8s", &ctx.targets.k8s)?;
        // The decky's certificate is self-signed: skipping verification is
        // what such kubeconfigs really say.
        let yaml = format!(
            "apiVersion: v1\n\
             kind: Config\n\
             clusters:\n\
             - cluster:\n    insecure-skip-tls-verify: true\n    server: https://{}\n  name: prod-cluster\n\
             contexts:\n\
             - context:\n    cluster: prod-cluster\n    namespace: kube-system\n    user: deployer\n  name: prod\n\
             current-context: prod\n\
             preferences: {{}}\n\
             users:\n\
             - name: deployer\n  user:\n    token: {bearer}\n",
            api.authority()
        );
        Ok(vec![Artifact::home(".kube/config", yaml, 0o600)])
    }
}

#[cfg(test)]
mod tests {
    use crate::kinds::testing;

    #[test]
    fn parses_as_a_kubeconfig() {
        let (t, a) = testing::render("kubeconfig");
        let doc: serde_yaml::Value = serde_yaml::from_slice(&a[0].bytes).unwrap();
        assert_eq!(doc["kind"], "Config");
        assert_eq!(doc["current-context"], "prod");
        assert_eq!(
            doc["clusters"][0]["cluster"]["server"],
            "https://10.0.0.20:6443"
        );
        let crate::token::Credential::Bearer { token } = &t.credentials[0] else {
            unreachable!()
        };
        assert_eq!(
            doc["users"][0]["user"]["token"].as_str(),
            Some(token.as_str())
        );
    }
}
