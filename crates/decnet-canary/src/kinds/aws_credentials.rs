//! `~/.aws/credentials` and `~/.aws/config`: a key pair that exists nowhere
//! but here, and a profile whose S3 endpoint is a decky (or the HTTP
//! receiver, which answers as an S3-compatible store), so the AWS CLI or an
//! SDK sends the key id to us in its SigV4 `Authorization` header.

use rand::RngCore;

use super::{Artifact, Ctx, TokenKind};
use crate::error::{CanaryError, CanaryResult};
use crate::secrets;
use crate::token::{Credential, Token};

/// `aws_credentials`.
pub struct AwsCredentials;

impl TokenKind for AwsCredentials {
    fn name(&self) -> &'static str {
        "aws_credentials"
    }
    fn describe(&self) -> &'static str {
        "AWS access keys (~/.aws/credentials) for an S3-compatible backup store"
    }
    fn is_credential(&self) -> bool {
        true
    }
    fn mint(&self, rng: &mut dyn RngCore) -> CanaryResult<Vec<Credential>> {
        Ok(vec![secrets::aws_key(rng)])
    }
    fn render(&self, token: &Token, ctx: &Ctx) -> CanaryResult<Vec<Artifact>> {
        let (id, secret) = token
            .aws_key()
            .ok_or_else(|| CanaryError::Corrupt(format!("token {} has no AWS key", token.id)))?;
        let endpoint = match &ctx.targets.s3 {
            Some(e) => format!("http://{}", e.authority()),
            None => ctx.http_base.clone(),
        };
        // The same key under `default` and `backup`: whichever profile the
        // intruder picks, the endpoint is ours.
        let credentials = format!(
            "[default]\naws_access_key_id = {id}\naws_secret_access_key = {secret}\n\n\
             [backup]\naws_access_key_id = {id}\naws_secret_access_key = {secret}\n"
        );
        let config = format!(
            "[default]\nregion = eu-west-1\noutput = json\nendpoint_url = {endpoint}\n\n\
             [profile backup]\nregion = eu-west-1\nendpoint_url = {endpoint}\n\
             s3 =\n    addressing_style = path\n"
        );
        Ok(vec![
            Artifact::home(".aws/credentials", credentials, 0o600),
            Artifact::home(".aws/config", config, 0o600),
        ])
    }
}

#[cfg(test)]
mod tests {
    use crate::kinds::testing;

    #[test]
    fn ini_profiles_carry_the_key_and_point_at_the_receiver() {
        let (t, a) = testing::render("aws_credentials");
        let (id, secret) = t.aws_key().unwrap();
        let creds = testing::text(&a[0]);
        assert_eq!(
            creds
                .matches(&format!("aws_access_key_id = {id}\n"))
                .count(),
            2
        );
        assert!(creds.contains(&format!("aws_secret_access_key = {secret}\n")));
        let config = testing::text(&a[1]);
        assert!(config.contains("endpoint_url = http://198.51.100.7:8080\n"));
        assert_eq!(a[1].location.resolve("/root"), "/root/.aws/config");
    }
}
