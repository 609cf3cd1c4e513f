//! Wiring the upload machine (DESIGN §2 "write", [`crate::write::upload`]) into the node: the
//! members an upload may place on, its store jobs, proposing its version once the quorum is met
//! (waiting out an election), and the answer when that entry applies.

use crate::command::{DeclaredState, Reply};
use crate::error::CommandError;
use crate::health::Health;
use crate::ids::RequestId;
use crate::output::{Event, JobSpec, Output};
use crate::placement::Candidate;
use crate::proposals::Proposal;
use crate::write::upload::UploadAction;
use crate::write::{UploadStep, Written};

use super::Node;

impl Node {
    pub(super) fn on_upload(&mut self, upload: RequestId, step: UploadStep) {
        if self.is_removed() {
            if let UploadStep::Start(_) = step {
                let error = CommandError::Removed { node: self.config.id };
                self.outputs.push_back(Output::Uploaded { upload, result: Err(error) });
            }
            return;
        }
        let actions = match step {
            UploadStep::Start(start) => {
                let candidates = self.candidates();
                self.uploads.start(upload, start, candidates)
            }
            step => self.uploads.step(upload, step, self.now, &mut self.next_job),
        };
        self.upload_actions(actions);
        self.propose_uploads();
    }

    /// Store-job deadlines, and proposing the uploads that are ready (also after an election).
    pub(super) fn tick_uploads(&mut self) {
        let actions = self.uploads.expire(self.now);
        self.upload_actions(actions);
        self.propose_uploads();
    }

    /// A store job of an upload ended.
    pub(super) fn upload_job_done(&mut self, job: crate::ids::JobId, stored: bool) {
        let actions = self.uploads.job_done(job, stored, self.now);
        self.upload_actions(actions);
        self.propose_uploads();
    }

    /// Answers `request`: an upload's answer carries its per-node report, anything else is a
    /// plain reply.
    pub(super) fn answer(&mut self, request: RequestId, result: Result<Reply, CommandError>) {
        match self.uploads.answered(request) {
            Some(replicas) => {
                let result = result.map(|Reply::Applied { index, change }| Written {
                    index,
                    change,
                    replicas,
                });
                self.outputs.push_back(Output::Uploaded { upload: request, result });
            }
            None => self.outputs.push_back(Output::Reply { request, result }),
        }
    }

    /// The members an upload may place chunks on: active and up as last committed, with their
    /// usage as the leader last reported it (this node's own as its driver reported it).
    fn candidates(&self) -> Vec<Candidate> {
        let me = self.config.id;
        self.namespace
            .members()
            .iter()
            .filter(|(_, m)| m.state == DeclaredState::Active && m.health == Health::Up)
            .map(|(&node, _)| Candidate {
                node,
                used_bytes: if node == me {
                    self.usage.used_bytes
                } else {
                    self.view.get(node).map_or(0, |r| r.usage.used_bytes)
                },
            })
            .collect()
    }

    fn upload_actions(&mut self, actions: Vec<UploadAction>) {
        for action in actions {
            match action {
                UploadAction::Store { job, upload, chunk, to } => {
                    self.start_job(job, JobSpec::StoreChunk { upload, chunk, to });
                }
                UploadAction::QuorumMet { upload } => {
                    self.outputs.push_back(Output::Event(Event::WriteQuorumMet { upload }));
                }
                UploadAction::Refuse { upload, error } => {
                    tracing::info!(node = %self.config.id, %upload, %error, "upload refused");
                    self.outputs.push_back(Output::Uploaded { upload, result: Err(error) });
                }
            }
        }
    }

    /// Proposes every ready upload's version; one that finds no leader waits for the next
    /// input (its deadline is `proposal_timeout` after it became ready).
    fn propose_uploads(&mut self) {
        for (upload, command) in self.uploads.ready() {
            if self.pending.len() >= self.config.proposals_pending_max {
                return;
            }
            let proposal = Proposal {
                origin: self.config.id,
                incarnation: self.incarnation,
                request: upload,
                command,
            };
            if self.consensus.propose(proposal.encode()).is_ok() {
                self.uploads.proposed(upload);
                let deadline = self.now.saturating_add(self.config.proposal_timeout);
                self.pending.insert(upload, deadline, self.consensus.term());
            }
        }
    }
}
