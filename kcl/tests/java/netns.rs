//! The Java KCL probes the EC2 metadata service at 169.254.169.254 whatever it is told:
//! it only ever runs in a network namespace whose one interface is loopback (`unshare -n`,
//! `ip link set lo up`), where that probe fails at once and nothing can reach the network.

/// The interfaces of this process's network namespace.
pub fn interfaces() -> Vec<String> {
    let dev = std::fs::read_to_string("/proc/self/net/dev").unwrap_or_default();
    dev.lines()
        .skip(2)
        .filter_map(|l| l.split(':').next())
        .map(|name| name.trim().to_owned())
        .collect()
}

/// Panics unless loopback is the only interface (so a Java worker cannot reach anything
/// but this machine's loopback).
pub fn assert_loopback_only() {
    let interfaces = interfaces();
    assert!(
        interfaces == ["lo"],
        "the Java KCL tests run only inside a network namespace with loopback alone \
         (unshare -n sh -c 'ip link set lo up; ...'; .ci/java-kcl does this); interfaces here: {interfaces:?}"
    );
}
