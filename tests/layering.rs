//! The dependency rule of the architecture (docs/ARCHITECTURE.md): arrows only point down.
//!
//! Every source file under `src/` (the binary's `main.rs` and `cli/` excepted: the CLI may use
//! everything) is parsed with `syn`, and every path it names — `use` trees (grouped or not),
//! paths in types and expressions, paths inside macro calls — is resolved from `crate::`,
//! `super::` or `self::` to the top-level module it reaches. Re-exports at the crate root are
//! followed to the module they come from. A reference to a module outside the importing
//! module's row of [`LAYERS`] fails the test, as does a top-level module missing from the table.

use proc_macro2::{TokenStream, TokenTree};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use syn::visit::Visit;

/// Each top-level module of the library and the modules it may use (besides itself).
const LAYERS: &[(&str, &[&str])] = &[
    ("error", &[]),
    ("files", &["error"]),
    ("rng", &["error"]),
    ("model", &["error", "files", "rng"]),
    ("data", &["error", "files", "rng", "model"]),
    ("executor", &["error", "rng", "model", "data"]),
    ("cpu", &["error", "rng", "model", "data", "executor"]),
    ("gpu", &["error", "rng", "model", "data", "executor"]),
    ("train", &["error", "rng", "model", "data", "executor"]),
    (
        "run",
        &[
            "error", "files", "rng", "model", "data", "executor", "train",
        ],
    ),
    (
        "bench",
        &["error", "rng", "model", "data", "executor", "run"],
    ),
    (
        "verify",
        &["error", "rng", "model", "data", "executor", "cpu", "gpu"],
    ),
];

/// A file's module path: `src/gpu/net/mod.rs` is `[gpu, net]`, `src/gpu/net/step.rs` is
/// `[gpu, net, step]`, `src/lib.rs` is `[]`.
fn module_path(relative: &Path) -> Vec<String> {
    let mut parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let file = parts.pop().unwrap_or_default();
    let stem = file.trim_end_matches(".rs");
    if stem != "mod" && stem != "lib" {
        parts.push(stem.to_string());
    }
    parts
}

/// Collects the absolute paths (as segment lists) a file names.
struct Collector {
    /// The module the code being visited is in (grows inside inline `mod x { ... }`).
    module: Vec<String>,
    /// Resolved paths.
    found: Vec<Vec<String>>,
    /// Paths that start elsewhere (`wgpu::...`, `std::...`, locals), as written.
    external: Vec<Vec<String>>,
}

impl Collector {
    /// Resolves `segments` (as written) from `self.module`; `None` for paths that do not start
    /// with `crate`, `super` or `self` (locals, std, other crates).
    fn resolve(&self, segments: &[String]) -> Option<Vec<String>> {
        let first = segments.first()?;
        let mut base = match first.as_str() {
            "crate" => Vec::new(),
            "self" | "super" => self.module.clone(),
            _ => return None,
        };
        let mut rest = &segments[1..];
        if first == "super" {
            base.pop();
        }
        while let Some(s) = rest.first() {
            if s == "super" {
                base.pop();
                rest = &rest[1..];
            } else {
                break;
            }
        }
        base.extend(rest.iter().cloned());
        Some(base)
    }

    fn record(&mut self, segments: &[String]) {
        match self.resolve(segments) {
            Some(path) => self.found.push(path),
            None => self.external.push(segments.to_vec()),
        }
    }

    fn use_tree(&mut self, prefix: &mut Vec<String>, tree: &syn::UseTree) {
        match tree {
            syn::UseTree::Path(p) => {
                prefix.push(p.ident.to_string());
                self.use_tree(prefix, &p.tree);
                prefix.pop();
            }
            syn::UseTree::Name(n) => {
                prefix.push(n.ident.to_string());
                self.record(&prefix.clone());
                prefix.pop();
            }
            syn::UseTree::Rename(r) => {
                prefix.push(r.ident.to_string());
                self.record(&prefix.clone());
                prefix.pop();
            }
            syn::UseTree::Glob(_) => self.record(&prefix.clone()),
            syn::UseTree::Group(g) => {
                for t in &g.items {
                    self.use_tree(prefix, t);
                }
            }
        }
    }

    /// `crate :: a :: b` and `super :: ...` sequences inside a macro's tokens.
    fn tokens(&mut self, tokens: TokenStream) {
        let trees: Vec<TokenTree> = tokens.into_iter().collect();
        for (i, tree) in trees.iter().enumerate() {
            match tree {
                TokenTree::Group(g) => self.tokens(g.stream()),
                TokenTree::Ident(id) => {
                    let word = id.to_string();
                    let starts = word == "crate" || word == "super" || word == "self";
                    let after_colons = i >= 1
                        && matches!(&trees[i - 1], TokenTree::Punct(p) if p.as_char() == ':');
                    if !starts || after_colons {
                        continue;
                    }
                    let mut segments = vec![word];
                    let mut j = i + 1;
                    while j + 2 < trees.len() {
                        let colons = matches!(&trees[j], TokenTree::Punct(p) if p.as_char() == ':')
                            && matches!(&trees[j + 1], TokenTree::Punct(p) if p.as_char() == ':');
                        match (&trees[j + 2], colons) {
                            (TokenTree::Ident(next), true) => segments.push(next.to_string()),
                            _ => break,
                        }
                        j += 3;
                    }
                    if segments.len() > 1 {
                        self.record(&segments);
                    }
                }
                _ => {}
            }
        }
    }
}

impl<'ast> Visit<'ast> for Collector {
    fn visit_item_use(&mut self, item: &'ast syn::ItemUse) {
        self.use_tree(&mut Vec::new(), &item.tree);
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        let segments: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
        self.record(&segments);
        syn::visit::visit_path(self, path);
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        self.tokens(mac.tokens.clone());
        syn::visit::visit_macro(self, mac);
    }

    fn visit_item_mod(&mut self, item: &'ast syn::ItemMod) {
        self.module.push(item.ident.to_string());
        syn::visit::visit_item_mod(self, item);
        self.module.pop();
    }

    // `pub(in crate::x)` names a module for visibility, not a dependency.
    fn visit_visibility(&mut self, _: &'ast syn::Visibility) {}
}

/// The paths of one source file at `module`: resolved ones, and the others as written.
fn collect(source: &str, module: Vec<String>) -> Collector {
    let file = syn::parse_file(source).unwrap_or_else(|e| panic!("parsing {module:?}: {e}"));
    let mut collector = Collector {
        module,
        found: Vec::new(),
        external: Vec::new(),
    };
    collector.visit_file(&file);
    collector
}

/// The resolved paths of one source file at `module`.
fn paths_of(source: &str, module: Vec<String>) -> Vec<Vec<String>> {
    collect(source, module).found
}

/// Why a file of the GPU execution plan (`src/gpu/plan/`) would need a device: it names
/// `wgpu`, or the device runtime (`gpu::context`, `gpu::net`, `gpu::executor`,
/// `gpu::profile`, `gpu::pipeline_cache`). One line per offending path.
fn device_uses(relative: &Path, source: &str) -> Vec<String> {
    let collector = collect(source, module_path(relative));
    let runtime = ["context", "net", "executor", "profile", "pipeline_cache"];
    let resolved = collector.found.iter().filter(|p| {
        p.first().is_some_and(|m| m == "gpu")
            && p.get(1).is_some_and(|m| runtime.contains(&m.as_str()))
    });
    let wgpu = collector
        .external
        .iter()
        .filter(|p| p.first().is_some_and(|m| m == "wgpu"));
    resolved
        .chain(wgpu)
        .map(|p| {
            format!(
                "src/{}: the device-free plan names `{}`",
                relative.display(),
                p.join("::")
            )
        })
        .collect()
}

/// The top-level module a resolved path reaches: its first segment if that is a module, or,
/// for a name the crate root re-exports, the module it comes from.
fn target(path: &[String], roots: &BTreeMap<String, String>) -> Option<String> {
    let first = path.first()?;
    if LAYERS.iter().any(|(m, _)| m == first) {
        Some(first.clone())
    } else {
        roots.get(first).cloned()
    }
}

/// Names the crate root (`lib.rs`) re-exports, mapped to the top-level module they come from.
fn root_reexports(lib_rs: &str) -> BTreeMap<String, String> {
    let file = syn::parse_file(lib_rs).expect("lib.rs parses");
    let mut map = BTreeMap::new();
    for item in &file.items {
        if let syn::Item::Use(u) = item {
            let mut names = Vec::new();
            let mut prefix = Vec::new();
            leaves(&u.tree, &mut prefix, &mut names);
            for (module, name) in names {
                map.insert(name, module);
            }
        }
    }
    map
}

/// `(first segment, name it binds)` for every leaf of a `use` tree.
fn leaves(tree: &syn::UseTree, prefix: &mut Vec<String>, out: &mut Vec<(String, String)>) {
    let first = |prefix: &Vec<String>, name: &str| {
        let start = prefix.iter().find(|s| *s != "crate" && *s != "self");
        start.cloned().unwrap_or_else(|| name.to_string())
    };
    match tree {
        syn::UseTree::Path(p) => {
            prefix.push(p.ident.to_string());
            leaves(&p.tree, prefix, out);
            prefix.pop();
        }
        syn::UseTree::Name(n) => {
            let name = n.ident.to_string();
            out.push((first(prefix, &name), name));
        }
        syn::UseTree::Rename(r) => {
            out.push((first(prefix, &r.ident.to_string()), r.rename.to_string()));
        }
        syn::UseTree::Glob(_) => {}
        syn::UseTree::Group(g) => {
            for t in &g.items {
                leaves(t, prefix, out);
            }
        }
    }
}

/// The violations in `files` (path relative to `src/`, source): one line each.
fn violations(files: &[(PathBuf, String)], roots: &BTreeMap<String, String>) -> Vec<String> {
    let mut out = BTreeSet::new();
    for (relative, source) in files {
        let module = module_path(relative);
        let Some(top) = module.first().cloned() else {
            continue;
        };
        let Some((_, allowed)) = LAYERS.iter().find(|(m, _)| *m == top) else {
            out.insert(format!(
                "src/{}: module `{top}` is not in tests/layering.rs's LAYERS table; place it there",
                relative.display()
            ));
            continue;
        };
        for path in paths_of(source, module) {
            if let Some(to) = target(&path, roots)
                && to != top
                && !allowed.contains(&to.as_str())
            {
                out.insert(format!(
                    "src/{}: `{top}` uses `{}`, but may use only {allowed:?}",
                    relative.display(),
                    path.join("::")
                ));
            }
        }
    }
    out.into_iter().collect()
}

/// Every `.rs` file under `dir`, relative to `root`.
fn rust_files(root: &Path, dir: &Path, out: &mut Vec<(PathBuf, String)>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(root, &path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let source = std::fs::read_to_string(&path).expect("a readable source file");
            let relative = path.strip_prefix(root).expect("under src").to_path_buf();
            out.push((relative, source));
        }
    }
}

#[test]
fn no_module_uses_a_module_above_or_beside_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &src, &mut files);
    // The binary (main.rs and its cli/ modules) may use everything.
    files.retain(|(p, _)| p != Path::new("main.rs") && !p.starts_with("cli"));
    files.retain(|(p, _)| p != Path::new("lib.rs"));
    assert!(files.len() > 50, "found only {} source files", files.len());
    let roots = root_reexports(&std::fs::read_to_string(src.join("lib.rs")).unwrap());
    let found = violations(&files, &roots);
    assert!(
        found.is_empty(),
        "dependency rule broken:\n{}",
        found.join("\n")
    );
}

#[test]
fn every_spelling_of_a_forbidden_edge_is_caught() {
    let roots = root_reexports("pub use cpu::CpuNet as Reference;\npub use error::Error;");
    let cases = [
        ("gpu/a.rs", "use crate::cpu::CpuNet;"),
        ("gpu/a.rs", "use crate::{error::Error, cpu::{net::CpuNet}};"),
        ("gpu/net/step.rs", "use super::super::super::cpu::CpuNet;"),
        (
            "gpu/net/step.rs",
            "fn f() { let n = crate::cpu::CpuNet::new(); }",
        ),
        ("gpu/a.rs", "fn f() -> crate::train::Best { todo!() }"),
        ("gpu/a.rs", "fn f() { println!(\"{}\", crate::cpu::X); }"),
        ("gpu/a.rs", "use crate::Reference;"),
        (
            "gpu/a.rs",
            "mod inner { use super::super::super::cpu as c; }",
        ),
        ("cpu/a.rs", "use crate::cpu::*; use crate::train::*;"),
        ("model/a.rs", "use crate::data::Dataset;"),
        ("train/a.rs", "use crate::gpu::Gpu;"),
        ("unlisted.rs", "fn f() {}"),
    ];
    for (file, source) in cases {
        let found = violations(&[(PathBuf::from(file), source.to_string())], &roots);
        assert_eq!(found.len(), 1, "{file}: `{source}` gave {found:?}");
    }
    let allowed = [
        (
            "gpu/a.rs",
            "use crate::model::Plan; use super::kernel::Kernel; use std::fs;",
        ),
        (
            "gpu/a.rs",
            "use crate::Error; fn f() -> crate::error::Result<()> { Ok(()) }",
        ),
        ("verify.rs", "use crate::cpu::CpuNet; use crate::gpu::Gpu;"),
        ("cpu/a.rs", "pub(in crate::gpu) fn f() {}"),
    ];
    for (file, source) in allowed {
        let found = violations(&[(PathBuf::from(file), source.to_string())], &roots);
        assert!(found.is_empty(), "{file}: `{source}` gave {found:?}");
    }
}

#[test]
fn the_gpu_execution_plan_needs_no_device() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &src.join("gpu/plan"), &mut files);
    assert!(files.len() >= 3, "found only {} plan files", files.len());
    let found: Vec<String> = files.iter().flat_map(|(p, s)| device_uses(p, s)).collect();
    assert!(found.is_empty(), "{}", found.join("\n"));
    // The check itself sees each spelling.
    for source in [
        "fn f(b: &wgpu::Buffer) {}",
        "use wgpu::Device;",
        "use crate::gpu::context::Gpu;",
        "use super::super::net::GpuNet;",
    ] {
        let found = device_uses(Path::new("gpu/plan/x.rs"), source);
        assert_eq!(found.len(), 1, "`{source}` gave {found:?}");
    }
}
