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

/// The operator on `store`: the identity the store authenticated, if it has
/// one, else [`operator`]. A name given that is not that identity is
/// refused, not silently replaced: the person meant someone else.
pub fn operator_on(store: &dyn rbx_store::Store, given: Option<&str>) -> Result<String, u8> {
    let Some(role) = store.identity() else {
        return Ok(operator(given));
    };
    match given.map(str::trim).filter(|name| !name.is_empty()) {
        Some(name) if name != role => {
            errln!(
                "error: the store authenticated you as `{role}`, and on a shared store the \
                 operator is who the database says: `--operator {name}` (or RBX_OPERATOR) \
                 cannot name someone else"
            );
            errln!("help: drop `--operator`, or log in to the database as `{name}`");
            Err(crate::exit::INVALID)
        }
        _ => Ok(role),
    }
}
