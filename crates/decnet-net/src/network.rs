//! Attaching deckies to the network in the fleet's mode, with a state file
//! so whatever a crashed run created is removed by the next one.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use decnet_core::fleet::{General, NetMode};
use decnet_core::format_mac;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::cmd::{ip, ip_output};
use crate::dhcp::{DhcpClient, HeldLease, Lease};
use crate::netns::{run_in, NETNS_DIR};
use crate::personality::{self, Personality};
use crate::{send_gratuitous_arp, send_unsolicited_na, NetError, StackProfile};

/// How deckies reach the network (from the fleet's `[general]`).
#[derive(Clone, Debug, Default)]
pub struct NetConfig {
    /// Network mode.
    pub mode: NetMode,
    /// Host interface for alias addresses / macvlan parent.
    pub interface: Option<String>,
    /// Prefix length of the decoy network (`net =`).
    pub prefix_len: u8,
    /// Prefix length of the IPv6 decoy network (`net6 =`).
    pub prefix_len6: u8,
    /// Default gateway given to netns deckies.
    pub gw: Option<Ipv4Addr>,
    /// IPv6 default gateway given to netns deckies with an IPv6 address.
    pub gw6: Option<Ipv6Addr>,
}

impl NetConfig {
    /// The network settings of a fleet's `[general]` section.
    pub fn from_general(general: &General) -> NetConfig {
        NetConfig {
            mode: general.mode,
            interface: general.interface.clone(),
            prefix_len: general.net.map(|n| n.prefix_len()).unwrap_or(24),
            prefix_len6: general.net6.map(|n| n.prefix_len()).unwrap_or(64),
            gw: general.gw,
            gw6: general.gw6,
        }
    }
}

/// What [`Network::attach`] needs to know about a decky.
#[derive(Clone, Debug)]
pub struct AttachSpec<'a> {
    /// Decky name.
    pub name: &'a str,
    /// Configured primary address (IPv4, or IPv6 for a v6-only decky).
    pub ip: IpAddr,
    /// The IPv6 address of a dual-stack decky.
    pub ip6: Option<Ipv6Addr>,
    /// Persona MAC (vendor OUI + seeded NIC part).
    pub mac: [u8; 6],
    /// Persona OS family (`nmap_os`), which picks the [`StackProfile`].
    pub nmap_os: &'a str,
    /// Netns mode: obtain the address by DHCP as this client (`ip` is
    /// then ignored; the lease's address, prefix and router are used).
    pub dhcp: Option<&'a DhcpClient>,
}

/// Where a decky's sockets live once attached.
#[derive(Clone, Debug)]
pub struct DeckyNet {
    /// Namespace handle to open sockets in (`None`: the host namespace).
    pub netns: Option<PathBuf>,
    /// The decky's primary address.
    pub ip: IpAddr,
    /// The MAC the decky answers ARP with (`None` on loopback).
    pub mac: Option<[u8; 6]>,
    /// Stack settings applied to the namespace (`None` outside netns mode).
    pub stack: Option<StackProfile>,
    /// The DHCP lease the address came from (kept and released by
    /// [`Network`]; see [`Network::renew_due`]).
    pub lease: Option<Lease>,
}

/// What [`Network::renew_due`] did beyond quiet renewals.
#[derive(Debug, Default)]
pub struct RenewReport {
    /// Deckies whose renewal failed: still holding a valid lease when the
    /// server was merely unreachable, without an address when it was lost
    /// and no new one could be had.
    pub failed: Vec<(String, NetError)>,
    /// Deckies that lost their lease and got a new one.
    pub rejoined: Vec<Rejoined>,
}

/// A decky that lost its lease and rejoined the network.
#[derive(Debug)]
pub struct Rejoined {
    /// The decky.
    pub decky: String,
    /// The address it had.
    pub old_ip: Ipv4Addr,
    /// The new lease (its address may differ: listeners must follow).
    pub lease: Lease,
}

/// How long attaching waits for a DHCP lease (a real client keeps trying;
/// a decky that cannot get an address fails to deploy instead).
pub const DHCP_TIMEOUT: Duration = Duration::from_secs(30);

/// Name of a decky's namespace under [`NETNS_DIR`].
pub fn netns_name(decky: &str) -> String {
    format!("decnet-{decky}")
}

/// A host-side interface name for a decky's link before it moves into its
/// namespace (names are limited to 15 bytes; decky names are longer).
fn temp_link_name(decky: &str) -> String {
    let digest = Sha256::digest(decky.as_bytes());
    format!("dn{}", hex::encode(&digest[..5]))
}

fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut out = [0u8; 6];
    let mut parts = s.split(':');
    for byte in &mut out {
        *byte = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(out)
}

/// What this process created, written before it is created.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
struct State {
    /// `(interface, address/prefix)` aliases.
    aliases: Vec<(String, String)>,
    /// Namespace names.
    namespaces: Vec<String>,
}

/// Attaches and detaches deckies in one mode; see the crate docs.
pub struct Network {
    config: NetConfig,
    state_path: Option<PathBuf>,
    state: Mutex<State>,
    /// DHCP leases held by netns deckies, by decky name.
    leases: Mutex<HashMap<String, HeldLease>>,
    /// Packet personalities of shaped netns deckies, by decky name.
    personalities: Mutex<HashMap<String, Personality>>,
}

/// Set once the first shaping failure has been logged as a warning (the
/// same cause would repeat for every Windows decky).
static SHAPING_WARNED: AtomicBool = AtomicBool::new(false);

impl Network {
    /// Loopback: nothing to create, nothing to clean.
    pub fn loopback() -> Network {
        Network {
            config: NetConfig::default(),
            state_path: None,
            state: Mutex::new(State::default()),
            leases: Mutex::default(),
            personalities: Mutex::default(),
        }
    }

    /// Opens the network of a fleet. `state_path` (in the data dir) lists
    /// what a previous run created; anything it names is removed first, so a
    /// crash never leaves namespaces or addresses behind for long.
    pub fn open(config: NetConfig, state_path: PathBuf) -> Result<Network, NetError> {
        if config.mode != NetMode::Loopback {
            let iface = config.interface.as_deref().ok_or_else(|| {
                NetError::Config("alias and netns modes need [general] interface".into())
            })?;
            ip(&["link", "show", "dev", iface])
                .map_err(|e| NetError::Config(format!("interface '{iface}' is not usable: {e}")))?;
        }
        let network = Network {
            config,
            state_path: Some(state_path),
            state: Mutex::new(State::default()),
            leases: Mutex::default(),
            personalities: Mutex::default(),
        };
        network.recover();
        Ok(network)
    }

    /// The mode in use.
    pub fn mode(&self) -> NetMode {
        self.config.mode
    }

    fn recover(&self) {
        let Some(path) = &self.state_path else { return };
        let Ok(text) = std::fs::read_to_string(path) else {
            return;
        };
        let Ok(left) = serde_json::from_str::<State>(&text) else {
            tracing::warn!(path = %path.display(), "unreadable network state file; ignoring it");
            return;
        };
        for (iface, cidr) in &left.aliases {
            match ip(&["addr", "del", cidr, "dev", iface]) {
                Ok(()) => tracing::info!(%iface, %cidr, "removed address left by an earlier run"),
                Err(e) => tracing::debug!("leftover alias already gone: {e}"),
            }
        }
        for ns in &left.namespaces {
            if Path::new(NETNS_DIR).join(ns).exists() {
                match delete_namespace(ns) {
                    Ok(()) => {
                        tracing::info!(netns = %ns, "removed namespace left by an earlier run")
                    }
                    Err(e) => tracing::warn!("could not remove leftover namespace: {e}"),
                }
            }
        }
        self.save(&State::default());
    }

    fn save(&self, state: &State) {
        let Some(path) = &self.state_path else { return };
        let tmp = path.with_extension("tmp");
        let written = serde_json::to_vec_pretty(state)
            .map_err(std::io::Error::other)
            .and_then(|bytes| std::fs::write(&tmp, bytes))
            .and_then(|()| std::fs::rename(&tmp, path));
        if let Err(e) = written {
            tracing::warn!(path = %path.display(), "cannot write network state: {e}");
        }
    }

    fn record(&self, edit: impl FnOnce(&mut State)) {
        let mut state = self.state.lock();
        edit(&mut state);
        self.save(&state);
    }

    /// Gives a decky its place on the network (see the crate docs).
    pub fn attach(&self, spec: &AttachSpec<'_>) -> Result<DeckyNet, NetError> {
        match self.config.mode {
            NetMode::Loopback => Ok(DeckyNet {
                netns: None,
                ip: spec.ip,
                mac: None,
                stack: None,
                lease: None,
            }),
            NetMode::Alias => self.attach_alias(spec),
            NetMode::Netns => {
                let ns = netns_name(spec.name);
                self.record(|s| s.namespaces.push(ns.clone()));
                self.attach_netns(spec, &ns).inspect_err(|_| {
                    let _ = delete_namespace(&ns);
                    self.record(|s| s.namespaces.retain(|n| n != &ns));
                })
            }
        }
    }

    fn interface(&self) -> &str {
        self.config.interface.as_deref().unwrap_or("")
    }

    fn cidr(&self, addr: IpAddr) -> String {
        match addr {
            IpAddr::V4(_) => format!("{addr}/{}", self.config.prefix_len),
            IpAddr::V6(_) => format!("{addr}/{}", self.config.prefix_len6),
        }
    }

    fn attach_alias(&self, spec: &AttachSpec<'_>) -> Result<DeckyNet, NetError> {
        let iface = self.interface().to_owned();
        let addrs: Vec<IpAddr> = std::iter::once(spec.ip)
            .chain(spec.ip6.map(IpAddr::V6))
            .collect();
        let listed = ip_output(&["-o", "addr", "show", "dev", &iface])?;
        for addr in &addrs {
            let text = addr.to_string();
            if listed
                .split_whitespace()
                .any(|word| word.split('/').next() == Some(&text))
            {
                return Err(NetError::Config(format!(
                    "{addr} is already an address of {iface}; decnet only removes what it adds"
                )));
            }
        }
        for (n, addr) in addrs.iter().enumerate() {
            if let Err(e) = self.add_alias(&iface, *addr) {
                for added in &addrs[..n] {
                    self.remove_alias(&iface, *added);
                }
                return Err(e);
            }
        }
        let mac = link_mac(None, &iface)?;
        for addr in addrs {
            announce(&iface, mac, addr);
        }
        Ok(DeckyNet {
            netns: None,
            ip: spec.ip,
            mac: Some(mac),
            stack: None,
            lease: None,
        })
    }

    /// Adds one alias address, recorded first so a crash leaves it listed.
    fn add_alias(&self, iface: &str, addr: IpAddr) -> Result<(), NetError> {
        let cidr = self.cidr(addr);
        self.record(|s| s.aliases.push((iface.to_owned(), cidr.clone())));
        let added = match addr {
            IpAddr::V4(_) => ip(&["addr", "add", &cidr, "dev", iface]),
            // No duplicate address detection: a tentative address cannot
            // be bound, and the decky's listeners bind right after this.
            IpAddr::V6(_) => ip(&["-6", "addr", "add", &cidr, "dev", iface, "nodad"]),
        };
        if added.is_err() {
            self.record(|s| s.aliases.retain(|(i, c)| !(i == iface && c == &cidr)));
        }
        added
    }

    /// Removes an alias [`Network::add_alias`] added (failures logged).
    fn remove_alias(&self, iface: &str, addr: IpAddr) {
        let cidr = self.cidr(addr);
        if let Err(e) = ip(&["addr", "del", &cidr, "dev", iface]) {
            tracing::warn!("{e}");
        }
        self.record(|s| s.aliases.retain(|(i, c)| !(i == iface && c == &cidr)));
    }

    fn attach_netns(&self, spec: &AttachSpec<'_>, ns: &str) -> Result<DeckyNet, NetError> {
        let handle = Path::new(NETNS_DIR).join(ns);
        if handle.exists() {
            delete_namespace(ns)?;
        }
        ip(&["netns", "add", ns])?;
        // Before eth0 moves in: it takes the namespace's IPv6 defaults then.
        let stack = StackProfile::for_os(spec.nmap_os);
        stack.apply(&handle)?;
        let parent = self.interface().to_owned();
        let temp = temp_link_name(spec.name);
        let mac = format_mac(spec.mac);
        // A stale host-side link from an interrupted attach would block the name.
        let _ = ip(&["link", "del", &temp]);
        let macvlan = ip(&[
            "link", "add", &temp, "link", &parent, "address", &mac, "type", "macvlan", "mode",
            "bridge",
        ]);
        if let Err(e) = macvlan {
            tracing::warn!(%parent, "macvlan failed ({e}); using ipvlan (the decky shares the parent's MAC)");
            ip(&[
                "link", "add", &temp, "link", &parent, "type", "ipvlan", "mode", "l2",
            ])?;
        }
        if let Err(e) = ip(&["link", "set", &temp, "netns", ns]) {
            let _ = ip(&["link", "del", &temp]);
            return Err(e);
        }
        ip(&["-n", ns, "link", "set", &temp, "name", "eth0"])?;
        ip(&["-n", ns, "link", "set", "lo", "up"])?;
        // The MAC on the wire (the parent's when ipvlan had to be used).
        let mac = link_mac(Some(ns), "eth0")?;
        let (addr, prefix_len, gw, held) = match spec.dhcp {
            Some(client) => {
                // Link up without an address: DHCP first, as a real host boots.
                ip(&["-n", ns, "link", "set", "eth0", "up"])?;
                let held = HeldLease::acquire(&handle, "eth0", mac, client.clone(), DHCP_TIMEOUT)?;
                let lease = &held.lease;
                tracing::info!(netns = %ns, ip = %lease.ip, server = %lease.server, "DHCP lease");
                (
                    IpAddr::V4(lease.ip),
                    lease.prefix_len,
                    lease.router.or(self.config.gw),
                    Some(held),
                )
            }
            None => (spec.ip, self.config.prefix_len, self.config.gw, None),
        };
        match addr {
            IpAddr::V4(v4) => configure_address(ns, "eth0", mac, (v4, prefix_len), gw)?,
            // A v6-only decky: the link comes up with only its IPv6 address.
            IpAddr::V6(_) => ip(&["-n", ns, "link", "set", "eth0", "up"])?,
        }
        let v6 = match addr {
            IpAddr::V6(v6) => Some(v6),
            IpAddr::V4(_) => spec.ip6,
        };
        if let Some(v6) = v6 {
            let cidr = self.cidr(IpAddr::V6(v6));
            ip(&["-n", ns, "-6", "addr", "add", &cidr, "dev", "eth0", "nodad"])?;
            if let Some(gw6) = self.config.gw6 {
                // `dev` makes a link-local gateway (fe80::…) usable too.
                let gw6 = gw6.to_string();
                ip(&[
                    "-n", ns, "-6", "route", "replace", "default", "via", &gw6, "dev", "eth0",
                ])?;
            }
            if let Err(e) = run_in(&handle, || {
                announce("eth0", mac, IpAddr::V6(v6));
                Ok(())
            }) {
                tracing::warn!(netns = %ns, "neighbour advertisement not sent: {e}");
            }
        }
        let lease = held.map(|held| {
            let lease = held.lease.clone();
            self.leases.lock().insert(spec.name.to_owned(), held);
            lease
        });
        self.shape(spec, ns, &handle);
        Ok(DeckyNet {
            netns: Some(handle),
            ip: addr,
            mac: Some(mac),
            stack: Some(stack),
            lease,
        })
    }

    /// Starts the packet personality of a persona family the kernel does
    /// not look like. Never fails the deploy: without NFQUEUE or a firewall
    /// tool the decky keeps the sysctls alone (logged once).
    fn shape(&self, spec: &AttachSpec<'_>, ns: &str, handle: &Path) {
        let Some(shape) = personality::shape_for(spec.nmap_os) else {
            return;
        };
        match Personality::start(ns, handle, shape) {
            Ok(running) => {
                tracing::debug!(netns = %ns, backend = ?running.backend(), "packet personality on");
                self.personalities
                    .lock()
                    .insert(spec.name.to_owned(), running);
            }
            Err(e) if !SHAPING_WARNED.swap(true, Ordering::Relaxed) => tracing::warn!(
                netns = %ns,
                "packet personality unavailable, {} persona shaped by sysctls only: {e}",
                spec.nmap_os
            ),
            Err(e) => tracing::debug!(netns = %ns, "packet personality unavailable: {e}"),
        }
    }

    /// Which tool loaded a decky's packet personality rules; `None` when
    /// the decky is not shaped (a Linux persona, or shaping unavailable).
    pub fn personality(&self, name: &str) -> Option<personality::Backend> {
        self.personalities
            .lock()
            .get(name)
            .map(Personality::backend)
    }

    /// Stops a decky's packet personality (its queue socket would keep the
    /// namespace alive).
    fn unshape(&self, name: &str) {
        let running = self.personalities.lock().remove(name);
        if let Some(running) = running {
            running.stop();
        }
    }

    /// Undoes [`Network::attach`] for a decky (stop its listeners first: an
    /// open socket keeps its namespace alive).
    pub fn detach(&self, name: &str, addrs: &[IpAddr]) -> Result<(), NetError> {
        match self.config.mode {
            NetMode::Loopback => Ok(()),
            NetMode::Alias => {
                let iface = self.interface().to_owned();
                let mut result = Ok(());
                for addr in addrs {
                    let cidr = self.cidr(*addr);
                    let removed = ip(&["addr", "del", &cidr, "dev", &iface]);
                    self.record(|s| s.aliases.retain(|(i, c)| !(i == &iface && c == &cidr)));
                    result = result.and(removed);
                }
                result
            }
            NetMode::Netns => {
                self.release_lease(name);
                self.unshape(name);
                let ns = netns_name(name);
                let result = if Path::new(NETNS_DIR).join(&ns).exists() {
                    delete_namespace(&ns)
                } else {
                    Ok(())
                };
                self.record(|s| s.namespaces.retain(|n| n != &ns));
                result
            }
        }
    }

    /// Removes everything still attached (shutdown).
    pub fn detach_all(&self) {
        let state = self.state.lock().clone();
        for (iface, cidr) in &state.aliases {
            if let Err(e) = ip(&["addr", "del", cidr, "dev", iface]) {
                tracing::warn!("{e}");
            }
        }
        let leased: Vec<String> = self.leases.lock().keys().cloned().collect();
        for name in leased {
            self.release_lease(&name);
        }
        let shaped: Vec<String> = self.personalities.lock().keys().cloned().collect();
        for name in shaped {
            self.unshape(&name);
        }
        for ns in &state.namespaces {
            if let Err(e) = delete_namespace(ns) {
                tracing::warn!("{e}");
            }
        }
        self.record(|s| *s = State::default());
    }

    /// Gives a detaching decky's DHCP lease back, as a machine shutting
    /// down does (best effort: the server expires it anyway).
    fn release_lease(&self, name: &str) {
        let held = self.leases.lock().remove(name);
        if let Some(held) = held {
            if let Err(e) = held.release() {
                tracing::warn!(decky = %name, ip = %held.lease.ip, "DHCPRELEASE not sent: {e}");
            }
        }
    }

    /// Renews every DHCP lease whose T1 has passed (call it periodically,
    /// from a blocking thread). A decky whose lease was refused or has
    /// expired stops using the address (it is removed from its interface,
    /// as a real client must) and starts over with a DISCOVER, as a real
    /// client does; see [`RenewReport`].
    pub fn renew_due(&self, timeout: Duration) -> RenewReport {
        self.renew_due_at(SystemTime::now(), timeout)
    }

    /// [`Network::renew_due`] as if the time were `now`.
    pub fn renew_due_at(&self, now: SystemTime, timeout: Duration) -> RenewReport {
        let due: Vec<(String, HeldLease)> = self
            .leases
            .lock()
            .iter()
            .filter(|(_, held)| held.lease.renew_at() <= now)
            .map(|(name, held)| (name.clone(), held.clone()))
            .collect();
        let mut report = RenewReport::default();
        for (name, mut held) in due {
            match held.renew_if_due(now, timeout) {
                Ok(_) => {
                    // Detached meanwhile: nothing to keep.
                    if let Some(slot) = self.leases.lock().get_mut(&name) {
                        *slot = held;
                    }
                }
                Err(e) => {
                    // Keeping a refused or expired address would collide with
                    // the host the server hands it to next.
                    let lost =
                        matches!(e, NetError::DhcpRefused { .. }) || now >= held.lease.expires_at();
                    if lost && self.leases.lock().remove(&name).is_some() {
                        let cidr = format!("{}/{}", held.lease.ip, held.lease.prefix_len);
                        let ns = netns_name(&name);
                        if let Err(e) =
                            ip(&["-n", &ns, "addr", "del", &cidr, "dev", &held.interface])
                        {
                            tracing::warn!(decky = %name, "lost DHCP address not removed: {e}");
                        }
                        match self.rejoin(&name, &held, timeout) {
                            Ok(lease) => report.rejoined.push(Rejoined {
                                decky: name,
                                old_ip: held.lease.ip,
                                lease,
                            }),
                            Err(again) => report.failed.push((name, again)),
                        }
                        continue;
                    }
                    report.failed.push((name, e));
                }
            }
        }
        report
    }

    /// A fresh DISCOVER for a decky that lost its lease; on success the new
    /// address and default route are in place and the lease is held again.
    fn rejoin(&self, name: &str, lost: &HeldLease, timeout: Duration) -> Result<Lease, NetError> {
        let held = HeldLease::acquire(
            &lost.ns,
            &lost.interface,
            lost.mac,
            lost.client.clone(),
            timeout,
        )?;
        let lease = held.lease.clone();
        configure_address(
            &netns_name(name),
            &lost.interface,
            lost.mac,
            (lease.ip, lease.prefix_len),
            lease.router.or(self.config.gw),
        )?;
        tracing::info!(decky = %name, old = %lost.lease.ip, ip = %lease.ip, "DHCP lease lost; rejoined with a new lease");
        self.leases.lock().insert(name.to_owned(), held);
        Ok(lease)
    }

    /// The DHCP lease a decky holds now (`None`: none or not attached).
    pub fn lease(&self, name: &str) -> Option<Lease> {
        self.leases.lock().get(name).map(|held| held.lease.clone())
    }
}

/// The MAC of `iface`, in namespace `ns` or the host's.
fn link_mac(ns: Option<&str>, iface: &str) -> Result<[u8; 6], NetError> {
    let mut args = Vec::new();
    if let Some(ns) = ns {
        args.extend(["-n", ns]);
    }
    args.extend(["-o", "link", "show", "dev", iface]);
    let out = ip_output(&args)?;
    out.split_whitespace()
        .skip_while(|w| !w.starts_with("link/"))
        .nth(1)
        .and_then(parse_mac)
        .ok_or_else(|| NetError::Config(format!("no MAC on {iface}: {out}")))
}

/// Puts `addr/prefix_len` on a decky's link, brings it up, points the
/// default route at `gw` and announces the address (gratuitous ARP; a
/// failure there is only logged). Used on attach and on a DHCP rejoin.
fn configure_address(
    ns: &str,
    iface: &str,
    mac: [u8; 6],
    (addr, prefix_len): (Ipv4Addr, u8),
    gw: Option<Ipv4Addr>,
) -> Result<(), NetError> {
    let cidr = format!("{addr}/{prefix_len}");
    ip(&["-n", ns, "addr", "add", &cidr, "dev", iface])?;
    ip(&["-n", ns, "link", "set", iface, "up"])?;
    if let Some(gw) = gw {
        ip(&[
            "-n",
            ns,
            "route",
            "replace",
            "default",
            "via",
            &gw.to_string(),
        ])?;
    }
    let handle = Path::new(NETNS_DIR).join(ns);
    if let Err(e) = run_in(&handle, || {
        announce(iface, mac, IpAddr::V4(addr));
        Ok(())
    }) {
        tracing::warn!(netns = %ns, "gratuitous ARP not sent: {e}");
    }
    Ok(())
}

/// Tells the link that `addr` is at `mac` (gratuitous ARP for IPv4, an
/// unsolicited neighbour advertisement for IPv6), in the calling thread's
/// namespace. A failure is only logged: the address works without it,
/// neighbours just learn it at their first solicitation.
fn announce(iface: &str, mac: [u8; 6], addr: IpAddr) {
    if mac == [0; 6] {
        // `lo` (a lab's alias interface): no link layer, no neighbours.
        return;
    }
    let sent = match addr {
        IpAddr::V4(v4) => send_gratuitous_arp(iface, mac, v4),
        IpAddr::V6(v6) => send_unsolicited_na(iface, mac, v6),
    };
    if let Err(e) = sent {
        tracing::warn!(%iface, %addr, "address not announced: {e}");
    }
}

/// Removes a decky namespace. Its `eth0` is deleted first, synchronously:
/// `ip netns del` only drops the handle and the kernel frees the namespace
/// later, so its macvlan (with the persona MAC) can outlive the call — and a
/// re-attach of the same decky right after (crash recovery, a restart on a
/// new DHCP address) then fails with "Address already in use".
fn delete_namespace(ns: &str) -> Result<(), NetError> {
    let _ = ip(&["-n", ns, "link", "del", "eth0"]);
    ip(&["netns", "del", ns])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_names_fit_the_kernel_limit_and_differ() {
        let a = temp_link_name("a-very-long-decky-name-that-goes-on");
        let b = temp_link_name("a-very-long-decky-name-that-goes-on2");
        assert!(a.len() <= 15 && b.len() <= 15);
        assert_ne!(a, b);
    }

    #[test]
    fn macs_round_trip() {
        let mac = [0x00, 0x1b, 0x54, 0xa0, 0x0f, 0xff];
        assert_eq!(parse_mac(&format_mac(mac)), Some(mac));
        assert_eq!(parse_mac("00:1b:54"), None);
        assert_eq!(parse_mac("00:1b:54:a0:0f:ff:00"), None);
        assert_eq!(parse_mac("zz:1b:54:a0:0f:ff"), None);
    }
}
