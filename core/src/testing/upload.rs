//! Writing files in the harness through the upload machine (DESIGN §2 "write"), as the runtime
//! does: open an upload on a node, report its chunks, seal it; the node places the copies, the
//! harness runs the store jobs against its chunk stores, and the node commits once the quorum
//! is met. No bytes: a chunk is its id and length.

use std::collections::{BTreeMap, BTreeSet};

use crate::command::{ChunkRef, Command, Content, Precondition};
use crate::error::CommandError;
use crate::ids::{ChunkId, Hash, NodeId, RequestId, UnixMillis, UserName};
use crate::input::{Input, JobFault, JobReport};
use crate::path::Path;
use crate::write::{UploadStart, UploadStep, Written};

use super::Cluster;

impl Cluster {
    /// Writes a new version of `path` made of `chunks` through node `via`'s upload machine;
    /// copies land on any up target. Returns the upload's number; its answer appears in
    /// [`Cluster::reply`] (as a plain reply) and [`Cluster::uploaded`].
    pub fn upload(&mut self, via: NodeId, path: &str, chunks: &[(ChunkId, u32)]) -> RequestId {
        self.write_file(via, path, chunks, &self.ids())
    }

    /// As [`Cluster::upload`], but only hosts in `on` accept copies (a store on any other
    /// target fails as unreachable): a write whose placement misses `on` is short of copies.
    pub fn write_file(
        &mut self,
        via: NodeId,
        path: &str,
        chunks: &[(ChunkId, u32)],
        on: &[NodeId],
    ) -> RequestId {
        let upload = RequestId(self.next_request);
        self.next_request += 1;
        self.accepting.insert((via, upload), on.iter().copied().collect::<BTreeSet<_>>());
        let start = UploadStart {
            path: Path::parse(path).expect("harness paths are valid"),
            precondition: Precondition::None,
            idempotency_key: None,
            author: UserName("test".into()),
        };
        self.upload_step(via, upload, UploadStep::Start(start));
        for &(id, len_bytes) in chunks {
            self.chunk_lens.insert(id, len_bytes);
            self.upload_step(via, upload, UploadStep::Chunk(ChunkRef { id, len_bytes }));
        }
        let size_bytes = chunks.iter().map(|(_, len)| u64::from(*len)).sum();
        let sealed = UploadStep::Sealed {
            size_bytes,
            hash: Hash::of(path.as_bytes()),
            created_at: UnixMillis(0),
            meta: None,
        };
        self.upload_step(via, upload, sealed);
        upload
    }

    /// Stores `chunks` through node `via`'s upload machine as part `number` of the S3
    /// multipart upload `id` at `path` (its MD5 derived from the number); the answer appears in
    /// [`Cluster::uploaded`].
    pub fn upload_part(
        &mut self,
        via: NodeId,
        path: &str,
        id: crate::s3::multipart::UploadId,
        number: u32,
        chunks: &[(ChunkId, u32)],
    ) -> RequestId {
        let upload = RequestId(self.next_request);
        self.next_request += 1;
        self.accepting.insert((via, upload), self.ids().into_iter().collect::<BTreeSet<_>>());
        let start = UploadStart {
            path: Path::parse(path).expect("harness paths are valid"),
            precondition: Precondition::None,
            idempotency_key: None,
            author: UserName("test".into()),
        };
        self.upload_step(via, upload, UploadStep::Start(start));
        for &(id, len_bytes) in chunks {
            self.chunk_lens.insert(id, len_bytes);
            self.upload_step(via, upload, UploadStep::Chunk(ChunkRef { id, len_bytes }));
        }
        let part = crate::write::PartSeal {
            upload: id,
            number,
            size_bytes: chunks.iter().map(|(_, len)| u64::from(*len)).sum(),
            hash: Hash::of(&number.to_le_bytes()),
            md5: [u8::try_from(number % 256).unwrap_or(0); 16],
            uploaded_at: UnixMillis(0),
        };
        self.upload_step(via, upload, UploadStep::SealedPart(Box::new(part)));
        upload
    }

    /// Lays a file out exactly: stores `chunks` on the up hosts among `on` and asks node `via`
    /// to commit a version of `path` recording those copies, bypassing the upload machine (for
    /// repair tests that need a precise starting layout; writes go through
    /// [`Cluster::write_file`]).
    pub fn place_file(
        &mut self,
        via: NodeId,
        path: &str,
        chunks: &[(ChunkId, u32)],
        on: &[NodeId],
    ) -> RequestId {
        let mut replicas = BTreeMap::new();
        for &node in on {
            if self.node(node).is_none() {
                continue;
            }
            for &(chunk, len) in chunks {
                self.stores.entry(node).or_default().store(chunk, len, self.now);
                replicas.entry(chunk).or_insert_with(BTreeSet::new).insert(node);
            }
            self.report_usage(node);
        }
        let refs: Vec<ChunkRef> =
            chunks.iter().map(|&(id, len_bytes)| ChunkRef { id, len_bytes }).collect();
        let size_bytes = chunks.iter().map(|(_, len)| u64::from(*len)).sum();
        let command = Command::PutVersion {
            path: Path::parse(path).expect("harness paths are valid"),
            precondition: Precondition::None,
            content: Content { chunks: refs, size_bytes, hash: Hash::of(path.as_bytes()) },
            author: UserName("test".into()),
            created_at: UnixMillis(0),
            replicas,
            idempotency_key: None,
        };
        self.submit(via, command)
    }

    /// Delivers one upload step to node `via`, recorded in the trace.
    pub fn upload_step(&mut self, via: NodeId, upload: RequestId, step: UploadStep) {
        let line = match &step {
            UploadStep::Start(start) => format!("<- upload {upload} start {}", start.path),
            UploadStep::Chunk(c) => {
                format!("<- upload {upload} chunk {} len={}", c.id, c.len_bytes)
            }
            UploadStep::Reused(c) => format!("<- upload {upload} reuse {}", c.id),
            UploadStep::Sealed { size_bytes, .. } => {
                format!("<- upload {upload} sealed len={size_bytes}")
            }
            UploadStep::SealedPart(part) => format!(
                "<- upload {upload} sealed part {} #{} len={}",
                part.upload, part.number, part.size_bytes
            ),
            UploadStep::Abort => format!("<- upload {upload} abort"),
        };
        self.trace.record(self.now, via, &line);
        self.deliver(via, Input::Upload { upload, step });
    }

    /// Tells the harness the length of `chunk` (what its store jobs write).
    pub fn set_chunk_len(&mut self, chunk: ChunkId, len_bytes: u32) {
        self.chunk_lens.insert(chunk, len_bytes);
    }

    /// The answer to upload `upload` on node `via`, once there is one.
    pub fn uploaded(
        &self,
        via: NodeId,
        upload: RequestId,
    ) -> Option<&Result<Written, CommandError>> {
        self.uploaded.get(&(via, upload))
    }

    /// Runs a store job of `owner`'s `upload`: lands when the target is up, reachable from the
    /// owner and accepting this upload's copies.
    pub(super) fn run_store(
        &mut self,
        owner: NodeId,
        upload: RequestId,
        chunk: ChunkId,
        to: NodeId,
    ) -> Result<JobReport, JobFault> {
        let up = self.node(to).is_some();
        let reachable = to == owner || !self.net.is_cut(owner, to);
        let accepts = self.accepting.get(&(owner, upload)).is_none_or(|a| a.contains(&to));
        let Some(&len) = self.chunk_lens.get(&chunk) else {
            return Err(JobFault::SourceUnavailable);
        };
        if !(up && reachable && accepts) {
            return Err(JobFault::TargetUnavailable);
        }
        self.stores.entry(to).or_default().store(chunk, len, self.now);
        Ok(JobReport::ChunkStored { chunk, on: to })
    }
}
