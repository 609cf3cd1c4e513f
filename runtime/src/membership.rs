//! Membership by address (issue 23; the rules are `dfs_core::membership`): a task on every
//! node that, a few times a second, takes the member addresses recorded through raft into the
//! address book (so the transport and chunk transfer dial members no config names), opens a
//! link to every member, and sends the join request core's rule says this node needs: to join
//! through its seeds, to record its addresses after a move to new ports, or to become a voter
//! once caught up. The request goes to the leader (through any member it knows, or a seed), or
//! is answered here when this node leads.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use dfs_core::command::MemberRole;
use dfs_core::membership::{self, JoinRequest, MemberAddrs, SelfView};
use dfs_core::{CommandError, NodeId};
use tokio_util::sync::CancellationToken;

use crate::discovery::{AddressBook, PeerAddrs};
use crate::driver::handle::DriverHandle;
use crate::peers::Peers;
use crate::transport::Transport;

/// How often the task looks at the recorded membership.
pub const LOOK_EVERY: Duration = Duration::from_millis(300);
/// Least time between two sends of the same join request.
pub const RETRY_EVERY: Duration = Duration::from_secs(1);

/// What [`run`] needs.
pub struct Membership {
    /// This node's driver.
    pub driver: DriverHandle,
    /// The peer transport (links are opened to members learned here).
    pub transport: Transport,
    /// Where learned addresses go (read by the transport and `peers`).
    pub book: AddressBook,
    /// Chunk transfer and internal requests to other members.
    pub peers: Arc<Peers>,
    /// Where this node listens.
    pub addrs: MemberAddrs,
    /// Members' HTTP addresses to join through (`seeds`); a node with seeds joins as a voter.
    pub seeds: Vec<SocketAddr>,
    /// Stops the task.
    pub shutdown: CancellationToken,
}

/// What the task reads of the node each time.
struct Look {
    view: SelfView,
    leader: Option<NodeId>,
    members: Vec<NodeId>,
    recorded: Vec<(NodeId, MemberAddrs)>,
}

/// Runs until shutdown.
pub async fn run(task: Membership) {
    let me = task.peers.me();
    let joining_as = (!task.seeds.is_empty()).then_some(MemberRole::Voter);
    let mut ticks = tokio::time::interval(LOOK_EVERY);
    let mut last: Option<(JoinRequest, tokio::time::Instant)> = None;
    let mut next_target = 0;
    loop {
        tokio::select! {
            biased;
            () = task.shutdown.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let addrs = task.addrs;
        let Ok(look) = task
            .driver
            .query(move |node| {
                let status = node.status();
                let namespace = status.namespace;
                let recorded = namespace.member_addrs();
                let role = namespace.members().get(&me).map(|m| m.role);
                let view = SelfView {
                    me,
                    addrs,
                    recorded: recorded.get(&me).copied(),
                    role,
                    joining_as,
                    caught_up: status.leader.is_some()
                        && status.commit.0 > 0
                        && status.applied >= status.commit,
                };
                Look {
                    view,
                    leader: status.leader,
                    members: namespace.members().keys().copied().collect(),
                    recorded: recorded.iter().map(|(n, a)| (*n, *a)).collect(),
                }
            })
            .await
        else {
            return;
        };
        for (node, recorded) in &look.recorded {
            if *node != me {
                let learned = PeerAddrs { peer: recorded.peer, http: recorded.http };
                if task.book.learn(*node, learned) {
                    tracing::info!(%node, peer = %recorded.peer, http = %recorded.http, "member address learned");
                }
            }
        }
        for &node in &look.members {
            task.transport.link(node);
        }
        let Some(request) = membership::next_request(look.view) else {
            last = None;
            continue;
        };
        if last.is_some_and(|(sent, at)| sent == request && at.elapsed() < RETRY_EVERY) {
            continue;
        }
        last = Some((request, tokio::time::Instant::now()));
        let outcome = send(&task, &look, &request, &mut next_target).await;
        match outcome {
            Ok(()) => {
                tracing::info!(role = ?request.role, addrs = ?request.addrs, "join request taken")
            }
            Err(why) => {
                tracing::info!(role = ?request.role, %why, "join request not taken yet; retrying")
            }
        }
    }
}

/// Sends `request`: answered here on the leader, else to the leader when its address is
/// known, else to the next seed.
async fn send(
    task: &Membership,
    look: &Look,
    request: &JoinRequest,
    next_target: &mut usize,
) -> Result<(), String> {
    let me = task.peers.me();
    if look.leader == Some(me) {
        return propose(&task.driver, request).await.map(|_| ()).map_err(|error| match error {
            Some(error) => error.to_string(),
            None => "stopping".to_owned(),
        });
    }
    // The leader when its address is known; else, in turn, every other member with a known
    // address (it passes the request on) and every seed.
    let (node, seed) = match look.leader {
        Some(leader) if leader != me && task.peers.knows(leader) => (leader, None),
        _ => {
            let mut targets: Vec<(NodeId, Option<SocketAddr>)> = look
                .members
                .iter()
                .filter(|&&n| n != me && task.peers.knows(n))
                .map(|&n| (n, None))
                .collect();
            targets.extend(task.seeds.iter().map(|&seed| (NodeId(0), Some(seed))));
            if targets.is_empty() {
                return Err("no leader, member or seed address is known yet".to_owned());
            }
            let target = targets[*next_target % targets.len()];
            *next_target += 1;
            target
        }
    };
    let relayed = task.peers.join(node, seed, request, false).await.map_err(|e| e.to_string())?;
    if !(200..300).contains(&relayed.status) {
        let body = String::from_utf8_lossy(&relayed.body);
        return Err(format!("answered {}: {body}", relayed.status));
    }
    let answer: JoinAnswer = serde_json::from_slice(&relayed.body)
        .map_err(|e| format!("the answer is not a join answer: {e}"))?;
    for (node, addrs) in answer.members {
        if node != me {
            task.book.learn(node, PeerAddrs { peer: addrs.peer, http: addrs.http });
        }
    }
    Ok(())
}

/// What the leader answers a join request: how many commands it proposed, and every address
/// it records (so a joining node can dial members before it has the log).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct JoinAnswer {
    /// Commands proposed for the request.
    pub proposed: usize,
    /// The recorded addresses, as the leader applied them.
    pub members: Vec<(NodeId, MemberAddrs)>,
}

/// On the leader: proposes what the request needs, in order ([`membership::answer`]).
/// `Err(None)` when the node is stopping.
pub async fn propose(
    driver: &DriverHandle,
    request: &JoinRequest,
) -> Result<JoinAnswer, Option<CommandError>> {
    let node = request.node;
    let (recorded, role) = driver
        .query(move |n| {
            let namespace = n.status().namespace;
            let recorded = namespace.member_addrs().get(&node).copied();
            (recorded, namespace.members().get(&node).map(|m| m.role))
        })
        .await
        .map_err(|_| None)?;
    let commands = membership::answer(request, recorded, role)
        .map_err(|refused| Some(CommandError::BadNodeAddrs(refused)))?;
    let proposed = commands.len();
    for command in commands {
        match driver.submit(command).await.map_err(|_| None)? {
            // Another request (or an operator) got there first.
            Ok(_) | Err(CommandError::AlreadyMember { .. }) => {}
            Err(error) => return Err(Some(error)),
        }
    }
    if proposed > 0 {
        tracing::info!(%node, addrs = ?request.addrs, role = ?request.role, "join request applied");
    }
    let members = driver
        .query(|n| n.status().namespace.member_addrs().iter().map(|(n, a)| (*n, *a)).collect())
        .await
        .map_err(|_| None)?;
    Ok(JoinAnswer { proposed, members })
}
