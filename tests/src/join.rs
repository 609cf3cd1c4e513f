//! Nodes that join a running test cluster by address (issue 23): configured with nothing but
//! their own ports, the cluster secret and seeds, never listed in any other member's config.

use crate::{TestCluster, TestNode};

impl TestCluster {
    /// Starts a new node (the next id) that joins through the HTTP addresses of `seeds`, with
    /// no peers in its config and none of the others' configs changed; waits until it listens.
    /// With no seeds it waits for an operator's `dfs node add ID --addr` instead (its config
    /// names the founding voters, so it founds nothing). Returns its id.
    pub async fn start_joiner(&mut self, seeds: &[u64]) -> u64 {
        let id = self.nodes.len() as u64 + 1;
        let template = &self.node(1).config;
        let data_dir = template.data_dir.with_file_name(format!("n{id}"));
        std::fs::create_dir_all(&data_dir).expect("data dir");
        let addrs = crate::free_addrs(2);
        let mut config = template.clone();
        config.id = id;
        config.peer_listen = addrs[0];
        config.http_listen = addrs[1];
        config.data_dir = data_dir;
        config.peers = Vec::new();
        config.initial_voters = if seeds.is_empty() { (1..id).collect() } else { Vec::new() };
        config.seeds = seeds.iter().map(|&s| self.node(s).config.http_listen).collect();
        if let Some(s3) = &mut config.s3 {
            s3.listen = ([127, 0, 0, 1], 0).into();
        }
        std::fs::write(config.data_dir.join("node.toml"), config.to_toml()).expect("config");
        self.nodes.push(TestNode { config, child: None, env: Vec::new() });
        self.spawn(id);
        if !self.listening(id).await {
            let log = std::fs::read_to_string(self.node(id).log()).unwrap_or_default();
            panic!("joiner n{id} did not start listening:\n{log}");
        }
        id
    }
}

impl TestNode {
    /// The process id of the running node, if it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(std::process::Child::id)
    }
}
