//! Where this account keeps rbx's cache of checked procedures: the
//! directory `RBX_CACHE_DIR` names (empty: no cache), else `rbx` under
//! `XDG_CACHE_HOME`, else `~/.cache/rbx`. It is the account's own, never
//! the store's, so a store copied in or shared with others brings no entry
//! with it (the store chapter of the book says why).

use std::path::PathBuf;

use rbx_engine::graph_cache::GraphCache;

pub fn graph_cache() -> Option<GraphCache> {
    let set = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    let dir = match std::env::var_os("RBX_CACHE_DIR") {
        Some(dir) if dir.is_empty() => return None,
        Some(dir) => PathBuf::from(dir),
        None => match set("XDG_CACHE_HOME") {
            Some(cache) => PathBuf::from(cache).join("rbx"),
            None => PathBuf::from(set("HOME")?).join(".cache").join("rbx"),
        },
    };
    Some(GraphCache::at(dir))
}
