//! Unit tests of users and access rules: authentication, owners, admins, inherited grants,
//! revocation, user removal and the bootstrap of the first admin.

use super::*;
use crate::auth::{Caller, Credential, Need, Token};

fn caller(name: &str, admin: bool) -> Caller {
    Caller { user: user(name), admin }
}

/// root (admin), alice and bob; /alice owned by alice with a file; /pub owned by root.
fn users_and_folders() -> Namespace {
    let mut ns = Namespace::new();
    setup(&mut ns, &[bootstrap("root"), add_user("alice", false), add_user("bob", false)]);
    setup(
        &mut ns,
        &[
            mkdir("/alice/docs", "alice"),
            put_as("/alice/docs/a.txt", Precondition::None, 1, "alice"),
        ],
    );
    setup(&mut ns, &[mkdir("/pub", "root")]);
    ns
}

#[test]
fn a_token_authenticates_only_with_its_secret_and_a_current_user() {
    let mut ns = Namespace::new();
    let credential = Credential::derive([3; 16], "0123456789abcdef0123");
    setup(&mut ns, &[bootstrap("root")]);
    setup(&mut ns, &[Command::AddUser { user: user("alice"), credential, admin: false }]);
    let good = Token::parse("alice.0123456789abcdef0123").expect("token");
    assert_eq!(ns.authenticate(&good), Some(caller("alice", false)));
    let wrong = Token::parse("alice.0123456789abcdef0124").expect("token");
    assert_eq!(ns.authenticate(&wrong), None, "wrong secret");
    let nobody = Token::parse("bob.0123456789abcdef0123").expect("token");
    assert_eq!(ns.authenticate(&nobody), None, "unknown user");
    setup(&mut ns, &[Command::RemoveUser { user: user("alice") }]);
    assert_eq!(ns.authenticate(&good), None, "a removed user's token stops working");
}

#[test]
fn owners_and_admins_have_full_access_and_others_none() {
    let ns = users_and_folders();
    let file = p("/alice/docs/a.txt");
    assert_eq!(ns.level(&caller("alice", false), &file), Level::Full, "owner of a folder above");
    assert_eq!(ns.level(&caller("root", true), &file), Level::Full, "admin");
    assert_eq!(ns.level(&caller("bob", false), &file), Level::None);
    assert_eq!(ns.level(&caller("bob", false), &p("/alice/docs/new.txt")), Level::None);
    // A path that does not exist is judged by its existing ancestors.
    assert_eq!(ns.level(&caller("alice", false), &p("/alice/new/deeper")), Level::Full);
    assert_eq!(ns.level(&caller("alice", false), &p("/elsewhere")), Level::None);
    let error = ns.check_access(&caller("bob", false), &file, Need::Read).expect_err("no grant");
    assert_eq!(
        error,
        CommandError::Forbidden { user: user("bob"), path: file.clone(), need: Need::Read }
    );
    let message = error.to_string();
    assert!(message.contains("bob may not read /alice/docs/a.txt"), "{message}");
    assert!(message.contains("dfs acl add /alice/docs/a.txt bob r"), "{message}");
}

#[test]
fn grants_inherit_from_folders_and_write_implies_read() {
    let mut ns = users_and_folders();
    let bob = caller("bob", false);
    let file = p("/alice/docs/a.txt");
    setup(&mut ns, &[grant("/alice", "bob", Some(Access::Read))]);
    assert_eq!(ns.level(&bob, &file), Level::Read, "inherited from /alice");
    assert_eq!(ns.check_access(&bob, &file, Need::Read), Ok(()));
    assert!(ns.check_access(&bob, &file, Need::Write).is_err());
    assert!(ns.check_access(&bob, &p("/alice"), Need::Manage).is_err());
    // The strongest grant on the way counts; a weaker one below does not take access away.
    setup(&mut ns, &[grant("/alice/docs", "bob", Some(Access::Write))]);
    assert_eq!(ns.level(&bob, &file), Level::Write);
    assert_eq!(ns.level(&bob, &p("/alice")), Level::Read, "not above the grant");
    setup(&mut ns, &[grant("/alice/docs/a.txt", "bob", Some(Access::Read))]);
    assert_eq!(ns.level(&bob, &file), Level::Write);
    assert!(Level::Write.allows(Need::Read) && !Level::Write.allows(Need::Manage));
    // The access list shows owners and grants from the top of the path's region (/alice, owned
    // by someone else than the root) down.
    let lines = ns.access_list(&file).expect("live");
    let shown: Vec<String> =
        lines.iter().map(|l| format!("{} {} {:?}", l.on, l.user, l.access)).collect();
    assert_eq!(
        shown,
        [
            "/alice alice None",
            "/alice bob Some(Read)",
            "/alice/docs alice None",
            "/alice/docs bob Some(Write)",
            "/alice/docs/a.txt alice None",
            "/alice/docs/a.txt bob Some(Read)",
        ]
    );
    assert_eq!(ns.access_list(&p("/nope")), Err(not_found("/nope")));
}

#[test]
fn revoking_a_grant_takes_the_access_away() {
    let mut ns = users_and_folders();
    let bob = caller("bob", false);
    setup(&mut ns, &[grant("/alice", "bob", Some(Access::Write))]);
    assert_eq!(ns.level(&bob, &p("/alice/docs/a.txt")), Level::Write);
    setup(&mut ns, &[grant("/alice", "bob", None)]);
    assert_eq!(ns.level(&bob, &p("/alice/docs/a.txt")), Level::None);
}

#[test]
fn removing_a_user_drops_its_grants_keeps_its_name_and_never_the_last_admin() {
    let mut ns = users_and_folders();
    setup(
        &mut ns,
        &[grant("/alice", "bob", Some(Access::Read)), grant("/pub", "bob", Some(Access::Write))],
    );
    let change = run(&mut ns, &Command::RemoveUser { user: user("bob") });
    assert_eq!(change, Ok(Change::UserRemoved { user: user("bob"), grants_removed: 2 }));
    assert!(ns.user(&user("bob")).is_none());
    assert_eq!(ns.users().map(|(name, _)| name.0.as_str()).collect::<Vec<_>>(), ["alice", "root"]);
    assert_refused(
        &mut ns,
        &add_user("bob", false),
        CommandError::UserExists { user: user("bob") },
    );
    assert_refused(
        &mut ns,
        &Command::RemoveUser { user: user("bob") },
        CommandError::UnknownUser { user: user("bob") },
    );
    assert_refused(
        &mut ns,
        &Command::RemoveUser { user: user("root") },
        CommandError::LastAdmin { user: user("root") },
    );
    setup(&mut ns, &[add_user("ops", true), Command::RemoveUser { user: user("root") }]);
}

#[test]
fn bad_user_commands_change_nothing() {
    let mut ns = users_and_folders();
    let bad = CommandError::InvalidUserName { name: "Bad.Name".into() };
    assert_refused(&mut ns, &add_user("Bad.Name", false), bad);
    assert_refused(
        &mut ns,
        &add_user("alice", true),
        CommandError::UserExists { user: user("alice") },
    );
    assert_refused(
        &mut ns,
        &grant("/alice", "ghost", Some(Access::Read)),
        CommandError::UnknownUser { user: user("ghost") },
    );
}

#[test]
fn only_the_first_bootstrap_applies_and_users_survive_a_snapshot() {
    let mut ns = Namespace::new();
    // Nobody can be added before the first admin (who would otherwise be locked out).
    assert_refused(&mut ns, &add_user("early", true), CommandError::NotBootstrapped);
    let first = Credential::derive([1; 16], "first-secret-first");
    let second = Credential::derive([2; 16], "other-secret-other");
    let change = run(&mut ns, &Command::BootstrapAdmin { user: user("admin"), credential: first });
    assert_eq!(change, Ok(Change::UserAdded { user: user("admin"), admin: true }));
    assert_refused(
        &mut ns,
        &Command::BootstrapAdmin { user: user("other"), credential: second },
        CommandError::AlreadyBootstrapped,
    );
    setup(&mut ns, &[add_user("alice", false), Command::RemoveUser { user: user("alice") }]);
    let restored = Namespace::restore(&ns.snapshot()).expect("restores");
    assert_eq!(restored, ns);
    let token = Token::parse("admin.first-secret-first").expect("token");
    assert_eq!(restored.authenticate(&token), Some(caller("admin", true)));
    assert_eq!(restored.users().count(), 1, "the removed user stays removed");
}
