//! The embedded default configuration and the example site it serves, so that `baton`
//! with no arguments shows something real on a fresh machine.

use std::io;
use std::path::{Path, PathBuf};

/// The default configuration; `%EXAMPLE_ROOT%` stands for the unpacked site.
pub const DEFAULT_CONFIG: &str = include_str!("../example/baton.conf");

/// The example site, as (relative path, content).
const SITE: &[(&str, &[u8])] = &[
    ("index.html", include_bytes!("../example/site/index.html")),
    ("style.css", include_bytes!("../example/site/style.css")),
    (
        "docs/getting-started.txt",
        include_bytes!("../example/site/docs/getting-started.txt"),
    ),
    (
        "docs/maintenance-recipe.txt",
        include_bytes!("../example/site/docs/maintenance-recipe.txt"),
    ),
    (
        "maintenance/index.html",
        include_bytes!("../example/site/maintenance/index.html"),
    ),
    (
        "errors/404.html",
        include_bytes!("../example/site/errors/404.html"),
    ),
];

/// Where the example site is unpacked: a per-user directory under the runtime or
/// temporary directory.
pub fn site_dir() -> PathBuf {
    let base = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|p| p.is_dir())
        .unwrap_or_else(std::env::temp_dir);
    // SAFETY: getuid has no preconditions.
    let uid = unsafe { libc::getuid() };
    base.join(format!("baton-example-{uid}"))
}

/// Writes the example site to `dir` (overwriting the bundled files, leaving others).
pub fn unpack(dir: &Path) -> io::Result<()> {
    for (rel, content) in SITE {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, content)?;
    }
    Ok(())
}

/// The default configuration text for a site unpacked in `dir`.
pub fn config_for(dir: &Path) -> String {
    DEFAULT_CONFIG.replace("%EXAMPLE_ROOT%", &dir.to_string_lossy())
}

/// A configuration that serves `root` with List & Send on `port` (Cherokee's `-r`).
pub fn document_root_config(root: &Path, port: u16) -> String {
    format!(
        "server!bind!1!port = {port}\n\
         server!server_tokens = product\n\
         vserver!1!nick = default\n\
         vserver!1!document_root = {}\n\
         vserver!1!directory_index = index.html,index.htm\n\
         vserver!1!rule!1!match = default\n\
         vserver!1!rule!1!handler = common\n",
        root.display()
    )
}
