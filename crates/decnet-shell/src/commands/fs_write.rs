//! Commands that change the filesystem (in the session overlay only):
//! `touch`, `mkdir`, `rm`/`rmdir`/`unlink`, `cp`, `mv`, `chmod`.

use super::{Cmd, Command, Res};
use crate::shell::{Output, Shell};
use crate::vfs::{self, Node};

/// `touch FILE...`: creates empty files or bumps their mtime.
pub(crate) struct Touch;

impl Command for Touch {
    fn names(&self) -> &'static [&'static str] {
        &["touch"]
    }

    fn run(&self, sh: &mut Shell, c: &Cmd, _: &mut Output) -> Res {
        touch(sh, c)
    }
}

/// `mkdir [-p] DIR...`.
pub(crate) struct Mkdir;

impl Command for Mkdir {
    fn names(&self) -> &'static [&'static str] {
        &["mkdir"]
    }

    fn run(&self, sh: &mut Shell, c: &Cmd, _: &mut Output) -> Res {
        mkdir(sh, c)
    }
}

/// `rm [-rf]`, `rmdir`, `unlink`: base files are hidden in this session, overlay files dropped.
pub(crate) struct Rm;

impl Command for Rm {
    fn names(&self) -> &'static [&'static str] {
        &["rm", "rmdir", "unlink"]
    }

    fn run(&self, sh: &mut Shell, c: &Cmd, _: &mut Output) -> Res {
        rm(sh, c)
    }
}

/// `cp SRC... DST`: the copy belongs to the session user, dated now.
pub(crate) struct Cp;

impl Command for Cp {
    fn names(&self) -> &'static [&'static str] {
        &["cp"]
    }

    fn run(&self, sh: &mut Shell, c: &Cmd, _: &mut Output) -> Res {
        copy_or_move(sh, c, false)
    }
}

/// `mv SRC... DST`: keeps owner, mode and mtime.
pub(crate) struct Mv;

impl Command for Mv {
    fn names(&self) -> &'static [&'static str] {
        &["mv"]
    }

    fn run(&self, sh: &mut Shell, c: &Cmd, _: &mut Output) -> Res {
        copy_or_move(sh, c, true)
    }
}

/// `chmod MODE FILE...`: octal or symbolic (`u+x,g-r`), owner or root only.
pub(crate) struct Chmod;

impl Command for Chmod {
    fn names(&self) -> &'static [&'static str] {
        &["chmod"]
    }

    fn run(&self, sh: &mut Shell, c: &Cmd, _: &mut Output) -> Res {
        chmod(sh, c)
    }
}

/// Arguments that are not options (a lone `-` counts as an operand).
fn operands<'b>(c: &'b Cmd) -> Vec<&'b String> {
    c.argv[1..]
        .iter()
        .filter(|a| !a.starts_with('-') || a.len() == 1)
        .collect()
}

fn touch(sh: &mut Shell, c: &Cmd) -> Res {
    let mut res = Res::default();
    let ops: Vec<String> = operands(c).into_iter().cloned().collect();
    if ops.is_empty() {
        return Res::err(
            "touch: missing file operand\nTry 'touch --help' for more information.\n".into(),
            1,
        );
    }
    let now = sh.now().timestamp();
    for f in ops {
        let a = sh.resolve(&sh.abs(&f));
        match sh.raw_get(&a) {
            Some(mut n) => {
                n.mtime = now;
                if let Err(e) = sh.put(a, Some(n)) {
                    res.err
                        .push_str(&format!("touch: cannot touch '{f}': {e}\n"));
                    res.code = 1;
                }
            }
            None => {
                let r = sh.parent_writable(&a).and_then(|_| {
                    sh.put(a, Some(Node::file(Vec::new(), 0o644, sh.uid, sh.gid, now)))
                });
                if let Err(e) = r {
                    res.err
                        .push_str(&format!("touch: cannot touch '{f}': {e}\n"));
                    res.code = 1;
                }
            }
        }
    }
    res
}

fn mkdir(sh: &mut Shell, c: &Cmd) -> Res {
    let parents = c.argv.iter().any(|a| a.starts_with('-') && a.contains('p'));
    let ops: Vec<String> = operands(c).into_iter().cloned().collect();
    if ops.is_empty() {
        return Res::err(
            "mkdir: missing operand\nTry 'mkdir --help' for more information.\n".into(),
            1,
        );
    }
    let mut res = Res::default();
    let now = sh.now().timestamp();
    for d in ops {
        let a = sh.abs(&d);
        let mut todo = vec![a.clone()];
        if parents {
            let mut p = vfs::parent(&a).to_owned();
            while p != "/" && sh.stat(&p).is_none() {
                todo.push(p.clone());
                p = vfs::parent(&p).to_owned();
            }
        }
        for dir in todo.into_iter().rev() {
            if sh.stat(&dir).is_some() {
                if !parents {
                    res.err.push_str(&format!(
                        "mkdir: cannot create directory ‘{d}’: File exists\n"
                    ));
                    res.code = 1;
                }
                continue;
            }
            let r = sh
                .parent_writable(&dir)
                .and_then(|_| sh.put(dir.clone(), Some(Node::dir(0o755, sh.uid, sh.gid, now))));
            if let Err(e) = r {
                res.err
                    .push_str(&format!("mkdir: cannot create directory ‘{d}’: {e}\n"));
                res.code = 1;
                break;
            }
        }
    }
    res
}

fn rm(sh: &mut Shell, c: &Cmd) -> Res {
    let recursive = c.argv[0] == "rmdir"
        || c.argv
            .iter()
            .any(|a| a.starts_with('-') && (a.contains('r') || a.contains('R')));
    let force = c.argv.iter().any(|a| a.starts_with('-') && a.contains('f'));
    let mut res = Res::default();
    let ops: Vec<String> = operands(c).into_iter().cloned().collect();
    if ops.is_empty() && !force {
        return Res::err(
            format!(
                "{}: missing operand\nTry '{} --help' for more information.\n",
                c.argv[0], c.argv[0]
            ),
            1,
        );
    }
    for f in ops {
        match sh.lstat(&f) {
            None => {
                if !force {
                    res.err.push_str(&format!(
                        "rm: cannot remove '{f}': No such file or directory\n"
                    ));
                    res.code = 1;
                }
            }
            Some((_, n)) if n.is_dir() && !recursive => {
                res.err
                    .push_str(&format!("rm: cannot remove '{f}': Is a directory\n"));
                res.code = 1;
            }
            Some((a, _)) => {
                if let Err(e) = sh.parent_writable(&a) {
                    res.err.push_str(&format!("rm: cannot remove '{f}': {e}\n"));
                    res.code = 1;
                    continue;
                }
                let mut gone = vec![a.clone()];
                if a != "/" {
                    let mut stack = vec![a.clone()];
                    while let Some(d) = stack.pop() {
                        for (name, n) in sh.list_dir(&d) {
                            let p = format!("{d}/{name}");
                            if n.is_dir() && gone.len() < 10_000 {
                                stack.push(p.clone());
                            }
                            gone.push(p);
                        }
                    }
                }
                for p in gone {
                    if sh.vfs.get(&p).is_some() {
                        let _ = sh.put(p, None);
                    } else {
                        sh.forget(&p);
                    }
                }
            }
        }
    }
    res
}

fn copy_or_move(sh: &mut Shell, c: &Cmd, mv: bool) -> Res {
    let name = &c.argv[0];
    let ops: Vec<String> = operands(c).into_iter().cloned().collect();
    if ops.len() < 2 {
        return Res::err(format!("{name}: missing destination file operand after '{}'\nTry '{name} --help' for more information.\n", ops.first().cloned().unwrap_or_default()), 1);
    }
    let (srcs, dst) = ops.split_at(ops.len() - 1);
    let dst = &dst[0];
    let mut res = Res::default();
    let now = sh.now().timestamp();
    for s in srcs {
        let Some((sa, n)) = sh.stat(s) else {
            res.err.push_str(&format!(
                "{name}: cannot stat '{s}': No such file or directory\n"
            ));
            res.code = 1;
            continue;
        };
        if n.is_dir() && !mv {
            res.err
                .push_str(&format!("cp: -r not specified; omitting directory '{s}'\n"));
            res.code = 1;
            continue;
        }
        let mut target = sh.resolve(&sh.abs(dst));
        if sh.raw_get(&target).map(|x| x.is_dir()).unwrap_or(false) {
            target = if target == "/" {
                format!("/{}", vfs::basename(&sa))
            } else {
                format!("{target}/{}", vfs::basename(&sa))
            };
        }
        if let Err(e) = sh.parent_writable(&target) {
            res.err.push_str(&format!(
                "{name}: cannot create regular file '{dst}': {e}\n"
            ));
            res.code = 1;
            continue;
        }
        let mut node = n.clone();
        if !mv {
            node.mtime = now;
            node.uid = sh.uid;
            node.gid = sh.gid;
        }
        if let Err(e) = sh.put(target, Some(node)) {
            res.err
                .push_str(&format!("{name}: error writing '{dst}': {e}\n"));
            res.code = 1;
            continue;
        }
        if mv {
            let _ = sh.put(sa, None);
        }
    }
    res
}

fn chmod(sh: &mut Shell, c: &Cmd) -> Res {
    let ops: Vec<String> = c.argv[1..]
        .iter()
        .filter(|a| !a.starts_with("-R"))
        .cloned()
        .collect();
    if ops.len() < 2 {
        return Res::err(
            "chmod: missing operand\nTry 'chmod --help' for more information.\n".into(),
            1,
        );
    }
    let mode = &ops[0];
    let mut res = Res::default();
    for f in &ops[1..] {
        let Some((a, mut n)) = sh.stat(f) else {
            res.err.push_str(&format!(
                "chmod: cannot access '{f}': No such file or directory\n"
            ));
            res.code = 1;
            continue;
        };
        if sh.uid != 0 && n.uid != sh.uid {
            res.err.push_str(&format!(
                "chmod: changing permissions of '{f}': Operation not permitted\n"
            ));
            res.code = 1;
            continue;
        }
        match apply_mode(n.mode, mode) {
            Some(m) => n.mode = m,
            None => {
                return Res::err(
                    format!(
                        "chmod: invalid mode: ‘{mode}’\nTry 'chmod --help' for more information.\n"
                    ),
                    1,
                )
            }
        }
        let _ = sh.put(a, Some(n));
    }
    res
}

/// Applies an octal (`755`) or symbolic (`u+x,go-w`) mode to `old`.
fn apply_mode(old: u32, spec: &str) -> Option<u32> {
    if !spec.is_empty() && spec.len() <= 4 && spec.chars().all(|c| c.is_digit(8)) {
        return u32::from_str_radix(spec, 8).ok();
    }
    let mut mode = old;
    for clause in spec.split(',') {
        let op_pos = clause.find(['+', '-', '='])?;
        let (who, rest) = clause.split_at(op_pos);
        let op = rest.chars().next()?;
        let perms = &rest[1..];
        let mut mask = 0u32;
        let who = if who.is_empty() { "a" } else { who };
        for w in who.chars() {
            mask |= match w {
                'u' => 0o4700,
                'g' => 0o2070,
                'o' => 0o1007,
                'a' => 0o7777,
                _ => return None,
            };
        }
        let mut bits = 0u32;
        for p in perms.chars() {
            bits |= match p {
                'r' => 0o444,
                'w' => 0o222,
                'x' => 0o111,
                's' => 0o6000,
                't' => 0o1000,
                _ => return None,
            };
        }
        bits &= mask;
        match op {
            '+' => mode |= bits,
            '-' => mode &= !bits,
            _ => mode = (mode & !mask) | bits,
        }
    }
    Some(mode & 0o7777)
}

#[cfg(test)]
mod tests {
    use super::apply_mode;
    use crate::commands::testing::{root, run, user};

    #[test]
    fn touch_creates_empty_files_owned_by_the_user() {
        let mut sh = root();
        assert_eq!(run(&mut sh, "touch /tmp/a"), "");
        assert_eq!(
            run(&mut sh, "ls -l /tmp/a"),
            "-rw-r--r-- 1 root root 0 Nov 23 10:00 /tmp/a\n"
        );
        assert_eq!(
            run(&mut sh, "touch"),
            "touch: missing file operand\nTry 'touch --help' for more information.\n"
        );
        assert_eq!(
            run(&mut user(), "touch /etc/x"),
            "touch: cannot touch '/etc/x': Permission denied\n"
        );
    }

    #[test]
    fn mkdir_makes_directories_and_parents() {
        let mut sh = root();
        assert_eq!(run(&mut sh, "mkdir /tmp/d && ls -d /tmp/d"), "/tmp/d\n");
        let out = sh.execute("mkdir /tmp/d");
        assert_eq!(
            out.stdout,
            "mkdir: cannot create directory ‘/tmp/d’: File exists\n"
        );
        assert_eq!(out.exit_code, 1);
        assert_eq!(run(&mut sh, "mkdir -p /tmp/a/b/c && ls /tmp/a/b"), "c\n");
        assert_eq!(
            run(&mut sh, "mkdir /nope/x"),
            "mkdir: cannot create directory ‘/nope/x’: No such file or directory\n"
        );
    }

    #[test]
    fn rm_rmdir_and_unlink_hide_or_drop_entries() {
        let mut sh = root();
        sh.execute("mkdir -p /tmp/d/e; touch /tmp/f /tmp/g");
        assert_eq!(
            run(&mut sh, "rm /tmp/d"),
            "rm: cannot remove '/tmp/d': Is a directory\n"
        );
        assert_eq!(
            run(&mut sh, "rm /tmp/nope"),
            "rm: cannot remove '/tmp/nope': No such file or directory\n"
        );
        assert_eq!(run(&mut sh, "rm -f /tmp/nope"), "");
        assert_eq!(run(&mut sh, "rm -r /tmp/d; unlink /tmp/f; ls /tmp"), "g\n");
        assert_eq!(run(&mut sh, "rmdir /tmp/g; ls /tmp"), "");
        // A base file is hidden from this session only.
        assert_eq!(
            run(&mut sh, "rm /etc/hostname; cat /etc/hostname"),
            "cat: /etc/hostname: No such file or directory\n"
        );
        assert_eq!(root().execute("cat /etc/hostname").exit_code, 0);
    }

    #[test]
    fn cp_copies_as_the_user_now() {
        let mut sh = root();
        let host = sh.vfs().host().hostname.clone();
        assert_eq!(run(&mut sh, "cp /etc/hostname /tmp"), "");
        assert_eq!(run(&mut sh, "cat /tmp/hostname"), format!("{host}\n"));
        let size = host.len() + 1;
        assert_eq!(
            run(&mut sh, "ls -l /tmp/hostname"),
            format!("-rw-r--r-- 1 root root {size} Nov 23 10:00 /tmp/hostname\n")
        );
        assert_eq!(
            run(&mut sh, "cp /etc /tmp"),
            "cp: -r not specified; omitting directory '/etc'\n"
        );
        assert_eq!(
            run(&mut sh, "cp /tmp/x"),
            "cp: missing destination file operand after '/tmp/x'\nTry 'cp --help' for more information.\n"
        );
    }

    #[test]
    fn mv_moves_keeping_the_node() {
        let mut sh = root();
        let before = run(&mut sh, "ls -l /etc/hostname");
        assert_eq!(run(&mut sh, "mv /etc/hostname /tmp/h"), "");
        assert_eq!(
            run(&mut sh, "ls -l /tmp/h"),
            before.replace("/etc/hostname", "/tmp/h")
        );
        assert_eq!(sh.execute("cat /etc/hostname").exit_code, 1);
        assert_eq!(
            run(&mut sh, "mv /nope /tmp"),
            "mv: cannot stat '/nope': No such file or directory\n"
        );
    }

    #[test]
    fn chmod_sets_octal_and_symbolic_modes() {
        let mut sh = root();
        sh.execute("touch /tmp/f");
        sh.execute("chmod 4755 /tmp/f");
        assert!(run(&mut sh, "ls -l /tmp/f").starts_with("-rwsr-xr-x "));
        sh.execute("chmod u-s,g-r,o=rwx /tmp/f");
        assert!(run(&mut sh, "ls -l /tmp/f").starts_with("-rwx--xrwx "));
        assert_eq!(
            run(&mut sh, "chmod zz /tmp/f"),
            "chmod: invalid mode: ‘zz’\nTry 'chmod --help' for more information.\n"
        );
        assert_eq!(
            run(&mut user(), "chmod 777 /etc/hostname"),
            "chmod: changing permissions of '/etc/hostname': Operation not permitted\n"
        );
    }

    #[test]
    fn modes_parse_like_chmod() {
        assert_eq!(apply_mode(0o644, "755"), Some(0o755));
        assert_eq!(apply_mode(0o644, "+x"), Some(0o755));
        assert_eq!(apply_mode(0o755, "go-rx"), Some(0o700));
        assert_eq!(apply_mode(0o600, "a=r"), Some(0o444));
        assert_eq!(apply_mode(0o755, "u+s,+t"), Some(0o5755));
        assert_eq!(apply_mode(0o644, "q+x"), None);
        assert_eq!(apply_mode(0o644, "u"), None);
    }
}
