//! Each port in `examples/ports/<name>.rs` is its Tokio original in `examples/ports/tokio/<name>.rs`
//! with only the imports changed: the files are identical except for `use` lines and the
//! `#[tokio::main]` / `#[rpal_rt::main]` attribute, and the port's `use` lines are the original's
//! with the paths mapped as [`map_use`] says (Tokio's I/O traits become the `futures` ones, which
//! rpal's streams implement).
//!
//! [`KNOWN_GAPS`] would list lines where rpal's API still differs from Tokio's (each must occur
//! in some port, so the list shrinks as gaps close); it is empty.

use std::path::Path;

/// The ported programs (file stem in both directories).
const PORTS: [&str; 4] = ["echo_timeout", "pipeline", "join_set", "shutdown"];

/// Lines (trimmed) where a port differs from its original beyond imports: (Tokio line, rpal
/// line, why). Empty: `rpal_net::TcpListener::bind` became async like Tokio's, which closed the
/// last gap.
const KNOWN_GAPS: [(&str, &str, &str); 0] = [];

/// Tokio's import path of a `use` line mapped to rpal's.
fn map_use(line: &str) -> String {
    line.replacen("use tokio::net::", "use rpal_net::", 1)
        .replacen("use tokio::io::", "use futures::io::", 1)
        .replacen("use tokio::", "use rpal_rt::", 1)
}

fn read(rel: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn is_use(line: &str) -> bool {
    line.trim_start().starts_with("use ")
}

fn is_main_attr(line: &str) -> bool {
    matches!(line.trim(), "#[tokio::main]" | "#[rpal_rt::main]")
}

/// The lines that must be identical: everything but `use` lines and the main attribute.
fn body(src: &str) -> Vec<&str> {
    src.lines()
        .filter(|l| !is_use(l) && !is_main_attr(l))
        .collect()
}

fn uses(src: &str) -> Vec<String> {
    src.lines()
        .filter(|l| is_use(l))
        .map(str::to_owned)
        .collect()
}

/// Compares one pair; returns the known gaps it used.
fn check_pair(name: &str) -> Vec<&'static str> {
    let original = read(&format!("examples/ports/tokio/{name}.rs"));
    let port = read(&format!("examples/ports/{name}.rs"));

    assert!(
        original.lines().any(|l| l.trim() == "#[tokio::main]"),
        "{name}: the original has no #[tokio::main]"
    );
    assert!(
        port.lines().any(|l| l.trim() == "#[rpal_rt::main]"),
        "{name}: the port has no #[rpal_rt::main]"
    );
    assert!(
        !port.contains("tokio::"),
        "{name}: the port still names tokio"
    );

    let mapped: Vec<String> = uses(&original).iter().map(|l| map_use(l)).collect();
    assert_eq!(
        mapped,
        uses(&port),
        "{name}: the port's use lines are not the original's with tokio paths mapped"
    );

    let (a, b) = (body(&original), body(&port));
    assert_eq!(
        a.len(),
        b.len(),
        "{name}: the port has a different number of non-import lines"
    );
    let mut used = Vec::new();
    for (i, (ta, tb)) in a.iter().zip(&b).enumerate() {
        if ta == tb {
            continue;
        }
        let gap = KNOWN_GAPS
            .iter()
            .find(|(t, r, _)| ta.trim() == *t && tb.trim() == *r);
        match gap {
            Some((t, _, _)) => used.push(*t),
            None => panic!(
                "{name}: non-import line {} differs:\n  tokio: {ta}\n  rpal:  {tb}",
                i + 1
            ),
        }
    }
    used
}

#[test]
fn ports_differ_only_in_imports() {
    let mut used = Vec::new();
    for name in PORTS {
        used.extend(check_pair(name));
    }
    for (tokio_line, _, why) in KNOWN_GAPS {
        assert!(
            used.contains(&tokio_line),
            "known gap no longer used by any port (remove it from KNOWN_GAPS): {tokio_line} ({why})"
        );
    }
}

#[test]
fn every_port_is_an_example() {
    let manifest = read("Cargo.toml");
    for name in PORTS {
        for (example, path) in [
            (name.to_owned(), format!("examples/ports/{name}.rs")),
            (
                format!("tokio_{name}"),
                format!("examples/ports/tokio/{name}.rs"),
            ),
        ] {
            let entry = format!("[[example]]\nname = \"{example}\"\npath = \"{path}\"");
            assert!(
                manifest.contains(&entry),
                "Cargo.toml lacks the [[example]] entry for {path}"
            );
        }
    }
}
