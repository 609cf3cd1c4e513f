//! How the mount answers the kernel when the cluster refuses or fails a request: every API error
//! maps to one errno (docs/mount.md lists them), so nothing is swallowed or faked.

use nix::errno::Errno;

use crate::client::ApiFailure;

/// The errno for a failed cluster call.
pub fn errno_of(error: &anyhow::Error) -> Errno {
    if let Some(failure) = error.chain().find_map(|c| c.downcast_ref::<ApiFailure>()) {
        return errno_of_api(failure.status, &failure.code, &failure.message);
    }
    if error.chain().any(|c| c.downcast_ref::<std::io::Error>().is_some_and(is_no_space)) {
        return Errno::ENOSPC;
    }
    // Every node unreachable after the retries, a body cut off for good, a damaged download.
    Errno::EIO
}

fn is_no_space(error: &std::io::Error) -> bool {
    error.raw_os_error() == Some(Errno::ENOSPC as i32)
}

/// The errno for an API answer with HTTP `status` and stable `code`.
pub fn errno_of_api(status: u16, code: &str, message: &str) -> Errno {
    match code {
        "not_found" | "version_not_found" | "unknown_user" => Errno::ENOENT,
        "already_exists" => Errno::EEXIST,
        "is_folder" => Errno::EISDIR,
        "not_a_folder" => Errno::ENOTDIR,
        "folder_not_empty" => Errno::ENOTEMPTY,
        "root_immutable" => Errno::EBUSY,
        "move_into_itself" => Errno::EINVAL,
        "forbidden" | "admin_only" | "unauthorized" => Errno::EACCES,
        "invalid_path" if message.contains("too long") => Errno::ENAMETOOLONG,
        "invalid_path" => Errno::EINVAL,
        "disk_full" | "insufficient_storage" => Errno::EDQUOT,
        "no_leader"
        | "not_leader"
        | "overloaded"
        | "unavailable"
        | "insufficient_replicas"
        | "no_storage_nodes"
        | "halted"
        | "not_bootstrapped" => Errno::EAGAIN,
        _ => match status {
            401 | 403 => Errno::EACCES,
            404 => Errno::ENOENT,
            409 => Errno::EEXIST,
            413 => Errno::EFBIG,
            503 => Errno::EAGAIN,
            507 => Errno::EDQUOT,
            _ => Errno::EIO,
        },
    }
}

/// Whether `error` is a conditional write that found another version (someone else wrote).
pub fn is_conflict(error: &anyhow::Error) -> bool {
    error.chain().any(|c| {
        c.downcast_ref::<ApiFailure>()
            .is_some_and(|f| f.code == "version_conflict" || f.code == "already_exists")
    })
}

/// The errno for a name the namespace would refuse, checked before anything is sent.
pub fn check_name(name: &str) -> Result<(), Errno> {
    if name.len() > dfs_core::path::NAME_BYTES_MAX {
        return Err(Errno::ENAMETOOLONG);
    }
    if name.is_empty() || name == "." || name == ".." || name.contains('/') || name.contains('\0') {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16, code: &str) -> anyhow::Error {
        ApiFailure { status, code: code.into(), message: "m".into(), current_version: None }.into()
    }

    #[test]
    fn api_errors_map_to_their_errno() {
        assert_eq!(errno_of(&api(404, "not_found")), Errno::ENOENT);
        assert_eq!(errno_of(&api(409, "folder_not_empty")), Errno::ENOTEMPTY);
        assert_eq!(errno_of(&api(403, "forbidden")), Errno::EACCES);
        assert_eq!(errno_of(&api(403, "something_new")), Errno::EACCES);
        assert_eq!(errno_of(&api(503, "no_leader")), Errno::EAGAIN);
        assert_eq!(errno_of(&api(507, "disk_full")), Errno::EDQUOT);
        assert_eq!(errno_of(&api(409, "not_a_folder")), Errno::ENOTDIR);
        assert_eq!(errno_of(&api(500, "internal")), Errno::EIO);
        assert_eq!(errno_of_api(400, "invalid_path", "name too long"), Errno::ENAMETOOLONG);
        let wrapped = api(409, "is_folder").context("committing /a");
        assert_eq!(errno_of(&wrapped), Errno::EISDIR, "found through context");
        assert_eq!(errno_of(&anyhow::anyhow!("n1 unreachable")), Errno::EIO);
    }

    #[test]
    fn a_refused_precondition_is_a_conflict() {
        assert!(is_conflict(&api(412, "version_conflict")));
        assert!(is_conflict(&api(409, "already_exists")));
        assert!(!is_conflict(&api(404, "not_found")));
    }

    #[test]
    fn names_are_checked_locally() {
        assert_eq!(check_name(&"x".repeat(256)), Err(Errno::ENAMETOOLONG));
        assert_eq!(check_name(&"x".repeat(255)), Ok(()));
        assert_eq!(check_name("a/b"), Err(Errno::EINVAL));
    }
}
