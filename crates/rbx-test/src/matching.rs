//! Which of a run's nodes a scenario's name or pattern means.
//!
//! `smoke.doctor` is the node with that id (the first instance of its
//! stage); `doctor` is every instance of the node so named; a quoted
//! pattern matches ids, `*` standing for any text (`"smoke#2.*"`). A node
//! of a loop matches its id with or without its `[item]`. A node of a
//! child run is named by a path through the `child` node, each part named
//! as a node is: `"deploy_eu/push"`, `"rollout.regions[us-east]/roll.*"`;
//! a name without `/` names only the run's own nodes.

use rbx_syntax::ast::NodePattern;

/// How closely a pattern names a node; `None` when it does not. A closer
/// match wins over a looser one; along a path, each part counts.
pub fn closeness(pattern: &NodePattern, id: &str) -> Option<u8> {
    let wanted = parts(&pattern.text);
    let path = parts(id);
    if wanted.len() != path.len() {
        return None;
    }
    wanted.iter().zip(&path).try_fold(0u8, |sum, (text, id)| {
        Some(sum.saturating_add(one(text, pattern.quoted, id)?))
    })
}

/// The parts of a path through `child` nodes: split at each `/` outside
/// a loop item's brackets (an item may hold `/`).
pub fn parts(path: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0usize, 0);
    for (at, c) in path.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            '/' if depth == 0 => {
                out.push(&path[start..at]);
                start = at + 1;
            }
            _ => {}
        }
    }
    out.push(&path[start..]);
    out
}

/// How closely one part of a pattern names one node.
fn one(text: &str, quoted: bool, id: &str) -> Option<u8> {
    if quoted && text.contains('*') {
        return glob(text, id).then_some(0);
    }
    if id == text {
        return Some(3);
    }
    // A node of a loop over a captured list, whose items the run learns.
    if id.contains("[*]") && glob(id, text) {
        return Some(2);
    }
    let without_items = id.split('[').next().unwrap_or(id);
    if without_items == text {
        return Some(2);
    }
    (rbx_engine::base_name(id).as_deref() == Some(text)).then_some(1)
}

/// Whether a stage pattern names a stage instance: `smoke` names every
/// instance of the stage (`smoke`, `smoke#2`), `"smoke#2"` only that one,
/// and a pattern with `*` the instances it matches.
pub fn names_stage(pattern: &NodePattern, instance: &str) -> bool {
    if pattern.quoted && pattern.text.contains('*') {
        return glob(&pattern.text, instance);
    }
    instance == pattern.text
        || instance.split('#').next() == Some(pattern.text.as_str()) && !pattern.text.contains('#')
}

/// Whether `text` matches `pattern`, where `*` matches any run of
/// characters (none included).
fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let [first, middle @ .., last] = parts.as_slice() else {
        return pattern == text;
    };
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// The known name closest to `wanted`, for "did you mean".
pub fn suggestion<'a>(wanted: &str, known: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    known
        .map(|k| (strsim::jaro_winkler(wanted, k), k))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k)
}

#[cfg(test)]
mod tests {
    use rbx_syntax::Span;
    use rbx_syntax::ast::NodePattern;

    use super::closeness;

    fn pattern(text: &str, quoted: bool) -> NodePattern {
        NodePattern {
            text: text.to_string(),
            quoted,
            span: Span::at(0),
        }
    }

    #[test]
    fn ids_names_items_and_globs_match_as_documented() {
        let id = pattern("smoke.doctor", false);
        assert_eq!(closeness(&id, "smoke.doctor"), Some(3));
        assert_eq!(closeness(&id, "smoke#2.doctor"), None);
        let name = pattern("doctor", false);
        assert_eq!(closeness(&name, "smoke#2.doctor"), Some(1));
        assert_eq!(closeness(&name, "smoke.doctor_reviewed"), None);
        let looped = pattern("deploy.restart", false);
        assert_eq!(closeness(&looped, "deploy.restart[web-1]"), Some(2));
        let glob = pattern("smoke#2.*", true);
        assert_eq!(closeness(&glob, "smoke#2.doctor"), Some(0));
        assert_eq!(closeness(&glob, "smoke.doctor"), None);
        assert_eq!(
            closeness(&pattern("*.restart[*]", true), "deploy.restart[a]"),
            Some(0)
        );
        assert_eq!(closeness(&pattern("a*b*b", true), "ab"), None);
        assert_eq!(closeness(&pattern("a*b*b", true), "abxb"), Some(0));
    }

    #[test]
    fn a_path_names_a_child_runs_node_part_by_part() {
        let path = "rollout.regions[us/east]/roll.ready";
        assert_eq!(
            super::parts(path),
            ["rollout.regions[us/east]", "roll.ready"]
        );
        assert_eq!(closeness(&pattern(path, true), path), Some(6));
        assert_eq!(closeness(&pattern("regions/ready", true), path), Some(2));
        assert_eq!(closeness(&pattern("regions/*", true), path), Some(1));
        assert_eq!(closeness(&pattern("*", true), path), None, "a part each");
        assert_eq!(closeness(&pattern("ready", false), path), None);
        assert_eq!(closeness(&pattern("regions/ready/x", true), path), None);
        assert_eq!(closeness(&pattern("canary/ready", true), path), None);
    }

    #[test]
    fn a_stage_name_names_every_instance_and_an_instance_only_itself() {
        use super::names_stage;
        assert!(names_stage(&pattern("smoke", false), "smoke"));
        assert!(names_stage(&pattern("smoke", false), "smoke#2"));
        assert!(!names_stage(&pattern("smoke", false), "smoke_extra"));
        assert!(names_stage(&pattern("smoke#2", true), "smoke#2"));
        assert!(!names_stage(&pattern("smoke#2", true), "smoke"));
        assert!(names_stage(&pattern("s*", true), "smoke#3"));
    }
}
