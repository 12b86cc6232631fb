//! Network namespaces for partition tests: one namespace per node, joined by veth pairs to a
//! bridge in the test's own namespace (so the test reaches every node), each node on its own
//! address. Cutting a node off blackholes its routes to the other nodes (both directions fail:
//! it can neither send to them nor answer them) while the test still reaches it. Everything is
//! removed when dropped. Needs root and `ip`; [`Namespaces::create`] says why when it cannot.

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

static NEXT: AtomicU32 = AtomicU32::new(0);

fn ip(args: &[&str]) -> Result<(), String> {
    let output = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run ip: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

pub struct Namespaces {
    /// A short tag unique to this set (interface names are limited to 15 characters).
    tag: String,
    subnet: String,
    size: usize,
}

impl Namespaces {
    /// Namespaces for nodes 1..=size, or why they cannot be made here.
    pub fn create(size: usize) -> Result<Namespaces, String> {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let unique = std::process::id() % 1000 * 10 + n % 10;
        let tag = format!("k{unique}");
        let subnet = format!("10.{}.{}", 100 + unique % 150, unique / 150 % 250);
        let spaces = Namespaces { tag, subnet, size };
        spaces.build()?;
        Ok(spaces)
    }

    fn bridge(&self) -> String {
        format!("{}br", self.tag)
    }

    pub fn name(&self, node: usize) -> String {
        format!("{}ns{node}", self.tag)
    }

    pub fn address(&self, node: usize) -> String {
        format!("{}.{node}", self.subnet)
    }

    fn build(&self) -> Result<(), String> {
        let bridge = self.bridge();
        ip(&["link", "add", &bridge, "type", "bridge"])?;
        ip(&[
            "addr",
            "add",
            &format!("{}.254/24", self.subnet),
            "dev",
            &bridge,
        ])?;
        ip(&["link", "set", &bridge, "up"])?;
        for node in 1..=self.size {
            let ns = self.name(node);
            let host_side = format!("{}h{node}", self.tag);
            let node_side = format!("{}n{node}", self.tag);
            ip(&["netns", "add", &ns])?;
            ip(&[
                "link", "add", &host_side, "type", "veth", "peer", "name", &node_side,
            ])?;
            ip(&["link", "set", &node_side, "netns", &ns])?;
            ip(&["link", "set", &host_side, "master", &bridge])?;
            ip(&["link", "set", &host_side, "up"])?;
            let addr = format!("{}/24", self.address(node));
            ip(&[
                "netns", "exec", &ns, "ip", "addr", "add", &addr, "dev", &node_side,
            ])?;
            ip(&["netns", "exec", &ns, "ip", "link", "set", &node_side, "up"])?;
            ip(&["netns", "exec", &ns, "ip", "link", "set", "lo", "up"])?;
        }
        Ok(())
    }

    /// Cuts `node` off from every other node (the test still reaches it).
    pub fn cut_off(&self, node: usize) {
        for other in (1..=self.size).filter(|o| *o != node) {
            let route = format!("{}/32", self.address(other));
            ip(&[
                "netns",
                "exec",
                &self.name(node),
                "ip",
                "route",
                "add",
                "blackhole",
                &route,
            ])
            .expect("cut a node off");
        }
    }

    /// Undoes [`Self::cut_off`].
    pub fn reconnect(&self, node: usize) {
        for other in (1..=self.size).filter(|o| *o != node) {
            let route = format!("{}/32", self.address(other));
            ip(&[
                "netns",
                "exec",
                &self.name(node),
                "ip",
                "route",
                "del",
                "blackhole",
                &route,
            ])
            .expect("reconnect a node");
        }
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        for node in 1..=self.size {
            let _ = ip(&["netns", "del", &self.name(node)]);
        }
        let _ = ip(&["link", "del", &self.bridge()]);
    }
}
