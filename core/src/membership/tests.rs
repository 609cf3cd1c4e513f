use super::*;

fn addrs(port: u16) -> MemberAddrs {
    MemberAddrs { peer: ([127, 0, 0, 1], port).into(), http: ([127, 0, 0, 1], port + 1).into() }
}

fn view(role: Option<MemberRole>, recorded: Option<MemberAddrs>) -> SelfView {
    SelfView {
        me: NodeId(4),
        addrs: addrs(7000),
        recorded,
        role,
        joining_as: Some(MemberRole::Voter),
        caught_up: false,
    }
}

#[test]
fn a_joining_stranger_asks_to_be_a_learner_first() {
    let request = next_request(view(None, None));
    let expected =
        JoinRequest { node: NodeId(4), addrs: addrs(7000), role: Some(MemberRole::Learner) };
    assert_eq!(request, Some(expected));
}

#[test]
fn a_node_not_started_to_join_asks_nothing_until_added() {
    let v = SelfView { joining_as: None, ..view(None, None) };
    assert_eq!(next_request(v), None);
}

#[test]
fn a_member_on_new_ports_asks_to_correct_its_addresses() {
    for role in [MemberRole::Voter, MemberRole::Learner] {
        let v = SelfView { joining_as: None, ..view(Some(role), Some(addrs(9000))) };
        let expected = JoinRequest { node: NodeId(4), addrs: addrs(7000), role: None };
        assert_eq!(next_request(v), Some(expected));
        let unrecorded = SelfView { joining_as: None, ..view(Some(role), None) };
        assert_eq!(next_request(unrecorded), Some(expected));
    }
}

#[test]
fn a_learner_asks_to_vote_only_once_caught_up() {
    let behind = view(Some(MemberRole::Learner), Some(addrs(7000)));
    assert_eq!(next_request(behind), None);
    let caught_up = SelfView { caught_up: true, ..behind };
    let expected =
        JoinRequest { node: NodeId(4), addrs: addrs(7000), role: Some(MemberRole::Voter) };
    assert_eq!(next_request(caught_up), Some(expected));
    let learner_by_choice = SelfView { joining_as: Some(MemberRole::Learner), ..caught_up };
    assert_eq!(next_request(learner_by_choice), None);
}

#[test]
fn a_node_listening_on_an_unspecified_address_asks_nothing() {
    let anywhere = MemberAddrs { peer: ([0, 0, 0, 0], 7000).into(), ..addrs(7000) };
    let v = SelfView { addrs: anywhere, ..view(None, None) };
    assert_eq!(next_request(v), None);
}

#[test]
fn a_settled_member_asks_nothing() {
    let v = SelfView { caught_up: true, ..view(Some(MemberRole::Voter), Some(addrs(7000))) };
    assert_eq!(next_request(v), None);
}

#[test]
fn the_leader_records_addresses_before_the_membership_change() {
    let request =
        JoinRequest { node: NodeId(4), addrs: addrs(7000), role: Some(MemberRole::Voter) };
    let commands = answer(&request, None, None);
    assert_eq!(
        commands,
        Ok(vec![
            Command::SetNodeAddrs { node: NodeId(4), addrs: addrs(7000) },
            Command::AddNode { node: NodeId(4), role: MemberRole::Learner },
        ])
    );
    let promote = answer(&request, Some(addrs(7000)), Some(MemberRole::Learner));
    assert_eq!(promote, Ok(vec![Command::AddNode { node: NodeId(4), role: MemberRole::Voter }]));
    assert_eq!(answer(&request, Some(addrs(7000)), Some(MemberRole::Voter)), Ok(vec![]));
}

#[test]
fn an_address_update_changes_no_role() {
    let request = JoinRequest { node: NodeId(2), addrs: addrs(7100), role: None };
    let commands = answer(&request, Some(addrs(7000)), Some(MemberRole::Voter));
    assert_eq!(commands, Ok(vec![Command::SetNodeAddrs { node: NodeId(2), addrs: addrs(7100) }]));
    let learner_asks_learner = JoinRequest { role: Some(MemberRole::Learner), ..request };
    let commands = answer(&learner_asks_learner, Some(addrs(7100)), Some(MemberRole::Voter));
    assert_eq!(commands, Ok(vec![]), "a voter is never demoted by a join request");
}

#[test]
fn requests_no_member_could_dial_are_refused() {
    let zero = JoinRequest { node: NodeId(0), addrs: addrs(7000), role: None };
    assert_eq!(answer(&zero, None, None), Err(JoinRefused::ZeroId));
    let unspecified = MemberAddrs { peer: ([0, 0, 0, 0], 7000).into(), ..addrs(7000) };
    let request = JoinRequest { node: NodeId(4), addrs: unspecified, role: None };
    assert_eq!(answer(&request, None, None), Err(JoinRefused::NotDialable(unspecified)));
    let port0 = MemberAddrs { http: ([127, 0, 0, 1], 0).into(), ..addrs(7000) };
    let request = JoinRequest { node: NodeId(4), addrs: port0, role: None };
    assert_eq!(answer(&request, None, None), Err(JoinRefused::NotDialable(port0)));
}
