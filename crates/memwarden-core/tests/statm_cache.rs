//! The top-process scan keeps statm descriptors open between snapshots; they must
//! follow processes exactly: exited ones closed, new ones found, none leaked.

#[cfg(target_os = "linux")]
#[test]
fn descriptors_follow_processes_and_never_leak() {
    use std::process::Command;

    let fds = || std::fs::read_dir("/proc/self/fd").unwrap().count();
    let opts = memwarden_core::SnapshotOptions {
        top: 100_000,
        gpu: false,
        ..Default::default()
    };
    let listed = |pid: u32| {
        memwarden_core::collect(&opts)
            .unwrap()
            .top_processes
            .processes
            .iter()
            .any(|p| p.pid == pid)
    };
    memwarden_core::collect(&opts).unwrap();
    let baseline = fds();

    let mut children: Vec<_> = (0..20)
        .map(|_| Command::new("sleep").arg("60").spawn().unwrap())
        .collect();
    let pid = children[0].id();
    assert!(listed(pid), "a new process is found");
    assert!(listed(pid), "and found again through its cached descriptor");
    let with_children = fds();
    assert!(
        with_children >= baseline + 20,
        "{baseline} -> {with_children}"
    );

    for c in &mut children {
        c.kill().unwrap();
        c.wait().unwrap();
    }
    assert!(!listed(pid), "an exited process is not listed");
    memwarden_core::collect(&opts).unwrap();
    assert!(
        fds() <= baseline + 2,
        "descriptors of exited processes were closed: {baseline} -> {}",
        fds()
    );

    // The cache never holds more than a quarter of the descriptor limit.
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) }, 0);
    assert!(fds() <= baseline + (rl.rlim_cur as usize / 4).min(4096));
}
