//! The files an operator brings to a run: roles and links filled for one
//! environment (`--fill`), and answers given ahead of time for rehearsals
//! and tests (`--answers`). Both are TOML.
//!
//! ```toml
//! # --fill staging.toml
//! [roles.release_owner]
//! person = "Ada Lovelace"
//! contact = "@ada"
//! backup = "Grace Hopper"
//!
//! [links]
//! ci_run = "https://ci.example.com/runs/4711"
//! ```
//!
//! ```toml
//! # --answers rehearsal.toml: one table per step id
//! [tui]
//! evidence = { checked = "opened the TUI, moved between panes" }
//!
//! [severity]
//! choice = "SEV0"
//! rationale = "migrations broke the schema"
//!
//! [rollback_preconditions]
//! attest = true
//!
//! # A sign-off names the operator running the file: nobody else's GO.
//! [go_no_go]
//! signoffs = [{ role = "go_owner", by = "Ken Thompson", decision = "GO" }]
//! ```

use std::collections::BTreeMap;

use rbx_check::{Fills, RoleFill};

/// The path under which a run's snapshot keeps its fill file, so a resumed
/// run fills the same roles.
pub const FILL_SOURCE: &str = "rbx-fill:";

/// Reads a fill file; the error says what is wrong and where.
pub fn parse_fills(text: &str) -> Result<Fills, String> {
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| e.to_string())?;
    let mut fills = Fills::default();
    for (key, value) in &table {
        match key.as_str() {
            "roles" => {
                let roles = value.as_table().ok_or("`roles` must be a table of roles")?;
                for (id, role) in roles {
                    let role = role
                        .as_table()
                        .ok_or_else(|| format!("`roles.{id}` must be a table with `person`"))?;
                    let field =
                        |name: &str| role.get(name).and_then(|v| v.as_str()).map(str::to_string);
                    let person = field("person")
                        .filter(|p| !p.trim().is_empty())
                        .ok_or_else(|| format!("`roles.{id}` needs a `person`"))?;
                    for name in role.keys() {
                        if !["person", "contact", "backup", "identity"].contains(&name.as_str()) {
                            return Err(format!(
                                "`roles.{id}.{name}`: a role has `person`, `contact`, `backup` and `identity`"
                            ));
                        }
                    }
                    let identities = identities(id, role.get("identity"))?;
                    fills.roles.insert(
                        id.clone(),
                        RoleFill {
                            person,
                            contact: field("contact"),
                            backup: field("backup"),
                            identities,
                        },
                    );
                }
            }
            "links" => {
                let links = value
                    .as_table()
                    .ok_or("`links` must be a table of link targets")?;
                for (id, target) in links {
                    let target = target
                        .as_str()
                        .ok_or_else(|| format!("`links.{id}` must be a string"))?;
                    fills.links.insert(id.clone(), target.to_string());
                }
            }
            other => {
                return Err(format!(
                    "unknown table `{other}`: a fill file has `roles` and `links`"
                ));
            }
        }
    }
    Ok(fills)
}

/// A fill file's `identity` for a role: one operator, or a list of them.
fn identities(id: &str, value: Option<&toml::Value>) -> Result<Vec<String>, String> {
    let wrong = || format!("`roles.{id}.identity` must be an operator's name or a list of them");
    match value {
        None => Ok(Vec::new()),
        Some(toml::Value::String(one)) if !one.trim().is_empty() => Ok(vec![one.clone()]),
        Some(toml::Value::Array(many)) => many
            .iter()
            .map(|v| {
                v.as_str()
                    .filter(|s| !s.trim().is_empty())
                    .map(str::to_string)
                    .ok_or_else(wrong)
            })
            .collect(),
        Some(_) => Err(wrong()),
    }
}

/// What a fill value still is instead of a real one.
pub const PLACEHOLDER: &str = "_TBD_";

/// A value in a fill file, or a `--role` flag, that is not filled in: still
/// the placeholder `_TBD_`, or empty. Filling a role or link this way would
/// silence the runbook's own placeholder lint with another placeholder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unfilled {
    /// Which value: `roles.release_owner.person`, `links.ci_run`.
    pub key: String,
    /// Where the value stands in the fill file's text (bytes), when it came
    /// from one.
    pub span: Option<std::ops::Range<usize>>,
    /// Whether it is empty rather than `_TBD_`.
    pub empty: bool,
}

impl Unfilled {
    /// What is wrong, as a lowercase fragment that says where.
    pub fn describe(&self, origin: &str) -> String {
        if self.empty {
            format!("`{}` in {origin} is empty", self.key)
        } else {
            format!(
                "`{}` in {origin} is still the placeholder `{PLACEHOLDER}`",
                self.key
            )
        }
    }
}

fn unfilled_value(
    key: String,
    value: &str,
    span: Option<std::ops::Range<usize>>,
) -> Option<Unfilled> {
    let empty = value.trim().is_empty();
    (empty || value.contains(PLACEHOLDER)).then_some(Unfilled { key, span, empty })
}

/// Every role field and link target of a fill file's text that is still
/// `_TBD_` or empty, in the order they appear. A text that is not a valid
/// fill file has none: [`parse_fills`] reports what is wrong with it.
pub fn unfilled(text: &str) -> Vec<Unfilled> {
    use toml::de::{DeTable, DeValue};
    let Ok(document) = DeTable::parse(text) else {
        return Vec::new();
    };
    type Entry<'a, 'i> = (
        &'a toml::Spanned<toml::de::DeString<'i>>,
        &'a toml::Spanned<DeValue<'i>>,
    );
    fn tables<'a, 'i>(value: &'a DeValue<'i>) -> Vec<Entry<'a, 'i>> {
        match value {
            DeValue::Table(table) => table.iter().collect(),
            _ => Vec::new(),
        }
    }
    let mut found = Vec::new();
    for (section, value) in document.get_ref().iter() {
        match section.get_ref().as_ref() {
            "roles" => {
                for (id, role) in tables(value.get_ref()) {
                    for (field, value) in tables(role.get_ref()) {
                        if let DeValue::String(text) = value.get_ref() {
                            let key = format!("roles.{}.{}", id.get_ref(), field.get_ref());
                            found.extend(unfilled_value(key, text, Some(value.span())));
                        }
                    }
                }
            }
            "links" => {
                for (id, target) in tables(value.get_ref()) {
                    if let DeValue::String(text) = target.get_ref() {
                        let key = format!("links.{}", id.get_ref());
                        found.extend(unfilled_value(key, text, Some(target.span())));
                    }
                }
            }
            _ => {}
        }
    }
    found.sort_by_key(|u| u.span.as_ref().map_or(0, |s| s.start));
    found
}

/// The values of a `--role ID=PERSON[:CONTACT]` flag that are still `_TBD_`
/// or empty.
pub fn unfilled_role(id: &str, role: &RoleFill) -> Vec<Unfilled> {
    let key = |field: &str| format!("roles.{id}.{field}");
    let mut found: Vec<Unfilled> = unfilled_value(key("person"), &role.person, None)
        .into_iter()
        .collect();
    if let Some(contact) = &role.contact {
        found.extend(unfilled_value(key("contact"), contact, None));
    }
    found
}

/// Fills written back as a fill file, for the run's snapshot when some
/// came from flags rather than a file.
pub fn to_toml(fills: &Fills) -> String {
    let quote = |s: &str| toml::Value::String(s.to_string()).to_string();
    let mut out = String::new();
    for (id, role) in &fills.roles {
        out.push_str(&format!("[roles.{id}]\nperson = {}\n", quote(&role.person)));
        if let Some(contact) = &role.contact {
            out.push_str(&format!("contact = {}\n", quote(contact)));
        }
        if let Some(backup) = &role.backup {
            out.push_str(&format!("backup = {}\n", quote(backup)));
        }
        out.push('\n');
    }
    if !fills.links.is_empty() {
        out.push_str("[links]\n");
        for (id, target) in &fills.links {
            out.push_str(&format!("{id} = {}\n", quote(target)));
        }
    }
    out
}

/// `ID=PERSON` or `ID=PERSON:CONTACT`, from `--role`.
pub fn parse_role_flag(flag: &str) -> Result<(String, RoleFill), String> {
    let (id, rest) = flag
        .split_once('=')
        .ok_or_else(|| format!("`--role {flag}`: expected ID=PERSON or ID=PERSON:CONTACT"))?;
    let (person, contact) = match rest.split_once(':') {
        Some((person, contact)) => (person, Some(contact.to_string())),
        None => (rest, None),
    };
    if person.trim().is_empty() {
        return Err(format!("`--role {flag}`: the person is empty"));
    }
    Ok((
        id.to_string(),
        RoleFill {
            person: person.to_string(),
            contact,
            backup: None,
            identities: Vec::new(),
        },
    ))
}

/// Answers for people's steps, by step id.
#[derive(Debug, Clone, Default)]
pub struct Answers(pub BTreeMap<String, serde_json::Value>);

impl Answers {
    /// The answers for a node: its full id (`smoke#2.tui`), else its id in
    /// the runbook (`tui`), which then serves every instance.
    pub fn for_node(&self, full: &str, base: &str) -> Option<&serde_json::Value> {
        self.0.get(full).or_else(|| self.0.get(base))
    }

    /// The answers a child run gets from its parent's (rule D1): those
    /// whose key is a path through the `child` node — its full id, or its
    /// id in the runbook, `/`, the node's in the child run — without that
    /// first part, the full id winning. Others are not the child's.
    pub fn nested(&self, full: &str, base: &str) -> Answers {
        let mut out = BTreeMap::new();
        for head in [base, full] {
            let prefix = format!("{head}/");
            for (key, value) in &self.0 {
                if let Some(rest) = key.strip_prefix(&prefix) {
                    out.insert(rest.to_string(), value.clone());
                }
            }
        }
        Answers(out)
    }
}

pub fn parse_answers(text: &str) -> Result<Answers, String> {
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| e.to_string())?;
    let json = serde_json::to_value(&table).map_err(|e| e.to_string())?;
    let map = json
        .as_object()
        .ok_or("an answers file is a table per step")?
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Ok(Answers(map))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_gets_the_answers_under_its_node_its_full_id_first() {
        let json = |s: &str| serde_json::json!(s);
        let answers = Answers(
            [
                ("s.look", json("parent")),
                ("deploy/s.look", json("every item")),
                ("s.deploy[eu]/s.look", json("eu")),
                ("s.deploy[eu]/s.sub/s.push", json("grandchild")),
                ("s.deploy[us]/s.go", json("us")),
            ]
            .map(|(k, v)| (k.to_string(), v))
            .into(),
        );
        let eu = answers.nested("s.deploy[eu]", "deploy");
        assert_eq!(
            eu.0,
            [("s.look", json("eu")), ("s.sub/s.push", json("grandchild")),]
                .map(|(k, v)| (k.to_string(), v))
                .into()
        );
        let us = answers.nested("s.deploy[us]", "deploy");
        assert_eq!(us.for_node("s.look", "look"), Some(&json("every item")));
        assert_eq!(us.for_node("s.go", "go"), Some(&json("us")));
        assert!(answers.nested("s.other", "other").0.is_empty());
    }

    #[test]
    fn fills_written_back_read_the_same() {
        let mut fills = parse_fills(
            "[roles.owner]\nperson = \"Ada \\\"the\\\" L\"\ncontact = \"@ada\"\n\n[links]\nci = \"https://ci/1\"\n",
        )
        .unwrap();
        let (id, role) = parse_role_flag("reviewer=Bob:@bob").unwrap();
        fills.roles.insert(id, role);
        assert_eq!(parse_fills(&to_toml(&fills)), Ok(fills));
    }

    #[test]
    fn placeholders_and_empty_values_are_found_where_they_are() {
        let text = "[roles.owner]\nperson = \"_TBD_\"\ncontact = \"\"\nbackup = \"Bob\"\n\n[links]\nci = \"https://ci/_TBD_\"\ndash = \"https://d/1\"\n";
        let found = unfilled(text);
        let keys: Vec<&str> = found.iter().map(|u| u.key.as_str()).collect();
        assert_eq!(
            keys,
            ["roles.owner.person", "roles.owner.contact", "links.ci"]
        );
        let span = found[0].span.clone().expect("a span");
        assert_eq!(&text[span], "\"_TBD_\"");
        assert!(found[1].empty);
        let (id, role) = parse_role_flag("owner=_TBD_:").unwrap();
        let flagged = unfilled_role(&id, &role);
        assert_eq!(flagged.len(), 2, "{flagged:?}");
    }

    #[test]
    fn a_fill_file_says_what_is_wrong() {
        assert!(
            parse_fills("[roles.owner]\ncontact = \"x\"\n")
                .unwrap_err()
                .contains("needs a `person`")
        );
        assert!(
            parse_fills("[people]\n")
                .unwrap_err()
                .contains("unknown table `people`")
        );
        assert!(parse_role_flag("owner").is_err());
    }
}
