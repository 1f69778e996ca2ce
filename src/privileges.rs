//! `server!user` / `server!group`: after the listeners are bound (ports below 1024 need
//! root), a server started as root continues as an unprivileged user.

use std::ffi::CString;
use std::io;

/// Switches group then user (in that order: once the user is dropped, the group cannot
/// be changed any more). Names or numeric ids are accepted. Does nothing when not root.
pub fn drop_to(user: Option<&str>, group: Option<&str>) -> io::Result<()> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 || (user.is_none() && group.is_none()) {
        if user.is_some() || group.is_some() {
            tracing::info!("not running as root: server!user and server!group are not applied");
        }
        return Ok(());
    }
    let uid_gid = match user {
        Some(u) => Some(lookup_user(u)?),
        None => None,
    };
    let gid = match group {
        Some(g) => Some(lookup_group(g)?),
        None => uid_gid.map(|(_, gid)| gid),
    };
    if let Some(gid) = gid {
        // SAFETY: plain system calls with integer arguments.
        if unsafe { libc::setgroups(0, std::ptr::null()) } != 0 || unsafe { libc::setgid(gid) } != 0
        {
            return Err(io::Error::last_os_error());
        }
    }
    if let Some((uid, _)) = uid_gid {
        // SAFETY: as above.
        if unsafe { libc::setuid(uid) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

fn lookup_user(name: &str) -> io::Result<(libc::uid_t, libc::gid_t)> {
    let cname = CString::new(name).map_err(|_| invalid(name))?;
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buf = vec![0 as libc::c_char; 4096];
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: all pointers are valid for the duration of the call.
    let rc = unsafe {
        libc::getpwnam_r(
            cname.as_ptr(),
            &mut pwd,
            buf.as_mut_ptr(),
            buf.len(),
            &mut result,
        )
    };
    if rc == 0 && !result.is_null() {
        return Ok((pwd.pw_uid, pwd.pw_gid));
    }
    match name.parse::<libc::uid_t>() {
        Ok(uid) => Ok((uid, uid)),
        Err(_) => Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("no user named {name:?}"),
        )),
    }
}

fn lookup_group(name: &str) -> io::Result<libc::gid_t> {
    let cname = CString::new(name).map_err(|_| invalid(name))?;
    let mut grp: libc::group = unsafe { std::mem::zeroed() };
    let mut buf = vec![0 as libc::c_char; 4096];
    let mut result: *mut libc::group = std::ptr::null_mut();
    // SAFETY: all pointers are valid for the duration of the call.
    let rc = unsafe {
        libc::getgrnam_r(
            cname.as_ptr(),
            &mut grp,
            buf.as_mut_ptr(),
            buf.len(),
            &mut result,
        )
    };
    if rc == 0 && !result.is_null() {
        return Ok(grp.gr_gid);
    }
    name.parse::<libc::gid_t>()
        .map_err(|_| io::Error::new(io::ErrorKind::NotFound, format!("no group named {name:?}")))
}

fn invalid(name: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("invalid name {name:?}"),
    )
}
