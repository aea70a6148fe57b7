//! What a decky is for (from its archetype and services), and so what its
//! people type, which job cron runs, which documents lie in their homes
//! and which mail threads they are in. Text placeholders: `{host}`,
//! `{domain}`, `{user}`, `{peer}` (a colleague's name), `{date}`.

/// The decky's job in the organisation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Web or intranet server.
    Web,
    /// Database server.
    Database,
    /// Mail server.
    Mail,
    /// File server.
    Files,
    /// Build / deployment host.
    DevOps,
    /// Monitoring node.
    Monitoring,
    /// Anything else: a generic Linux server.
    Server,
}

/// A nightly job in `/etc/cron.d`, its script and what it says in mail.
pub struct CronJob {
    /// File name in `/etc/cron.d` and `/usr/local/bin/<name>.sh`.
    pub name: &'static str,
    /// Hour (UTC) it runs at.
    pub hour: u32,
    /// Minute it runs at.
    pub minute: u32,
    /// The script.
    pub script: &'static str,
}

/// A mail thread the decky's user takes part in.
pub struct Thread {
    /// Subject (replies get `Re: `).
    pub subject: &'static str,
    /// Bodies, one drawn per message.
    pub bodies: &'static [&'static str],
}

impl Role {
    /// The role of a decky by archetype, else by what it serves.
    pub fn of(archetype: Option<&str>, services: &[String]) -> Role {
        match archetype {
            Some("web-server") => return Role::Web,
            Some("database-server") => return Role::Database,
            Some("mail-server") => return Role::Mail,
            Some("file-server") => return Role::Files,
            Some("devops-host") => return Role::DevOps,
            Some("monitoring-node") => return Role::Monitoring,
            _ => {}
        }
        let has = |s: &str| services.iter().any(|x| x == s);
        if has("smtp") || has("imap") || has("pop3") {
            Role::Mail
        } else if has("mysql") || has("postgres") || has("mongodb") || has("mssql") {
            Role::Database
        } else if has("smb") || has("ftp") {
            Role::Files
        } else if has("http") || has("https") {
            Role::Web
        } else if has("docker_api") || has("k8s") {
            Role::DevOps
        } else {
            Role::Server
        }
    }

    /// Commands its admins type (a session's history is drawn from these).
    pub fn commands(self) -> &'static [&'static str] {
        match self {
            Role::Web => &[
                "sudo nginx -t",
                "sudo systemctl reload nginx",
                "tail -f /var/log/nginx/access.log",
                "cd /var/www/html",
                "grep -c ' 500 ' /var/log/nginx/access.log",
                "sudo certbot certificates",
            ],
            Role::Database => &[
                "sudo -u postgres psql -c '\\l'",
                "ls -lh /var/backups/db/",
                "sudo systemctl status postgresql",
                "du -sh /var/lib/postgresql",
                "tail -n 100 /var/log/postgresql/postgresql-15-main.log",
            ],
            Role::Mail => &[
                "mailq",
                "sudo postqueue -p",
                "sudo tail -n 200 /var/log/mail.log",
                "grep reject /var/log/mail.log | tail",
                "sudo postfix check",
            ],
            Role::Files => &[
                "smbstatus -b",
                "sudo testparm -s",
                "du -sh /srv/*",
                "ls -l /srv/smb",
                "sudo systemctl restart smbd",
            ],
            Role::DevOps => &[
                "docker ps",
                "docker compose logs --tail 50",
                "git pull",
                "git log --oneline -5",
                "kubectl get pods -A",
                "ansible-playbook -i inventory site.yml --check",
            ],
            Role::Monitoring => &[
                "sudo systemctl status prometheus",
                "curl -s localhost:9090/-/healthy",
                "tail -n 50 /var/log/syslog | grep alert",
                "sudo systemctl restart grafana-server",
            ],
            Role::Server => &[
                "sudo systemctl status ssh",
                "ss -tlnp",
                "ip a",
                "last -n 10",
                "cat /etc/os-release",
            ],
        }
    }

    /// Commands any server's admin types.
    pub fn common_commands() -> &'static [&'static str] {
        &[
            "df -h",
            "free -m",
            "uptime",
            "sudo apt update",
            "sudo apt list --upgradable",
            "tail -n 50 /var/log/syslog",
            "sudo journalctl -p err --since yesterday",
            "ls -la",
            "w",
        ]
    }

    /// Its nightly job.
    pub fn cron_job(self) -> CronJob {
        match self {
            Role::Database => CronJob {
                name: "db-backup",
                hour: 2,
                minute: 30,
                script: "#!/bin/sh\n# Nightly dump of every database, kept 14 days.\nset -e\nDEST=/var/backups/db\nmkdir -p \"$DEST\"\nsu postgres -c \"pg_dumpall\" | gzip > \"$DEST/all-$(date +%F).sql.gz\"\nfind \"$DEST\" -name '*.sql.gz' -mtime +14 -delete\n",
            },
            Role::Web => CronJob {
                name: "site-sync",
                hour: 3,
                minute: 10,
                script: "#!/bin/sh\n# Pull the intranet site from the build host.\nset -e\nrsync -a --delete deploy@build01:/srv/site/ /var/www/html/\n",
            },
            Role::Mail => CronJob {
                name: "mail-report",
                hour: 6,
                minute: 5,
                script: "#!/bin/sh\n# Daily delivery statistics for the postmaster.\npflogsumm -d yesterday /var/log/mail.log | mail -s \"Mail report $(hostname)\" postmaster\n",
            },
            Role::DevOps => CronJob {
                name: "docker-prune",
                hour: 4,
                minute: 0,
                script: "#!/bin/sh\n# Keep the build cache from filling the disk.\ndocker system prune -af --filter until=168h\n",
            },
            _ => CronJob {
                name: "backup",
                hour: 1,
                minute: 45,
                script: "#!/bin/sh\n# Nightly copy of /etc and /home to the backup server.\nset -e\ntar czf /var/backups/$(hostname)-$(date +%F).tar.gz /etc /home 2>/dev/null\nfind /var/backups -name '*.tar.gz' -mtime +7 -delete\n",
            },
        }
    }

    /// Documents in the admin's `~/Documents`: (file name, text).
    pub fn documents(self) -> &'static [(&'static str, &'static str)] {
        const NOTES: (&str, &str) = ("todo.txt", "TODO {host}\n- renew certificate before end of month\n- ask {peer} about the firewall change request\n- clean up old backups in /var/backups\n");
        match self {
            Role::Web => &[
                NOTES,
                ("deploy-checklist.md", "# Deploying the intranet on {host}\n\n1. Announce in #it (ping {peer})\n2. `sudo nginx -t` before reload\n3. Check https://intranet.{domain}/health\n4. Watch /var/log/nginx/error.log for 10 minutes\n"),
            ],
            Role::Database => &[
                NOTES,
                ("schema-changes.sql", "-- Pending changes for the ERP database on {host}\n-- reviewed by {peer}\nALTER TABLE invoices ADD COLUMN approved_by integer;\nCREATE INDEX invoices_due_idx ON invoices (due_date);\n"),
            ],
            Role::Mail => &[
                NOTES,
                ("mailing-lists.txt", "all-staff@{domain}   -> everyone\nit@{domain}          -> IT team ({peer})\nalerts@{domain}      -> monitoring, on-call\n"),
            ],
            Role::Files => &[
                NOTES,
                ("share-permissions.csv", "share,group,access\nFinance,finance,rw\nHR,hr,rw\nIT,it-admins,rw\nScans,domain users,ro\n"),
            ],
            Role::DevOps => &[
                NOTES,
                ("runbook.md", "# {host} runbook\n\nRollback: `git checkout <tag> && docker compose up -d`\nEscalation: {peer}\nRegistry: registry.{domain}:5000\n"),
            ],
            Role::Monitoring => &[
                NOTES,
                ("oncall-rota.txt", "Week  Primary  Secondary\n49    {user}     {peer}\n50    {peer}     {user}\n"),
            ],
            Role::Server => &[
                NOTES,
                ("meeting-notes.txt", "IT weekly ({date})\n- {peer}: patching window moves to Saturday night\n- {user}: {host} disk at 70%, order more storage\n"),
            ],
        }
    }

    /// Mail threads its user is in.
    pub fn threads(self) -> &'static [Thread] {
        const COMMON: &[Thread] = &[
            Thread {
                subject: "Patching window this weekend",
                bodies: &[
                    "Hi,\r\n\r\nWe patch the servers on Saturday 22:00-02:00. {host} is in the first batch, please make sure nothing long-running is scheduled.\r\n",
                    "Fine by me. I'll check the backups on {host} finish before 22:00.\r\n",
                    "Reminder: patching starts tonight.\r\n",
                ],
            },
            Thread {
                subject: "Password expiry policy",
                bodies: &[
                    "Hello,\r\n\r\nFrom next month passwords expire after 90 days. Service accounts are exempt but must be documented.\r\n",
                    "Does that include the backup account on {host}?\r\n",
                ],
            },
            Thread {
                subject: "Lunch on Friday?",
                bodies: &[
                    "Anyone up for lunch on Friday? The new place next to the office.\r\n",
                    "Count me in.\r\n",
                ],
            },
        ];
        const WEB: &[Thread] = &[Thread {
            subject: "Intranet returning 502 this morning",
            bodies: &[
                "The intranet on {host} was returning 502 between 08:10 and 08:25. Was that the deploy?\r\n",
                "Yes, the upstream restarted slower than usual. Fixed now.\r\n",
            ],
        }];
        const DB: &[Thread] = &[Thread {
            subject: "ERP database growing fast",
            bodies: &[
                "The ERP database on {host} grew 8 GB this month. Can we archive the 2022 invoices?\r\n",
                "Finance says they need them until the audit is done.\r\n",
            ],
        }];
        const MAIL: &[Thread] = &[Thread {
            subject: "Spam getting through",
            bodies: &[
                "Several people got the same phishing mail this morning. Can we block the sender domain on {host}?\r\n",
                "Blocked. Also added the URL to the proxy blocklist.\r\n",
            ],
        }];
        match self {
            Role::Web => WEB,
            Role::Database => DB,
            Role::Mail => MAIL,
            _ => COMMON,
        }
    }

    /// Threads of every server (joined with [`Role::threads`]).
    pub fn common_threads() -> &'static [Thread] {
        Role::Server.threads()
    }
}

/// Fills the placeholders of a template.
pub fn fill(
    template: &str,
    host: &str,
    domain: &str,
    user: &str,
    peer: &str,
    date: &str,
) -> String {
    template
        .replace("{host}", host)
        .replace("{domain}", domain)
        .replace("{user}", user)
        .replace("{peer}", peer)
        .replace("{date}", date)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archetype_wins_over_services_and_services_decide_otherwise() {
        let svc = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(Role::of(Some("web-server"), &svc(&["smtp"])), Role::Web);
        assert_eq!(Role::of(None, &svc(&["ssh", "imap"])), Role::Mail);
        assert_eq!(Role::of(None, &svc(&["ssh", "smb"])), Role::Files);
        assert_eq!(Role::of(Some("printer"), &svc(&["ssh"])), Role::Server);
    }

    #[test]
    fn templates_fill_every_placeholder() {
        for role in [
            Role::Web,
            Role::Database,
            Role::Mail,
            Role::Files,
            Role::DevOps,
            Role::Monitoring,
            Role::Server,
        ] {
            for (_, t) in role.documents() {
                let s = fill(t, "h", "d", "u", "p", "x");
                assert!(!s.contains('{') || s.contains("${"), "{s}");
            }
            assert!(!role.commands().is_empty());
            assert!(role.cron_job().script.starts_with("#!/bin/sh\n"));
        }
    }
}
