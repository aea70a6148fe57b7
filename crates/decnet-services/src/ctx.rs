//! Per-decky context: spec, persona, limits, connection slots, filesystem.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::admission::Slots;
use decnet_bus::Bus;
use decnet_core::clock::{Clock, SystemClock};
use decnet_core::{DeckySpec, Event, EventKind, Fields, Persona};

/// Resource limits applied to every connection of a decky.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Simultaneous connections per decky (all services together).
    pub max_conns_per_decky: usize,
    /// Simultaneous connections one source address may hold on a decky
    /// (see [`crate::admission`]).
    pub max_conns_per_source: usize,
    /// A connection with no input for this long is closed.
    pub idle_timeout: Duration,
    /// Whole-session cap (slowloris and forgotten sessions).
    pub max_session: Duration,
    /// Longest protocol line / header block accepted.
    pub max_line: usize,
    /// Largest request body / upload kept in memory.
    pub max_body: usize,
    /// Delay before answering a failed login, like a stock sshd/login.
    pub auth_fail_delay: Duration,
    /// Time to complete a login dialogue (login(1)'s 60 s).
    pub login_timeout: Duration,
    /// Disk quota of the artifacts directory (see [`crate::artifacts`]).
    pub artifact_quota: u64,
    /// The process-wide cap on tarpitted connections: one `Arc` shared by
    /// every decky cloned from the same limits (see [`crate::tarpit`]).
    pub tarpit_slots: Arc<crate::tarpit::TarpitSlots>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_conns_per_decky: 512,
            max_conns_per_source: 64,
            idle_timeout: Duration::from_secs(300),
            max_session: Duration::from_secs(3600),
            max_line: 8192,
            max_body: 64 * 1024,
            auth_fail_delay: Duration::from_millis(2000),
            login_timeout: Duration::from_secs(60),
            artifact_quota: crate::artifacts::quota_from_env(),
            tarpit_slots: crate::tarpit::TarpitSlots::new(crate::tarpit::DEFAULT_MAX_CONNS),
        }
    }
}

/// Everything a service needs to know about the decky it serves.
pub struct DeckyCtx {
    /// The validated spec (name, ip, services, per-service config).
    pub spec: DeckySpec,
    /// The persona drawn from the decky's seed.
    pub persona: Persona,
    /// Mutation generation the persona was drawn for.
    pub generation: u32,
    /// Where this decky keeps keys, artifacts, transcripts.
    pub data_dir: PathBuf,
    /// Where events go.
    pub bus: Arc<dyn Bus>,
    /// Limits.
    pub limits: Limits,
    /// Added to every listening port (demo without root: +10000).
    pub port_offset: u16,
    /// Connection slots of the decky and of each source.
    pub slots: Arc<Slots>,
    /// The decky's virtual filesystem, shared by ssh, telnet, ftp and file
    /// drops; generated on first use (see [`DeckyCtx::vfs`]).
    pub vfs: std::sync::OnceLock<Arc<decnet_shell::Vfs>>,
    /// What services' binds asked to add to the filesystem once it exists
    /// (see [`DeckyCtx::on_vfs`]).
    vfs_setup: parking_lot::Mutex<VfsSetup>,
    /// Where the decky sits on the network: its namespace and stack
    /// profile in `netns` mode; `None` binds in the host namespace.
    pub net: Option<Arc<decnet_net::DeckyNet>>,
    /// How its content lives (the fleet's `[content]`).
    pub content: ContentCtx,
    /// Which filesystem this context serves: new for each generated one
    /// (a new decky, a mutation), kept by [`DeckyCtx::with_spec`], which
    /// shares it. Lets callers tell "this decky's files already have X"
    /// without generating the filesystem to compare it.
    pub vfs_id: u64,
}

/// Source of [`DeckyCtx::vfs_id`]s.
static NEXT_VFS_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// A service's addition to the decky's filesystem (the web server's home
/// page, the FTP server's public tree), run once on the built filesystem.
pub type VfsHook = Box<dyn FnOnce(&decnet_shell::Vfs) + Send>;

/// The hooks waiting for the filesystem, or the mark that it is built and
/// a new hook runs at once.
enum VfsSetup {
    Waiting(Vec<VfsHook>),
    Built,
}

/// A handler's way to its decky's filesystem: the decky's is generated the
/// first time a session reads it, not when the service binds.
#[derive(Clone)]
pub enum LazyVfs {
    /// A filesystem that already exists (tests, other generators).
    Built(Arc<decnet_shell::Vfs>),
    /// The decky's ([`DeckyCtx::vfs`]).
    Decky(Arc<DeckyCtx>),
}

impl LazyVfs {
    /// The filesystem, generated now if nothing has read it yet.
    pub fn get(&self) -> Arc<decnet_shell::Vfs> {
        match self {
            LazyVfs::Built(vfs) => vfs.clone(),
            LazyVfs::Decky(decky) => decky.vfs(),
        }
    }
}

impl From<Arc<decnet_shell::Vfs>> for LazyVfs {
    fn from(vfs: Arc<decnet_shell::Vfs>) -> LazyVfs {
        LazyVfs::Built(vfs)
    }
}

/// The fleet's `[content]` as deckies use it: one clock for the whole
/// fleet, so deckies agree on the time their mail and logins carry.
#[derive(Clone)]
pub struct ContentCtx {
    /// The fleet's clock (`clock_speed`), which shells, mail and the
    /// lived-in story read.
    pub clock: Arc<dyn Clock>,
    /// Whether filesystems live (`lived`, on by default): mail, logins and
    /// logs accumulate as time passes.
    pub lived: bool,
    /// The model that writes mail bodies (`llm`), if any.
    pub llm: Option<crate::llm::LlmSettings>,
}

impl Default for ContentCtx {
    fn default() -> Self {
        ContentCtx {
            clock: Arc::new(SystemClock),
            lived: true,
            llm: None,
        }
    }
}

impl ContentCtx {
    /// From the fleet file's section; the clock starts now.
    pub fn from_config(c: &decnet_core::content::ContentConfig) -> ContentCtx {
        let clock: Arc<dyn Clock> = if c.clock_speed > 1.0 {
            Arc::new(decnet_core::clock::ScaledClock::new(c.clock_speed))
        } else {
            Arc::new(SystemClock)
        };
        ContentCtx {
            clock,
            lived: c.lived,
            llm: crate::llm::LlmSettings::from_config(c),
        }
    }
}

impl DeckyCtx {
    /// Builds the context of a decky: draws its persona from
    /// `DeckySeed::new(name, generation)` and sizes its connection cap.
    pub fn new(
        spec: DeckySpec,
        generation: u32,
        data_dir: PathBuf,
        bus: Arc<dyn Bus>,
        limits: Limits,
        port_offset: u16,
    ) -> Self {
        let seed = decnet_core::DeckySeed::new(&spec.name, generation);
        let persona = Persona::generate(
            &seed,
            spec.distro.as_deref(),
            &spec.preferred_distros(),
            &spec.nmap_os,
            chrono::Utc::now(),
        );
        DeckyCtx {
            persona,
            generation,
            data_dir,
            bus,
            slots: Slots::new(&limits),
            limits,
            port_offset,
            spec,
            vfs: std::sync::OnceLock::new(),
            vfs_setup: parking_lot::Mutex::new(VfsSetup::Waiting(Vec::new())),
            net: None,
            content: ContentCtx::default(),
            vfs_id: NEXT_VFS_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        }
    }

    /// The decky's virtual filesystem: one per decky, generated from its
    /// persona and seed with the accounts of its ssh credentials, shared by
    /// every session of every protocol and by API file drops.
    ///
    /// Generated on first use, not at deploy: a fleet of a thousand deckies
    /// otherwise spends most of its start and memory on homes, mail and logs
    /// nobody has looked at yet. Services therefore never call this from
    /// `bind`; what they add to the tree goes through [`DeckyCtx::on_vfs`].
    pub fn vfs(&self) -> Arc<decnet_shell::Vfs> {
        self.vfs
            .get_or_init(|| {
                let vfs = self.generate_vfs();
                // Taken under the lock, so a hook registered from now on
                // sees `Built` and waits for this init instead of queueing
                // behind a drain that already happened.
                let hooks = match std::mem::replace(&mut *self.vfs_setup.lock(), VfsSetup::Built) {
                    VfsSetup::Waiting(hooks) => hooks,
                    VfsSetup::Built => Vec::new(),
                };
                // Before the filesystem is published: no reader ever sees
                // it without the services' additions.
                for hook in hooks {
                    hook(&vfs);
                }
                Arc::new(vfs)
            })
            .clone()
    }

    /// Whether the filesystem has been generated yet.
    pub fn vfs_built(&self) -> bool {
        self.vfs.get().is_some()
    }

    /// Runs `hook` on the decky's filesystem when it is generated (at once
    /// when it already is). Services' binds put their content in the tree
    /// this way, so binding does not generate it. The hook must not call
    /// [`DeckyCtx::vfs`]: it runs inside its initialisation.
    pub fn on_vfs(&self, hook: impl FnOnce(&decnet_shell::Vfs) + Send + 'static) {
        let mut setup = self.vfs_setup.lock();
        match &mut *setup {
            VfsSetup::Waiting(hooks) => hooks.push(Box::new(hook)),
            VfsSetup::Built => {
                drop(setup);
                hook(&self.vfs());
            }
        }
    }

    /// The decky's filesystem as its persona, seed, login accounts and
    /// `[content]` make it, with the lived-in story started.
    fn generate_vfs(&self) -> decnet_shell::Vfs {
        let logins = self.logins();
        let seed = decnet_core::DeckySeed::new(&self.spec.name, self.generation);
        let addrs = decnet_shell::HostAddrs::of(&self.spec.addrs());
        let vfs = decnet_shell::generate_on(&self.persona, &seed, addrs, &logins)
            .with_clock(self.content.clock.clone());
        if self.content.lived {
            let writer = self.content.llm.clone().and_then(|s| {
                let w = crate::llm::LlmWriter::new(s, &self.data_dir)?;
                Some(Arc::new(w) as Arc<dyn decnet_shell::lived::writer::BodyWriter>)
            });
            decnet_shell::lived::start(
                &vfs,
                &decnet_shell::lived::LifeSpec {
                    persona: &self.persona,
                    seed: &seed,
                    archetype: self.spec.archetype.as_deref(),
                    services: &self.spec.services,
                    writer,
                },
            );
        }
        vfs
    }

    /// The login accounts of every login service (ssh first), so a
    /// telnet-only user still has a passwd entry and a home directory.
    fn logins(&self) -> Vec<(String, String)> {
        let mut logins = crate::creds::Credentials::for_service(&self.spec, "ssh", &[]).accepted;
        for svc in ["telnet", "ftp"] {
            if self.spec.services.iter().any(|s| s == svc) {
                for (u, p) in
                    crate::creds::Credentials::for_service(&self.spec, svc, &["ssh"]).accepted
                {
                    if !logins.iter().any(|(x, _)| *x == u) {
                        logins.push((u, p));
                    }
                }
            }
        }
        logins
    }

    /// The accounts of the decky's filesystem (`/etc/passwd`, homes):
    /// derived from the logins as the generator does, so nothing has to
    /// generate the filesystem to know them.
    pub fn accounts(&self) -> Vec<decnet_shell::Account> {
        decnet_shell::gen::accounts(&self.logins())
    }

    /// Same decky (persona, generation, connection slots, filesystem) with a
    /// changed spec: used for live service add/remove and config updates.
    pub fn with_spec(&self, spec: DeckySpec) -> DeckyCtx {
        // Materialise the filesystem first so old and new contexts share one.
        let vfs = std::sync::OnceLock::new();
        let _ = vfs.set(self.vfs());
        DeckyCtx {
            vfs_setup: parking_lot::Mutex::new(VfsSetup::Built),
            spec,
            persona: self.persona.clone(),
            generation: self.generation,
            data_dir: self.data_dir.clone(),
            bus: self.bus.clone(),
            limits: self.limits.clone(),
            port_offset: self.port_offset,
            slots: self.slots.clone(),
            vfs,
            net: self.net.clone(),
            content: self.content.clone(),
            vfs_id: self.vfs_id,
        }
    }

    /// The same decky re-rolled to `generation`: a new persona and a new
    /// filesystem drawn from the seed of that generation, but the same
    /// network attachment and connection slots, so the sessions still
    /// running on the previous persona keep their addresses and count
    /// against the same caps.
    pub fn mutated(&self, generation: u32) -> DeckyCtx {
        let mut next = DeckyCtx::new(
            self.spec.clone(),
            generation,
            self.data_dir.clone(),
            self.bus.clone(),
            self.limits.clone(),
            self.port_offset,
        );
        next.slots = self.slots.clone();
        next.net = self.net.clone();
        next
    }

    /// Decky name.
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// Decky's primary address (IPv4 when it has one).
    pub fn ip(&self) -> IpAddr {
        self.spec.ip
    }

    /// Every address the decky listens on.
    pub fn addrs(&self) -> Vec<IpAddr> {
        self.spec.addrs()
    }

    /// A config value of `[decky.service]`.
    pub fn config(&self, service: &str, key: &str) -> Option<&str> {
        self.spec.config(service).get(key).map(String::as_str)
    }

    /// Publishes an event that belongs to no connection (UDP probes, errors).
    pub fn emit_raw(
        &self,
        service: &str,
        kind: EventKind,
        peer: SocketAddr,
        local: SocketAddr,
        fields: Fields,
    ) {
        let mut e = Event::new(self.spec.name.clone(), service, kind);
        e.src_ip = peer.ip().to_canonical();
        e.src_port = peer.port();
        e.dst_ip = local.ip().to_canonical();
        e.dst_port = local.port();
        e.fields = fields;
        self.bus.publish_event(e);
    }
}
