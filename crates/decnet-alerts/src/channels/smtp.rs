//! E-mail over SMTP with lettre: STARTTLS (required, never opportunistic),
//! implicit TLS or none; AUTH PLAIN/LOGIN; a multipart/alternative body
//! (plain text + HTML). The Message-ID is derived from the alert id, so a
//! mail resent after an uncertain failure is recognisably the same one.
//! 5xx replies (bad credentials, rejected recipient) are permanent; 4xx,
//! timeouts, TLS and connection failures are retried.

use std::time::Duration;

use futures::future::BoxFuture;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::{BuildError, Channel, ChannelContext, SendError, Sent};
use crate::alert::Alert;
use crate::config::channel::{SmtpSpec, SmtpTls};
use crate::config::ChannelConfig;
use crate::render::{html_body, one_line, text_body};

/// The SMTP channel.
pub struct Smtp {
    name: String,
    spec: SmtpSpec,
    ctx: ChannelContext,
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

fn build_transport(
    spec: &SmtpSpec,
    timeout: Duration,
    ca_pem: Option<Vec<u8>>,
) -> Result<AsyncSmtpTransport<Tokio1Executor>, BuildError> {
    let invalid = |e: lettre::transport::smtp::Error| BuildError::Invalid(format!("smtp: {e}"));
    let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&spec.host)
        .port(spec.port)
        .timeout(Some(timeout));
    if spec.tls != SmtpTls::None {
        let mut params = TlsParameters::builder(spec.host.clone());
        if let Some(pem) = ca_pem {
            params = params.add_root_certificate(Certificate::from_pem(&pem).map_err(invalid)?);
        }
        let params = params.build_rustls().map_err(invalid)?;
        b = b.tls(match spec.tls {
            SmtpTls::Tls => Tls::Wrapper(params),
            _ => Tls::Required(params),
        });
    } else {
        b = b.tls(Tls::None);
    }
    if let (Some(u), Some(p)) = (&spec.username, &spec.password) {
        b = b
            .credentials(Credentials::new(u.clone(), p.expose().to_owned()))
            .authentication(vec![Mechanism::Plain, Mechanism::Login]);
    }
    if let Some(h) = &spec.hello_name {
        b = b.hello_name(ClientId::Domain(h.clone()));
    }
    Ok(b.build())
}

impl Smtp {
    /// An SMTP channel.
    pub fn new(
        cfg: &ChannelConfig,
        spec: &SmtpSpec,
        ctx: &ChannelContext,
    ) -> Result<Self, BuildError> {
        let ca_pem = match &cfg.ca_file {
            Some(p) => Some(
                std::fs::read(p)
                    .map_err(|e| BuildError::Invalid(format!("ca_file {}: {e}", p.display())))?,
            ),
            None => None,
        };
        Ok(Smtp {
            name: cfg.name.clone(),
            spec: spec.clone(),
            ctx: ctx.clone(),
            transport: build_transport(spec, cfg.timeout, ca_pem)?,
        })
    }

    /// The message this channel would send.
    pub fn message(&self, alert: &Alert) -> Result<Message, SendError> {
        let bad = |what: &str| SendError::permanent(format!("smtp: invalid {what} address"));
        let from: Mailbox = self.spec.from.parse().map_err(|_| bad("from"))?;
        let domain = from.email.domain().to_owned();
        let mut b = Message::builder()
            .from(from)
            .subject(one_line(&format!(
                "{} {}",
                self.spec.subject_prefix,
                alert.headline()
            )))
            .message_id(Some(format!("<{}@{domain}>", alert.id)));
        for to in &self.spec.to {
            b = b.to(to.parse().map_err(|_| bad("to"))?);
        }
        let link = self.ctx.link.as_deref();
        b.multipart(MultiPart::alternative_plain_html(
            text_body(alert, &self.ctx.node, link),
            html_body(alert, &self.ctx.node, link),
        ))
        .map_err(|e| SendError::permanent(format!("smtp: {e}")))
    }
}

/// lettre's error, classified; its text carries server replies, never the
/// password.
fn classify(e: &lettre::transport::smtp::Error) -> SendError {
    let status = e.status().and_then(|c| c.to_string().parse::<u16>().ok());
    let mut message = format!("smtp: {e}");
    message.truncate(300);
    SendError {
        retryable: !e.is_permanent(),
        status,
        message,
    }
}

impl Channel for Smtp {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &'static str {
        "smtp"
    }

    fn send<'a>(&'a self, alert: &'a Alert) -> BoxFuture<'a, Result<Sent, SendError>> {
        Box::pin(async move {
            let msg = self.message(alert)?;
            let resp = self.transport.send(msg).await.map_err(|e| classify(&e))?;
            Ok(Sent {
                status: resp.code().to_string().parse().ok(),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AlertsConfig;

    #[test]
    fn multipart_alternative_with_stable_message_id() {
        let cfg = AlertsConfig::from_ini(
            "[alerts.mail]\ntype = smtp\nhost = 127.0.0.1\nfrom = decnet <alerts@example.org>\nto = soc@example.org\n",
        )
        .unwrap();
        let c = cfg.channel("mail").unwrap();
        let crate::config::ChannelSpec::Smtp(spec) = &c.spec else {
            panic!()
        };
        let ctx = ChannelContext {
            node: "n1".into(),
            link: None,
        };
        let smtp = Smtp::new(c, spec, &ctx).unwrap();
        let mut alert = Alert::test("mail");
        alert.title = "line\r\nBcc: victim@example.org".into();
        let raw = String::from_utf8(smtp.message(&alert).unwrap().formatted()).unwrap();
        assert!(raw.contains("Content-Type: multipart/alternative"));
        assert!(raw.contains("Content-Type: text/plain"));
        assert!(raw.contains("Content-Type: text/html"));
        assert!(raw.contains(&format!("Message-ID: <{}@example.org>", alert.id)));
        let headers = raw.split("\r\n\r\n").next().unwrap();
        assert!(headers.contains("Subject: [decnet] [INFO] line  Bcc: victim@example.org"));
        assert!(
            !headers.contains("\r\nBcc:"),
            "no header injection through the title"
        );
    }
}
