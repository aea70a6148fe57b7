//! A decky's filesystem (homes, mail, logs, the services' own trees) is
//! generated the first time something reads it, not when its services
//! bind: a thousand deckies start without building a thousand trees, and
//! what the services add (the web server's page, FTP's public tree, TFTP's
//! configs, the SMB lure share) is there the moment anyone looks.
#![allow(clippy::unwrap_used)]

mod webmail_util;

use decnet_services::Limits;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use webmail_util::Env;

const INI: &str = "[general]\nnet = 127.0.62.0/24\n\n[lazy1]\nip = 127.0.62.77\nservices = http, telnet, ftp, tftp, smb\ndistro = debian\n\n[lazy1.smb]\nshare = Payroll\n";

/// Reads what the server says first (banner, greeting) within 5 s.
async fn first_bytes(addr: std::net::SocketAddr) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut buf = vec![0u8; 512];
    let n = tokio::time::timeout(std::time::Duration::from_secs(5), s.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    buf.truncate(n);
    buf
}

#[tokio::test]
async fn the_filesystem_is_built_on_first_read_with_every_services_content() {
    let env = Env::start(INI, 21300, Limits::default()).await;
    let ctx = env.fleet.decky("lazy1").await.unwrap();
    assert!(!ctx.vfs_built(), "deploying built the filesystem");

    // Banners need no filesystem.
    let ftp = first_bytes(env.addr("127.0.62.77", 21)).await;
    assert!(
        ftp.starts_with(b"220 "),
        "{:?}",
        String::from_utf8_lossy(&ftp)
    );
    let telnet = first_bytes(env.addr("127.0.62.77", 23)).await;
    assert!(!telnet.is_empty());
    assert!(!ctx.vfs_built(), "a banner built the filesystem");
    // The accounts are known without the tree (canary planting reads them).
    let accounts = ctx.accounts();
    assert!(
        !ctx.vfs_built(),
        "reading the accounts built the filesystem"
    );

    // The first page served reads the document root: the tree exists from
    // then on, with the page the server answers with in it.
    let url = format!("http://{}/", env.addr("127.0.62.77", 80));
    let home = reqwest::get(url).await.unwrap().text().await.unwrap();
    assert!(ctx.vfs_built());
    let vfs = ctx.vfs();
    let names = |a: &[decnet_shell::Account]| -> Vec<(String, u32, String)> {
        a.iter()
            .map(|a| (a.name.clone(), a.uid, a.home.clone()))
            .collect()
    };
    assert_eq!(names(&accounts), names(&vfs.host().accounts));
    assert!(accounts.len() > 1, "{:?}", names(&accounts));
    let served = ["index.html", "index.nginx-debian.html"]
        .iter()
        .find_map(|n| vfs.get(&format!("/var/www/html/{n}")))
        .unwrap();
    let decnet_shell::Kind::File(decnet_shell::Content::Bytes(on_disk)) = served.kind else {
        panic!("the index is not a file: {served:?}");
    };
    assert_eq!(&on_disk[..], home.as_bytes());
    assert_ne!(
        &on_disk[..],
        decnet_shell::gen::DEFAULT_WEB_INDEX.as_bytes()
    );

    // Every other service's content went in with it, and so did the
    // lived-in set-up (a cron job of the host's role).
    assert!(vfs.get("/srv/ftp/pub/README.txt").is_some());
    assert!(vfs.get("/srv/tftp/router-confg").is_some());
    assert!(!vfs.children("/srv/smb/Payroll").is_empty());
    assert!(!vfs.children("/etc/cron.d").is_empty());

    // A service bound once the tree exists (a live add) writes at once.
    ctx.on_vfs(|vfs| {
        vfs.add_file("/srv/added-late", b"x", 0o644, vfs.now(), None)
            .unwrap();
    });
    assert!(vfs.get("/srv/added-late").is_some());
    env.stop().await;
}
