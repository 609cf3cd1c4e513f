// dfs dashboard: polls /nodes and /replication-queue, follows /events, browses /list.
// Plain JavaScript, no framework, no build step. Every piece of data reaches the page through
// textContent or setAttribute (never innerHTML), so file names and error messages cannot inject
// markup. Every fetch has a timeout, so a dead node shows a banner instead of a frozen page.
"use strict";

(() => {
  const POLL_MS = 1000;
  const FETCH_TIMEOUT_MS = 2500;
  const EXPLAIN_TIMEOUT_MS = 10000;
  const FILES_POLL_MS = 5000;
  const SOON_MS = 200;
  const EVENTS_MAX = 200;
  const EVENTS_RETRY_MS = 5000;
  const QUEUE_SHOWN = 50;

  const $ = (id) => document.getElementById(id);

  // ---- token ---------------------------------------------------------------------------------
  // The API needs a bearer token. Open the page as /#token=NAME.SECRET (dfs dev-cluster prints
  // that link): the token moves into this tab's sessionStorage and out of the address bar. The
  // event stream and download links cannot send headers, so they carry ?access_token=.
  const TOKEN_KEY = "dfs-token";
  (() => {
    const match = /^#token=([^&]+)/.exec(location.hash);
    if (!match) return;
    sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(match[1]));
    history.replaceState(null, "", location.pathname + location.search + "#/");
  })();
  const token = () => sessionStorage.getItem(TOKEN_KEY) || "";
  const authHeaders = () => (token() ? { Authorization: "Bearer " + token() } : {});
  const withToken = (url) =>
    token() ? url + (url.includes("?") ? "&" : "?") + "access_token=" + encodeURIComponent(token()) : url;
  const state = {
    folder: "/",
    nodesSeq: 0,
    nodesRendered: 0,
    lastOkAt: null,
    soonTimer: null,
    filesSoon: false,
    seen: new Set(),
    seenOrder: [],
    members: [],
  };

  // ---- helpers -------------------------------------------------------------------------------

  /** An element with attributes/properties and children (strings become text nodes). */
  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === undefined || value === null) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = String(value);
      else if (key === "onclick") node.addEventListener("click", value);
      else node.setAttribute(key, String(value));
    }
    for (const child of children) if (child !== null && child !== undefined) node.append(child);
    return node;
  }

  /** A failed request: HTTP status (0 when there was no answer), error code and message. */
  class RequestError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  /** GET `url` as JSON within `timeoutMs`; throws RequestError. */
  async function fetchJson(url, timeoutMs = FETCH_TIMEOUT_MS) {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), timeoutMs);
    try {
      const response = await fetch(url, { signal: abort.signal, cache: "no-store", headers: authHeaders() });
      const body = await response.json().catch(() => null);
      if (response.status === 401) {
        const message = "this page needs a token: open it as /#token=NAME.SECRET (dfs dev-cluster prints the link)";
        throw new RequestError(401, "unauthenticated", message);
      }
      if (!response.ok) {
        const error = body && body.error;
        const code = error ? error.code : response.status === 404 ? "no_endpoint" : "http_" + response.status;
        throw new RequestError(response.status, code, error ? error.message : response.statusText || code);
      }
      return body;
    } catch (e) {
      if (e instanceof RequestError) throw e;
      if (e.name === "AbortError") throw new RequestError(0, "timeout", `no answer within ${timeoutMs / 1000} s`);
      throw new RequestError(0, "unreachable", "no answer (" + (e.message || e) + ")");
    } finally {
      clearTimeout(timer);
    }
  }

  const node = (id) => (id === null || id === undefined ? "?" : "n" + id);
  const short = (hash) => (hash ? String(hash).slice(0, 12) : "—");
  const clock = (date) => date.toLocaleTimeString([], { hour12: false });

  function bytes(n) {
    if (n === null || n === undefined) return "—";
    const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let value = n;
    let unit = 0;
    while (value >= 1024 && unit < units.length - 1) {
      value /= 1024;
      unit += 1;
    }
    return (unit === 0 ? value : value.toFixed(1)) + " " + units[unit];
  }

  function age(ms) {
    if (ms === null || ms === undefined) return "—";
    if (ms < 60000) return (ms / 1000).toFixed(1) + " s ago";
    if (ms < 3600000) return Math.floor(ms / 60000) + " min ago";
    return (ms / 3600000).toFixed(1) + " h ago";
  }

  /** `/a/b c` as URL path segments `a/b%20c` (no leading slash). */
  const encodePath = (path) => path.split("/").filter(Boolean).map(encodeURIComponent).join("/");
  const baseName = (path) => path.split("/").filter(Boolean).pop() || "/";
  const emptyRow = (columns, text) => el("tr", {}, el("td", { class: "empty", colspan: columns, text }));

  // ---- nodes and the header ------------------------------------------------------------------

  async function pollNodes() {
    const seq = ++state.nodesSeq;
    try {
      const view = await fetchJson("/nodes");
      if (seq < state.nodesRendered) return; // an older answer overtaken by a newer one
      state.nodesRendered = seq;
      renderNodes(view);
      reachable(view);
    } catch (e) {
      unreachable(e);
    }
  }

  function renderNodes(view) {
    const leader = $("leader");
    leader.textContent = view.leader === null || view.leader === undefined ? "none" : node(view.leader);
    leader.dataset.leader = view.leader ?? "";
    $("term").textContent = view.term ?? "—";
    $("this-node").textContent = node(view.node);
    $("this-node").dataset.node = view.node ?? "";
    const members = view.nodes || [];
    state.members = members;
    const counts = {};
    for (const m of members) counts[m.health] = (counts[m.health] || 0) + 1;
    $("member-summary").textContent =
      ["up", "suspect", "down", "lost"].filter((h) => counts[h]).map((h) => `${counts[h]} ${h}`).join(" · ") || "none";
    const total = view.cluster || {};
    $("cluster-capacity").textContent =
      total.capacity_bytes > 0
        ? `${bytes(total.capacity_bytes - total.free_bytes)} used · ${bytes(total.free_bytes)} free of ${bytes(total.capacity_bytes)}`
        : "not reported yet";
    const rows = members.map((m) => nodeRow(m, view.node));
    $("nodes-body").replaceChildren(...(rows.length ? rows : [emptyRow(9, "no members")]));
  }

  function nodeRow(m, me) {
    const health = m.health || "unknown";
    // The bar is the fraction of the node's own disk in use (by anything), not relative to others.
    const known = m.capacity_bytes > 0 && m.free_bytes !== null && m.free_bytes !== undefined;
    const pct = known ? (100 * (m.capacity_bytes - m.free_bytes)) / m.capacity_bytes : 0;
    const fill = el("span");
    fill.style.width = pct.toFixed(1) + "%";
    const barTitle = known
      ? `${pct.toFixed(0)}% of the disk used; ${bytes(m.free_bytes)} free of ${bytes(m.capacity_bytes)}`
      : "disk size not reported yet";
    const amount = known
      ? `${bytes(m.used_bytes)} · ${bytes(m.free_bytes)} free of ${bytes(m.capacity_bytes)}`
      : bytes(m.used_bytes);
    return el(
      "tr",
      { "data-node-id": m.id, "data-health": health, "data-state": m.state, "data-leader": m.leader ? "true" : "false" },
      el(
        "td",
        {},
        el("strong", { text: node(m.id) }),
        m.leader ? el("span", { class: "badge", text: "leader", title: "raft leader" }) : null,
        m.id === me ? el("span", { class: "badge me", text: "this node" }) : null,
      ),
      el("td", { text: m.role }),
      el("td", { class: "state-" + m.state, text: m.state }),
      el("td", {}, el("span", { class: "health " + health, text: health })),
      el("td", { text: age(m.last_heartbeat_ms) }),
      el(
        "td",
        {},
        el(
          "div",
          { class: "usage" },
          el("div", { class: "bar", title: barTitle, "data-used-percent": known ? pct.toFixed(1) : "" }, fill),
          el("span", { class: "amount", text: amount, title: `${m.used_bytes ?? "?"} bytes of chunks` }),
        ),
      ),
      el("td", { class: "num", text: m.chunk_count ?? "—" }),
      el("td", { class: "num", text: m.chunks_indexed ?? "—" }),
      el("td", {}, explainButton("node", m.id)),
    );
  }

  function reachable(view) {
    state.lastOkAt = new Date();
    const banner = $("banner");
    const leaderless = view.leader === null || view.leader === undefined;
    banner.hidden = !leaderless;
    banner.dataset.kind = leaderless ? "no-leader" : "";
    banner.textContent = leaderless
      ? `${node(view.node)} knows no leader: health and usage below are as last committed and may be stale.`
      : "";
    document.querySelector("main").classList.remove("stale");
    const live = $("live");
    live.dataset.state = "live";
    live.textContent = "live · " + clock(state.lastOkAt);
  }

  function unreachable(error) {
    const banner = $("banner");
    const since = state.lastOkAt ? `; showing what it said at ${clock(state.lastOkAt)}` : "";
    banner.textContent = `Node unreachable: ${error.message}${since}. Retrying every second.`;
    banner.dataset.kind = "unreachable";
    banner.hidden = false;
    document.querySelector("main").classList.add("stale");
    $("live").dataset.state = "unreachable";
    $("live").textContent = "unreachable";
  }

  // ---- replication queue ---------------------------------------------------------------------

  async function pollQueue() {
    try {
      renderQueue(await fetchJson(`/replication-queue?limit=${QUEUE_SHOWN}`));
    } catch (e) {
      const summary = $("queue-summary");
      summary.textContent = e.code === "no_endpoint" ? "Not available on this node." : `Not available: ${e.message}`;
      summary.dataset.total = "";
      $("queue-body").replaceChildren();
    }
  }

  /** The first file a chunk belongs to, and how many more. */
  function paths(list) {
    if (!list || !list.length) return "—";
    return list.length === 1 ? list[0] : `${list[0]} +${list.length - 1}`;
  }

  /** The last error, else what blocks the entry (leaders that report it), else nothing. */
  function waitingCell(e) {
    if (e.last_error) return el("td", { class: "error-text", text: e.last_error, title: e.last_error });
    const why = e.blocked_reason || (e.blocked ? String(e.blocked).replace(/_/g, " ") : "");
    return el("td", { class: "blocked-text", text: why, title: why || null, "data-blocked": e.blocked || null });
  }

  function renderQueue(q) {
    const summary = $("queue-summary");
    // An empty queue while a member is not up means "waiting", not "converged": the leader
    // re-replicates a down member's copies only once it has been down for reassign_after.
    const missing = state.members.filter((m) => m.health && m.health !== "up");
    const waiting = missing
      .map((m) => `${node(m.id)} ${m.health} (${m.chunks_indexed ?? "?"} copies)`)
      .join(", ");
    const pending = q.total
      ? `${q.total} chunk cop${q.total === 1 ? "y" : "ies"} queued (${bytes(q.bytes_pending)} to copy)`
      : missing.length
        ? `Nothing queued yet: ${waiting}; its copies are re-replicated once it has been down for reassign_after.`
        : "Nothing queued: every chunk has its replicas.";
    summary.dataset.waitingOn = missing.map((m) => m.id).join(",");
    summary.textContent = `${pending} · ${q.done_total ?? 0} done since ${node(q.leader)} became leader, ${q.failed_recent ?? 0} failed in the last 10 min`;
    summary.dataset.total = q.total ?? "";
    const entries = (q.entries || []).slice(0, QUEUE_SHOWN);
    const rows = entries.map((e) =>
      el(
        "tr",
        { "data-chunk": e.chunk, "data-state": e.state },
        el("td", { class: "mono nowrap", text: short(e.chunk), title: `${e.chunk} (${bytes(e.len_bytes)})` }),
        el("td", { class: "paths", text: paths(e.paths), title: (e.paths || []).join("\n") || null }),
        el("td", { text: e.kind }),
        el("td", { class: "nowrap", text: `${node(e.source)} → ${node(e.target)}` }),
        el("td", { class: "nowrap qstate-" + e.state, text: String(e.state).replace(/_/g, " ") }),
        el("td", { class: "num", text: e.attempts }),
        waitingCell(e),
      ),
    );
    if (q.total > entries.length) rows.push(emptyRow(7, `… and ${q.total - entries.length} more`));
    $("queue-body").replaceChildren(...rows);
  }

  // ---- events --------------------------------------------------------------------------------

  function connectEvents() {
    // The last 50 events the node holds first, then live (reconnects resume by Last-Event-ID).
    const source = new EventSource(withToken("/events?recent=50"));
    source.onopen = () => eventsStatus("live", "live");
    source.onmessage = (message) => {
      let event;
      try {
        event = JSON.parse(message.data);
      } catch {
        return;
      }
      addEvent(event);
      refreshSoon(/^(file|folder)_|^reset$/.test(event.kind || ""));
    };
    source.onerror = () => {
      if (source.readyState !== EventSource.CLOSED) {
        eventsStatus("reconnecting", "reconnecting…");
        return;
      }
      // The browser gives up for good on an answer that is not a stream (a 404 before this
      // node had /events): find out why, say so, and try again later.
      source.close();
      probeEvents().then((why) => {
        eventsStatus("unavailable", why);
        setTimeout(connectEvents, EVENTS_RETRY_MS);
      });
    };
  }

  async function probeEvents() {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), FETCH_TIMEOUT_MS);
    try {
      const response = await fetch("/events", { signal: abort.signal, cache: "no-store", headers: authHeaders() });
      abort.abort();
      return response.status === 404 ? "not available on this node" : `unavailable (HTTP ${response.status})`;
    } catch {
      return "unavailable (node unreachable)";
    } finally {
      clearTimeout(timer);
    }
  }

  function eventsStatus(key, text) {
    const status = $("events-status");
    status.dataset.state = key;
    status.textContent = text;
    if (key === "unavailable" && !$("events").children.length) {
      $("events").replaceChildren(el("li", { class: "muted", "data-placeholder": "true", text: "Event stream " + text + "." }));
    }
  }

  function addEvent(event) {
    // Committed events have an id (their raft index); the others are told apart by content.
    const key = event.id !== undefined && event.id !== null ? String(event.id) : JSON.stringify(event);
    if (state.seen.has(key)) return; // replayed after a reconnect
    state.seen.add(key);
    state.seenOrder.push(key);
    if (state.seenOrder.length > 4 * EVENTS_MAX) state.seen.delete(state.seenOrder.shift());
    const list = $("events");
    list.querySelectorAll("[data-placeholder]").forEach((p) => p.remove());
    const at = event.at_ms ? new Date(event.at_ms) : new Date();
    list.prepend(
      el(
        "li",
        { "data-kind": event.kind, "data-event-id": key, "data-node": event.node },
        el("time", { datetime: at.toISOString(), title: at.toISOString(), text: clock(at) }),
        el("span", { class: "kind", text: (event.kind || "event").replace(/_/g, " ") }),
        el("span", { class: "what", text: describeEvent(event) }),
      ),
    );
    while (list.children.length > EVENTS_MAX) list.lastElementChild.remove();
  }

  /** One line a person can read, from the kind and whichever fields the event has. */
  function describeEvent(e) {
    const v = e.version !== undefined && e.version !== null ? ` v${e.version}` : "";
    const size = e.size_bytes !== undefined && e.size_bytes !== null ? ` (${bytes(e.size_bytes)})` : "";
    switch (e.kind) {
      case "file_added": return `${e.path}${v} written${size}`;
      case "file_changed": return `${e.path} has a new version${v}${size}`;
      case "file_removed": return `${e.path} deleted`;
      case "folder_added": return `folder ${e.path} created`;
      case "folder_removed": return `folder ${e.path} removed`;
      case "node_up": return `${node(e.node)} is up`;
      case "node_suspect": return `${node(e.node)} is suspect: silent, gets no new chunks`;
      case "node_down": return `${node(e.node)} is down`;
      case "node_lost": return `${node(e.node)} is lost: its copies are being replaced`;
      case "node_joined": return `${node(e.node)} joined${e.role ? " as " + e.role : ""}`;
      case "node_removed": return `${node(e.node)} was removed`;
      case "node_address": return `${node(e.node)} listens at ${e.http}`;
      case "node_state": return `${node(e.node)} is now ${e.state ?? "changed"}`;
      case "repair_started": return `copying chunk ${short(e.chunk)} ${node(e.from)} → ${node(e.to)}`;
      case "repair_finished": return `chunk ${short(e.chunk)} has a new copy on ${node(e.node ?? e.to)}`;
      case "copy_dropped": return `chunk ${short(e.chunk)}: the copy on ${node(e.node)} is no longer needed`;
      case "checkpoint_created": return `checkpoint ${e.name ?? "?"} of ${e.path}${v}`;
      case "acl_changed":
        return e.access === "none"
          ? `${e.user ?? "?"} lost their grant on ${e.path}`
          : `${e.user ?? "?"} now has ${e.access ?? "changed"} access to ${e.path}`;
      case "leader_changed": return `${node(e.leader)} leads term ${e.term ?? "?"}`;
      case "reset": return e.reason || "events were missed; the page lists everything again";
      default: {
        const skip = new Set(["id", "kind", "index", "at_ms"]);
        return Object.entries(e).filter(([k]) => !skip.has(k)).map(([k, x]) => `${k}=${JSON.stringify(x)}`).join(" ");
      }
    }
  }

  /** Refresh the nodes (and the files, for namespace events) shortly after an event. */
  function refreshSoon(files) {
    state.filesSoon = state.filesSoon || files;
    if (state.soonTimer) return;
    state.soonTimer = setTimeout(() => {
      state.soonTimer = null;
      pollNodes();
      pollQueue();
      if (state.filesSoon) refreshFiles();
      state.filesSoon = false;
    }, SOON_MS);
  }

  // ---- file browser --------------------------------------------------------------------------

  function folderFromHash() {
    let folder;
    try {
      folder = decodeURIComponent(location.hash.slice(1));
    } catch {
      folder = "/";
    }
    folder = "/" + folder.split("/").filter(Boolean).join("/");
    return folder;
  }

  const folderHref = (path) => "#/" + encodePath(path);

  async function refreshFiles() {
    const folder = state.folder;
    const url = folder === "/" ? "/list" : "/list/" + encodePath(folder);
    try {
      const view = await fetchJson(url);
      if (folder !== state.folder) return; // navigated away meanwhile
      renderFiles(folder, view.entries || []);
      $("files-status").textContent = "";
    } catch (e) {
      if (folder !== state.folder) return;
      $("files-status").textContent =
        e.code === "not_found" ? `${folder} does not exist.` : `Could not list ${folder}: ${e.message}`;
    }
  }

  function renderCrumbs(folder) {
    const parts = folder.split("/").filter(Boolean);
    const crumbs = [el("a", { href: "#/", text: "root" })];
    parts.forEach((part, i) => {
      const path = "/" + parts.slice(0, i + 1).join("/");
      crumbs.push(i === parts.length - 1 ? el("span", { text: part }) : el("a", { href: folderHref(path), text: part }));
    });
    $("crumbs").replaceChildren(...crumbs);
  }

  function renderFiles(folder, entries) {
    $("files").dataset.folder = folder;
    renderCrumbs(folder);
    const sorted = [...entries].sort((a, b) =>
      a.kind === b.kind ? a.path.localeCompare(b.path) : a.kind === "folder" ? -1 : 1,
    );
    const rows = sorted.map((entry) => (entry.kind === "folder" ? folderRow(entry) : fileRow(entry)));
    if (folder !== "/") {
      const parent = "/" + folder.split("/").filter(Boolean).slice(0, -1).join("/");
      rows.unshift(el("tr", { "data-kind": "parent" }, el("td", { colspan: 5 }, el("a", { href: folderHref(parent), text: "↑ .." }))));
    }
    if (!entries.length) rows.push(emptyRow(5, "empty folder"));
    $("files-body").replaceChildren(...rows);
  }

  function folderRow(entry) {
    return el(
      "tr",
      { "data-path": entry.path, "data-kind": "folder" },
      el("td", { class: "name folder" }, el("a", { href: folderHref(entry.path), text: baseName(entry.path) + "/" })),
      el("td", { class: "num", text: "" }),
      el("td", { class: "num", text: "" }),
      el("td", { text: "" }),
      el("td", { text: "" }),
    );
  }

  function fileRow(entry) {
    const href = withToken("/files/" + encodePath(entry.path));
    return el(
      "tr",
      { "data-path": entry.path, "data-kind": "file", "data-version": entry.version },
      el(
        "td",
        { class: "name" },
        el("a", { href, download: baseName(entry.path), text: baseName(entry.path), title: `download ${entry.path}` }),
      ),
      el("td", { class: "num", text: bytes(entry.size_bytes), title: `${entry.size_bytes ?? "?"} bytes` }),
      el("td", { class: "num", text: entry.version === null || entry.version === undefined ? "—" : "v" + entry.version }),
      el("td", { class: "mono", text: short(entry.hash), title: entry.hash || null }),
      el(
        "td",
        {},
        el("a", { href, download: baseName(entry.path), "data-download": entry.path, text: "download" }),
        el("span", { class: "explain-sep", text: " · " }),
        explainButton("file", entry.path),
      ),
    );
  }

  // ---- explain -------------------------------------------------------------------------------

  function explainButton(kind, target) {
    return el("button", {
      class: "link",
      type: "button",
      text: "why?",
      title: "is it converged, and if not why not",
      "data-explain": kind,
      onclick: () => explain(kind, target),
    });
  }

  /** Hides the "why?" buttons when this node has no /explain endpoints (an older binary). */
  async function probeExplain() {
    try {
      await fetchJson("/explain/node/0", EXPLAIN_TIMEOUT_MS);
    } catch (e) {
      if (e.code === "no_endpoint" || e.code === "unknown_route") document.body.dataset.explain = "off";
    }
  }

  async function explain(kind, target) {
    const url = kind === "node" ? `/explain/node/${encodeURIComponent(target)}` : "/explain/file/" + encodePath(target);
    const dialog = $("explain");
    $("explain-title").textContent = kind === "node" ? `Node ${node(target)}` : `File ${target}`;
    $("explain-summary").textContent = "Asking…";
    $("explain-json").textContent = "";
    if (!dialog.open) dialog.showModal();
    try {
      const answer = await fetchJson(url, EXPLAIN_TIMEOUT_MS);
      $("explain-summary").textContent = (answer.converged ? "Converged. " : "Not converged. ") + (answer.summary || "");
      $("explain-json").textContent = JSON.stringify(answer, null, 2);
    } catch (e) {
      $("explain-summary").textContent =
        e.code === "no_endpoint" || e.code === "unknown_route"
          ? "Explanations are not available on this node."
          : `Could not explain: ${e.message}`;
    }
  }

  // ---- start ---------------------------------------------------------------------------------

  function pollLoop() {
    Promise.allSettled([pollNodes(), pollQueue()]).then(() => setTimeout(pollLoop, POLL_MS));
  }

  function start() {
    state.folder = folderFromHash();
    window.addEventListener("hashchange", () => {
      state.folder = folderFromHash();
      refreshFiles();
    });
    pollLoop();
    refreshFiles();
    setInterval(refreshFiles, FILES_POLL_MS);
    connectEvents();
    probeExplain();
  }

  start();
})();
