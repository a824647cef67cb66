//! Who runs rbx: the OS account of the process, which is all rbx can vouch
//! for on one machine, and the operator's name, which a person may type.
//!
//! `--operator` (or `RBX_OPERATOR`) may name someone other than the OS
//! account: a team that shares a service account, or drives runs from a
//! jump host, has no other way to say who is at the keyboard. rbx cannot
//! check such a name, so every event that records an operator also records
//! the account, and `rbx confirm` says when the two differ.

/// The name of the OS account this process runs as (from its real user
/// id), or `uid N` when the account has no name.
pub fn account() -> String {
    let uid = nix::unistd::getuid();
    match nix::unistd::User::from_uid(uid) {
        Ok(Some(user)) => user.name,
        _ => format!("uid {uid}"),
    }
}

/// The operator: the name given with `--operator` or `RBX_OPERATOR`, else
/// the OS account.
pub fn operator(given: Option<&str>) -> String {
    given
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map_or_else(account, str::to_string)
}
